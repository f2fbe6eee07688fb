"""Stage settings from config dicts: one place that rejects unknown keys with a clear message."""

from __future__ import annotations

from typing import Any, TypeVar

from ntop.errors import NtopError

__all__ = ["settings_from_dict"]

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
