"""Stage settings from config dicts: one place that rejects unknown keys with a clear message, and one
that turns a device setting into a torch device."""

from __future__ import annotations

from typing import Any, TypeVar

import torch

from ntop.errors import NtopError

__all__ = ["settings_from_dict", "resolve_device"]

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
    """``auto`` | ``cpu`` | ``cuda[:n]`` -> a torch device; asking for CUDA without one is an error naming ``field``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise NtopError("CUDA was asked for but no CUDA device is available (use cpu or auto)", field=field)
    return torch.device(name)
