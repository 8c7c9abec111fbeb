"""The run directory, the single source of truth: layout, events, artifacts."""
