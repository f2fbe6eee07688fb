"""The one error type users see: a message that names the file and the field at fault."""

from __future__ import annotations

import errno
import os
import re
import sys
from typing import Any


class NtopError(Exception):
    """Bad input or an impossible request; the CLI prints it on one line and exits non-zero."""

    def __init__(self, message: str, path: str | os.PathLike | None = None, field: str | None = None):
        self.path = None if path is None else os.fspath(path)
        self.field = field
        where = ": ".join(p for p in (self.path, f"field {field!r}" if field else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


class WriteError(NtopError):
    """A write that failed for lack of space: HDF5 cannot shut down cleanly after one, so the CLI exits at once."""


def write_failure(e: BaseException) -> str | None:
    """The system's reason when ``e`` is a write that failed for lack of space (HDF5 reports it inside
    a RuntimeError's text), else None."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return e.strerror
    found = re.search(r"file write failed.*?error message = '([^']+)'", str(e), re.S)
    return found.group(1) if found else None


def quiet_failed_writes() -> None:
    """HDF5 repeats a failed write's error (through both hooks) as each object of the file is freed;
    the stage reports it once, so these hooks drop the repeats and pass everything else on."""

    def unraisable(u: Any) -> None:
        if write_failure(u.exc_value) is None:
            sys.__unraisablehook__(u)

    def excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if write_failure(value) is None:
            sys.__excepthook__(kind, value, tb)

    sys.unraisablehook = unraisable
    sys.excepthook = excepthook
