"""Files the client keeps across runs and reboots, written atomically.

Every write goes to a temporary file in the same directory, is flushed and fsync'ed, renamed
over the old file, and the directory is fsync'ed: a crash leaves either the old or the new
content, never a mixture.  Files are created with mode 0600 and directories with 0700.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from sztp_client.errors import FileTooLargeError, InternalError, PermissionDeniedError
from sztp_client.files import read_bounded
from sztp_client.units import MIB

MAX_STATE_FILE = 4 * MIB


def ensure_dir(path: Path, mode: int = 0o700, key: str | None = None) -> Path:
    """Create ``path`` (and its parents) when missing; :class:`PermissionDeniedError` (exit 77)
    naming ``key`` when that is not allowed."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    except PermissionError as exc:
        raise PermissionDeniedError(f"cannot create {path}: permission denied", key) from exc
    return path


@contextlib.contextmanager
def atomic_file(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """A new file that replaces ``path`` when the block ends without an exception.

    The block writes into a temporary file (``mode``) in the same directory; it is then
    flushed, fsync'ed, renamed over ``path``, and the directory is fsync'ed.  On an exception
    the temporary file is removed and ``path`` is as it was.
    """
    import tempfile  # noqa: PLC0415 - writers only: ``status`` reads, and starts faster without it

    ensure_dir(path.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except PermissionError as exc:
        raise PermissionDeniedError(f"cannot write in {path.parent}: permission denied") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically (write, fsync, rename, fsync the directory)."""
    with atomic_file(path, mode) as handle:
        handle.write(data)


def fsync_dir(path: Path) -> None:
    """Make a rename in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, document: Any, mode: int = 0o600) -> None:
    write_atomic(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode(), mode)


def read_json(path: Path) -> Any:
    """The JSON document at ``path``, or None when the file does not exist."""
    try:
        data = read_bounded(path, MAX_STATE_FILE, "the state file")
    except FileTooLargeError as exc:
        raise InternalError(exc.message) from exc
    except FileNotFoundError:
        return None
    except PermissionError as exc:
        raise PermissionDeniedError(f"cannot read {path}: permission denied") from exc
    except OSError as exc:
        raise InternalError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InternalError(f"{path} is not valid JSON; move it away to start afresh") from exc
