"""Partout: policy-based, event-driven configuration management."""

__version__ = "0.1.0"
