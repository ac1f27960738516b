"""The app's screens, one module per use case; `base.Screen` is what the shell shows."""
