"""The boot-image step (R-069..R-073, D17, D24): decide, download, verify, install.

* whether the image is needed at all is decided in :mod:`sztp_client.protocol.image_policy`.
* :func:`fetch_verified_image` downloads from the listed URIs in order, as mirrors of one
  file, and keeps the first download whose SHA-256 equals the expected one.  An image that
  cannot be verified (no supported hash) is never downloaded.
* An :class:`Installer` puts a verified image where the next boot takes it from:
  :class:`CommandInstaller` hands it to a vendor command, :class:`ABDirectoryInstaller` writes
  it into the inactive one of two slot directories.

Everything is passed in (paths, commands, the downloader); nothing here talks to a network.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import shlex
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final

import msgspec

from sztp_client.config import ImageConfig
from sztp_client.errors import BootImageError, FileTooLargeError, SZTPError
from sztp_client.files import read_bounded
from sztp_client.protocol.image_policy import RunningSystem, supported_digest
from sztp_client.units import KIB, MIB

if TYPE_CHECKING:
    from sztp_client.model.conveyed import BootImage

__all__ = [
    "DEFAULT_MIN_FREE_BYTES",
    "Downloader",
    "SpaceCheck",
    "VerifiedImage",
    "fetch_verified_image",
    "read_boot_id",
    "read_os_release",
]

_IMAGE_DEFAULTS: Final = ImageConfig()
DEFAULT_MIN_FREE_BYTES: Final = _IMAGE_DEFAULTS.min_free
"""Free space that must remain in the download directory while an image is written."""

COPY_CHUNK: Final = MIB
SMALL_FILE_LIMIT: Final = 64 * KIB


SpaceCheck = Callable[[int], None]
"""Called by a downloader with the size the file will have (the announced length, before the
first byte) or has (the bytes written so far, after each chunk); raises
:class:`BootImageError` when the bytes still to come would leave less free space than the
reserve."""

Downloader = Callable[[str, BinaryIO, SpaceCheck], bytes]
"""``download(uri, file, space_check)``: write the resource at ``uri`` into the open
``file``, calling ``space_check`` with the announced length before the first byte (when known)
and with the number of bytes written after every chunk, and return the SHA-256 of what it
wrote.  Failures are raised as :class:`sztp_client.errors.SZTPError` (or :class:`OSError`)."""


class VerifiedImage(msgspec.Struct, frozen=True):
    """A downloaded image whose SHA-256 equals the expected digest."""

    path: Path
    sha256: bytes


class _SpaceExhausted(BootImageError):
    """The space check refused a write: no other mirror can help."""


def _display_uri(uri: str) -> str:
    """``uri`` without a password, for messages."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    netloc = f"{parts.username or ''}:***@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def sha256_of_file(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.digest()


def fetch_verified_image(
    boot_image: BootImage,
    work_dir: Path,
    download: Downloader,
    *,
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
    on_mirror_failure: Callable[[str], None] | None = None,
) -> VerifiedImage:
    """Download the boot image and verify its SHA-256 (R-070, R-071, R-073).

    The ``download-uri`` values are tried in order as mirrors of one file; each download goes
    to a fresh file (mode 0600) in ``work_dir``.  A failed download or a digest mismatch
    removes the file and moves on to the next URI.  Running out of space (less than
    ``min_free_bytes`` would remain) stops at once: another mirror cannot help.  When no URI
    gives the image, the :class:`BootImageError` lists each URI and why it failed;
    ``on_mirror_failure`` hears of each failure as it happens.  The
    digest is computed again from the written file; nothing outside ``work_dir`` is written
    (``work_dir`` itself is created, mode 0700, when missing).
    """
    expected = supported_digest(boot_image)
    if not boot_image.download_uris:
        raise BootImageError("the boot image lists no download-uri")
    try:
        work_dir.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise BootImageError(f"cannot create the download directory {work_dir}: {exc}") from exc

    exhausted: list[_SpaceExhausted] = []
    current: list[Path] = []  # the file being written, if any

    def space_check(size: int) -> None:
        # ``size`` is what the file will hold; what it holds already has taken its space
        try:
            on_disk = current[0].stat().st_size if current else 0
        except OSError:
            on_disk = 0
        coming = max(size - on_disk, 0)
        free = shutil.disk_usage(work_dir).free
        if free - coming < min_free_bytes:
            error = _SpaceExhausted(
                f"not enough free space in {work_dir} for the boot image: {coming} more "
                f"bytes would leave {max(free - coming, 0)} of the {min_free_bytes} bytes "
                "that must stay free"
            )
            exhausted.append(error)
            raise error

    space_check(0)
    failures: list[str] = []
    for uri in boot_image.download_uris:
        shown = _display_uri(uri)
        try:
            fd, name = tempfile.mkstemp(prefix="boot-image-", suffix=".download", dir=work_dir)
            os.close(fd)
        except OSError as exc:
            raise BootImageError(f"cannot create a file in {work_dir}: {exc}") from exc
        path = Path(name)
        current[:] = [path]
        keep = False
        try:
            # opened by name (mkstemp made it 0600), so that ``handle.name`` is its path
            with path.open("wb") as handle:
                reported = download(uri, handle, space_check)
                handle.flush()
                os.fsync(handle.fileno())
            actual = sha256_of_file(path)
            if not hmac.compare_digest(actual, expected):
                failures.append(
                    f"{shown}: SHA-256 mismatch (expected {expected.hex(':')}, "
                    f"got {actual.hex(':')})"
                )
            elif not hmac.compare_digest(bytes(reported), actual):
                failures.append(
                    f"{shown}: the downloader reported a SHA-256 that differs from the file's"
                )
            else:
                keep = True
                return VerifiedImage(path, actual)
        except (SZTPError, OSError) as exc:
            if exhausted:  # even when the downloader wrapped it: no other mirror can help
                raise exhausted[0] from None
            failures.append(f"{shown}: {exc}")
        finally:
            current.clear()
            if not keep:
                with contextlib.suppress(OSError):
                    path.unlink()
                if failures and on_mirror_failure is not None:
                    on_mirror_failure(failures[-1])
    listing = "; ".join(failures)
    raise BootImageError(f"no download-uri gave the boot image: {listing}")


# ---------------------------------------------------------------------------------------------
# What the device runs


def read_small_file(path: Path) -> bytes | None:
    """The content of a small file, None when it does not exist; a bigger file is refused."""
    try:
        return read_bounded(path, SMALL_FILE_LIMIT, "the slot file")
    except FileNotFoundError:
        return None
    except FileTooLargeError as exc:
        raise BootImageError(exc.message) from exc


def _os_release_value(raw: str) -> str:
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        try:
            words = shlex.split(raw)
        except ValueError:
            return raw.strip("'\"")
        return words[0] if len(words) == 1 else raw.strip("'\"")
    return raw


def read_os_release(path: Path = Path("/etc/os-release")) -> RunningSystem:
    """os-name (``ID``, else ``NAME``) and os-version (``VERSION_ID``) from an os-release file.

    A missing or unreadable file gives None for both; empty values count as absent.
    """
    try:
        data = read_small_file(path)
    except OSError:
        data = None
    if data is None:
        return RunningSystem(None, None)
    values: dict[str, str] = {}
    for raw_line in data.decode("utf-8", "replace").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        value = _os_release_value(raw)
        if value:
            values[key.strip()] = value
    return RunningSystem(values.get("ID") or values.get("NAME"), values.get("VERSION_ID"))


def read_boot_id(path: Path = Path("/proc/sys/kernel/random/boot_id")) -> str | None:
    """The kernel's boot id (D24), or None when it cannot be read."""
    try:
        data = read_small_file(path)
    except OSError:
        return None
    if data is None:
        return None
    text = data.decode("ascii", "replace").strip()
    return text or None
