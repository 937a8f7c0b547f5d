"""Helpers of the `file` module: path inspection, atomic writes, owners, diffs."""
