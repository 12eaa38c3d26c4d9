"""training/simulation package."""
