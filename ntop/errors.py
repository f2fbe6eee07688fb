"""The one error type users see: a message that names the file and the field at fault."""

from __future__ import annotations

import os


class NtopError(Exception):
    """Bad input or an impossible request; the CLI prints it on one line and exits non-zero."""

    def __init__(self, message: str, path: str | os.PathLike | None = None, field: str | None = None):
        self.path = None if path is None else os.fspath(path)
        self.field = field
        where = ": ".join(p for p in (self.path, f"field {field!r}" if field else None) if p)
        super().__init__(f"{where}: {message}" if where else message)
