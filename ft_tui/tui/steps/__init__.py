"""One view per wizard step, each loaded on its first visit."""
