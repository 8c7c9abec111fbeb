"""Models: resolve a name to local weights (resolve.py) and generate answers (generation.py)."""
