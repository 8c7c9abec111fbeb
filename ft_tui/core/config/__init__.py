"""Settings of a run: the typed RunConfig (settings.py) and its presets (presets.py)."""
