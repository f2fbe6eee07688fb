"""Adapters that turn captures into the canonical capture (capture.h5 + frames.h5)."""
