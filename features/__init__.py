"""Pure, deterministic features and the canonical return-case schema (no I/O, no models)."""
