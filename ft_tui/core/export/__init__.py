"""Export a run: adapter, merged model, config, standalone script, GGUF."""
