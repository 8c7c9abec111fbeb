"""Real Screens (modals): confirm, file picker, help."""
