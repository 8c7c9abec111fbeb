"""Widgets shared by the step views (one widget per module)."""
