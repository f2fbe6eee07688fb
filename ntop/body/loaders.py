"""Read body-model files: official SMPL ``.pkl`` (chumpy inside, loaded without chumpy) and ``.npz``.

The official pickles were written by Python 2 with chumpy arrays and scipy.sparse matrices in them.
Rather than installing chumpy (unmaintained, needs old numpy), the unpickler below swaps those
classes for small stand-ins that keep only the pickled state, then turns them into numpy arrays.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ntop.errors import NtopError

__all__ = ["REQUIRED_KEYS", "load_model_file"]

REQUIRED_KEYS = ("v_template", "f", "weights", "J_regressor", "kintree_table", "shapedirs", "posedirs")


class _PickledState:
    """Stand-in for a class we refuse to import: remembers the state it was pickled with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        self._state = state


class _ChumpyStandIn(_PickledState):
    pass


class _SparseStandIn(_PickledState):
    pass


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return type(name, (_ChumpyStandIn,), {})
        if module.startswith("scipy.sparse"):
            return type(name, (_SparseStandIn,), {"_format": name[:3]})
        if module == "numpy.core" or module.startswith("numpy.core."):  # numpy 2 renamed it
            module = "numpy._core" + module[len("numpy.core") :]
        return super().find_class(module, name)


def _state_dict(obj: _PickledState) -> dict[str, Any]:
    state = getattr(obj, "_state", None)
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
        state = {**(state[0] or {}), **state[1]}  # (dict, slots) form
    return state if isinstance(state, dict) else {}


def _to_array(value: Any, path: Path, key: str) -> Any:
    if isinstance(value, _ChumpyStandIn):
        state = _state_dict(value)
        if "x" not in state:
            raise NtopError("chumpy object without a stored value 'x' (a derived expression?)", path, key)
        return np.asarray(state["x"])
    if isinstance(value, _SparseStandIn):
        state = _state_dict(value)
        try:
            data, indices, indptr = (np.asarray(state[k]) for k in ("data", "indices", "indptr"))
            shape = tuple(state.get("_shape", state.get("shape")))
        except (KeyError, TypeError):
            raise NtopError("unreadable sparse matrix", path, key) from None
        dense = np.zeros(shape, dtype=data.dtype)
        major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        if type(value)._format == "csc":
            dense[indices, major] = data
        elif type(value)._format == "csr":
            dense[major, indices] = data
        else:
            raise NtopError(f"unsupported sparse format {type(value).__name__}", path, key)
        return dense
    return value


def load_model_file(path: str | Path) -> dict[str, Any]:
    """Arrays of a body-model file (``.pkl`` or ``.npz``); raises :class:`NtopError` naming a missing key."""
    path = Path(path)
    if not path.is_file():
        raise NtopError("body model file not found", path)
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                data: dict[str, Any] = {k: z[k] for k in z.files}
        elif path.suffix == ".pkl":
            with path.open("rb") as fh:
                raw = _Unpickler(fh, encoding="latin1").load()
            if not isinstance(raw, dict):
                raise NtopError(f"expected a dict of arrays, found {type(raw).__name__}", path)
            data = {str(k): _to_array(v, path, str(k)) for k, v in raw.items()}
        else:
            raise NtopError("body model must be a .pkl (official SMPL) or .npz file", path)
    except (pickle.UnpicklingError, EOFError, ValueError, OSError, zipfile.BadZipFile, AttributeError, ImportError) as e:
        raise NtopError(f"cannot read body model ({type(e).__name__}: {e})", path) from None
    for key in REQUIRED_KEYS:
        if key not in data:
            raise NtopError("missing from the body model (is this an SMPL model file?)", path, key)
    _check_shapes(data, path)
    return data


def _check_shapes(data: dict[str, Any], path: Path) -> None:
    """SMPL's array shapes, so that an SMPL+H/SMPL-X file or a damaged one fails here, not mid-stage."""
    joints = np.shape(data["kintree_table"])[-1]
    if joints != 24:
        raise NtopError(
            f"{joints} joints, SMPL has 24 (SMPL+H has 52, SMPL-X 55: ntop needs an SMPL model file)", path, "kintree_table"
        )
    vertices = np.shape(data["v_template"])[0]
    expected = {
        "v_template": (vertices, 3),
        "weights": (vertices, 24),
        "J_regressor": (24, vertices),
        "shapedirs": (vertices, 3, None),
        "posedirs": (vertices * 3, 207) if np.ndim(data["posedirs"]) == 2 else (vertices, 3, 207),
    }
    for key, shape in expected.items():
        got = np.shape(data[key])
        if len(got) != len(shape) or any(e is not None and g != e for g, e in zip(got, shape)):
            want = "x".join("n" if e is None else str(e) for e in shape)
            raise NtopError(f"shape {'x'.join(map(str, got))}, expected {want} for a {vertices}-vertex SMPL model", path, key)
