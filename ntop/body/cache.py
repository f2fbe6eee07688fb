"""Generated body models cached as ``.npz`` files, built once and written atomically."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["cached_model"]


def cached_model(name: str, build: Callable[[], dict[str, np.ndarray]], cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of ``<cache>/<name>.npz``, calling ``build`` once if the cache lacks it (concurrent
    builders each write a private file and rename it, so a reader never sees half a model).

    ``cache_dir`` defaults to ``$NTOP_CACHE`` or ``~/.cache/ntop``.
    """
    root = Path(cache_dir or os.environ.get("NTOP_CACHE") or Path.home() / ".cache" / "ntop")
    path = root / f"{name}.npz"
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, **build())
        os.replace(tmp, path)
    return path
