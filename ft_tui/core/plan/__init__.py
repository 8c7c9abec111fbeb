"""Plan a run on this machine: hardware probe, model profile, memory estimate, recommendation."""
