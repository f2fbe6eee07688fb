"""HDF5 stage files: schema name and version, units, provenance, atomic writes, clear read errors.

Every stage of the graph writes exactly one kind of file through :func:`create_stage` and reads its
inputs through :func:`open_stage`, so a wrong or half-written input fails with one message that
names the file, instead of a KeyError deep inside a stage.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import glob
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

import ntop
from ntop.cameras import Camera, CameraError
from ntop.errors import NtopError, WriteError, write_failure
from ntop.provenance import package_digest

__all__ = [
    "atomic_path",
    "create_stage",
    "open_stage",
    "provenance_record",
    "read_provenance",
    "digest_cache",
    "file_digest",
    "write_cameras",
    "read_cameras",
    "write_json",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds.

    Works for files and directories; an interrupted or failed write leaves nothing at ``path``, and
    what a killed writer (SIGKILL, no clean-up) left beside it goes with the next write.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in [path.parent, *path.parent.parents] if p.exists() and not p.is_dir())
        raise NtopError("is a file, so the output folder cannot be made", blocker) from None
    except PermissionError:
        raise NtopError("the output folder cannot be made here (permission denied)", path.parent) from None
    if not os.access(path.parent, os.W_OK):
        raise NtopError("the output folder is not writable", path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    for stale in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):  # a killed writer's (one writer per output)
        _remove(stale)
    try:
        try:
            yield tmp
        except (OSError, RuntimeError) as e:  # HDF5 reports a failed write as a RuntimeError
            reason = write_failure(e)
            if reason is None:
                raise
            raise WriteError(f"writing failed ({reason}): the disk is full or a file size limit was reached", path) from None
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomic JSON write (strict: NaN/Inf are refused, since strict parsers reject them)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, allow_nan=False) + "\n")


# ----------------------------------------------------------------------------------------------
# provenance
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _git_commit() -> str | None:
    root = Path(ntop.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "ntop"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


_DIGESTS: dict[Path, str] | None = None  # set inside digest_cache()


@contextlib.contextmanager
def digest_cache() -> Iterator[None]:
    """Inside the block each file is read for its digest once: for a stage whose inputs cannot change
    while it runs and which digests them twice (its provenance, then a manifest of its copies)."""
    global _DIGESTS
    outer = _DIGESTS
    _DIGESTS = {} if outer is None else outer
    try:
        yield
    finally:
        _DIGESTS = outer


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a directory's (relative name, file digest) listing."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(f"{p.relative_to(path)}\0{file_digest(p)}\n".encode())
        return h.hexdigest()
    key = path.resolve()
    if _DIGESTS is not None and key in _DIGESTS:
        return _DIGESTS[key]
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    if _DIGESTS is not None:
        _DIGESTS[key] = h.hexdigest()
    return h.hexdigest()


def _device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()})"


def provenance_record(stage: str, params: dict[str, Any] | None = None, inputs: list[str | os.PathLike] = ()) -> dict[str, Any]:
    """What produced a file: code version, parameters, input digests, machine and time."""
    return {
        "stage": stage,
        "ntop_version": ntop.__version__,
        "git_commit": _git_commit(),
        "code": package_digest(),
        "params": params or {},
        "inputs": {os.fspath(p): file_digest(p) for p in inputs},
        "host": socket.gethostname(),
        "device": _device_name(),
        "python": platform.python_version(),
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


# ----------------------------------------------------------------------------------------------
# stage files
# ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def create_stage(
    path: str | os.PathLike,
    schema: str,
    version: int,
    *,
    params: dict[str, Any] | None = None,
    inputs: list[str | os.PathLike] = (),
    units: str = "metres",
) -> Iterator[h5py.File]:
    """Open a new stage file for writing; it appears at ``path`` only when the block succeeds."""
    record = provenance_record(schema, params, inputs)
    t0 = time.perf_counter()
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema"] = schema
            f.attrs["schema_version"] = version
            f.attrs["units"] = units
            yield f
            record["wall_s"] = round(time.perf_counter() - t0, 3)
            record["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            f.attrs["provenance"] = json.dumps(record)


def open_stage(path: str | os.PathLike, schema: str | tuple[str, ...], min_version: int = 1) -> h5py.File:
    """Open a stage file for reading, checking that it is the stage file (or one of those) the caller expects."""
    path = Path(path)
    if not path.is_file():
        raise NtopError("stage file not found", path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise NtopError(f"not a readable HDF5 file ({e})", path) from None
    found = f.attrs.get("schema")
    expected = (schema,) if isinstance(schema, str) else schema
    if found not in expected:
        f.close()
        raise NtopError(f"expected a {' or '.join(map(repr, expected))} stage file, found {found!r}", path, "schema")
    version = int(f.attrs.get("schema_version", 0))
    if version < min_version:
        f.close()
        raise NtopError(f"schema version {version} is older than {min_version}", path, "schema_version")
    return f


def read_provenance(path: str | os.PathLike) -> dict[str, Any]:
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs.get("provenance", "{}"))


def require(f: h5py.File | h5py.Group, key: str) -> Any:
    """``f[key]`` or an error naming the file and the missing field."""
    if key not in f:
        raise NtopError("missing", f.file.filename, f"{f.name.rstrip('/')}/{key}")
    return f[key]


# ----------------------------------------------------------------------------------------------
# cameras in stage files
# ----------------------------------------------------------------------------------------------


def write_cameras(group: h5py.Group, cameras: list[Camera]) -> None:
    """One subgroup per camera, in order: intrinsics and pose as datasets, model as attributes."""
    group.attrs["order"] = json.dumps([c.name for c in cameras])
    for cam in cameras:
        g = group.create_group(cam.name)
        d = cam.to_dict()
        for key in ("K", "dist", "R", "t"):
            g.create_dataset(key, data=np.asarray(d[key], dtype=np.float64))
        for key in ("model", "width", "height"):
            g.attrs[key] = d[key]
        g.attrs["fov_deg"] = np.nan if d["fov_deg"] is None else d["fov_deg"]


def read_cameras(group: h5py.Group) -> list[Camera]:
    names = json.loads(group.attrs.get("order", "[]"))
    cams = []
    for name in names:
        g = require(group, name)
        fov = float(g.attrs.get("fov_deg", np.nan))
        d = {key: g[key][()] for key in ("K", "dist", "R", "t") if key in g}
        d.update({key: g.attrs[key] for key in ("model", "width", "height") if key in g.attrs})
        d.update(name=name, fov_deg=None if np.isnan(fov) else fov)
        try:
            cams.append(Camera.from_dict(d, where=f"camera {name!r}"))
        except CameraError as e:
            raise NtopError(str(e), group.file.filename, f"{group.name}/{name}") from None
    return cams
