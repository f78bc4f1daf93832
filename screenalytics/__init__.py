"""Screenalytics: per-person screen time (visual, speaking, overlap) for TV episodes."""

__version__ = "0.1.0"
