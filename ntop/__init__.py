"""ntop: top-view fisheye human-pose datasets from existing captures."""

__version__ = "0.1.0"
