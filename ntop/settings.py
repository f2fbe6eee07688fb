"""Stage settings from config dicts: one place that rejects unknown keys with a clear message, and one
that turns a device setting into a torch device."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import IO, Any, TypeVar

import torch

from ntop.errors import NtopError

__all__ = ["settings_from_dict", "resolve_device", "claim_gpu"]

T = TypeVar("T")


def settings_from_dict(cls: type[T], d: dict[str, Any], where: str) -> T:
    """``cls(**d)`` for a settings dataclass, naming ``where`` on unknown keys or wrong values."""
    unknown = set(d) - set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    if unknown:
        raise NtopError(f"unknown keys {sorted(unknown)}", where)
    try:
        return cls(**d)
    except (TypeError, ValueError) as e:
        raise NtopError(str(e), where) from None


def resolve_device(name: str, field: str) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda[:n]`` -> a torch device; asking for CUDA without one is an error naming ``field``.

    Plain ``cuda`` (or ``auto`` on a GPU machine) takes a GPU no other ntop job holds: see :func:`claim_gpu`.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise NtopError("CUDA was asked for but no CUDA device is available (use cpu or auto)", field=field)
    if name == "cuda":
        return torch.device("cuda", claim_gpu(torch.cuda.device_count()))
    return torch.device(name)


_held: list[tuple[int, IO[str]]] = []  # the claimed GPU and its lock file, open until the process ends


def claim_gpu(count: int, lock_dir: str | os.PathLike | None = None) -> int:
    """Index of a GPU that no other ntop process on this machine holds; it stays held until this one exits.

    Snakemake runs as many GPU jobs at once as ``--resources gpu=N`` allows but never says which
    device each should use (it sets no CUDA_VISIBLE_DEVICES), so on a workstation each job locks one
    (a file lock: released even when the job is killed). Where a scheduler already chose the devices
    (CUDA_VISIBLE_DEVICES set, as Slurm does) or there is one GPU, this is device 0.
    """
    if _held:
        return _held[0][0]
    if count <= 1 or os.environ.get("CUDA_VISIBLE_DEVICES"):
        return 0
    folder = Path(lock_dir or os.environ.get("NTOP_GPU_LOCKS") or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    free = next((i for i in range(count) if _lock(folder, i, wait=False)), None)
    if free is None:  # more GPU jobs than GPUs (no --resources gpu=N): wait for one
        free = os.getpid() % count
        _lock(folder, free, wait=True)
    return free


def _lock(folder: Path, index: int, wait: bool) -> bool:
    """Hold GPU ``index``'s lock file (kept open in ``_held``); False if another process holds it and not ``wait``."""
    handle = open(folder / f"ntop-gpu{index}.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.close()
        return False
    _held.append((index, handle))
    return True
