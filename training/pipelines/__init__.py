"""Training pipelines: pure steps per model family, wired by `runner`."""
