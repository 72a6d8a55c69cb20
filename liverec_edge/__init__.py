"""liverec-edge: a camera-aware automatic sound engineer for live-stream studios."""

__version__ = "0.1.0"
