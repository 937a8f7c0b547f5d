"""One module per directive; `registry` finds them by name without importing them all."""
