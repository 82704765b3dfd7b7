"""The one bounded file read: every file the client reads with a size bound is read here.

A file bigger than its bound is refused with :class:`FileTooLargeError` (naming the file), never
truncated; at most ``limit + 1`` bytes are read, whatever the file's size.  Errors of the file
system (missing, permission denied) propagate as ``OSError`` for the caller to name the key or
input it belongs to.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sztp_client.errors import FileTooLargeError


def read_bounded(path: Path, limit: int, what: str = "the file") -> bytes:
    """The bytes of ``path``: at most ``limit``, or :class:`FileTooLargeError`."""
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
        if len(data) > limit:
            info = os.fstat(handle.fileno())
            size = info.st_size if stat.S_ISREG(info.st_mode) else len(data)
            raise FileTooLargeError(path, what, max(size, len(data)), limit)
    return data
