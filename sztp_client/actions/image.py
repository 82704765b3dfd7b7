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
import datetime
import hashlib
import hmac
import json
import os
import shlex
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Protocol

from sztp_client.actions.scripts import CLEAN_PATH, run_checked
from sztp_client.encoding import format_datetime
from sztp_client.errors import BootImageError, SZTPError
from sztp_client.model.conveyed import BootImage
from sztp_client.protocol.image_policy import RunningSystem, supported_digest
from sztp_client.state.store import atomic_file, fsync_dir, write_atomic

__all__ = [
    "DEFAULT_MIN_FREE_BYTES",
    "ABDirectoryInstaller",
    "CommandInstaller",
    "Downloader",
    "Installer",
    "SpaceCheck",
    "VerifiedImage",
    "fetch_verified_image",
    "read_boot_id",
    "read_os_release",
]

MIB: Final = 1024 * 1024
DEFAULT_MIN_FREE_BYTES: Final = 64 * MIB
"""Free space that must remain in the download directory while an image is written."""

_COPY_CHUNK: Final = 1024 * 1024
_SMALL_FILE_LIMIT: Final = 64 * 1024


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


@dataclass(frozen=True, slots=True)
class VerifiedImage:
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


def _sha256_of(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_COPY_CHUNK):
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
            actual = _sha256_of(path)
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
# Installers


class Installer(Protocol):
    """Puts a verified image where the next boot takes it from."""

    @property
    def name(self) -> str: ...

    def install(self, image: Path, boot_image: BootImage, sha256: bytes) -> None:
        """Install ``image`` (SHA-256 ``sha256``); raise :class:`BootImageError` on failure."""
        ...


def _image_environment(image: Path, boot_image: BootImage, sha256: bytes) -> dict[str, str]:
    env = {"PATH": CLEAN_PATH, "SZTP_IMAGE": str(image), "SZTP_IMAGE_SHA256": sha256.hex()}
    if boot_image.os_name is not None:
        env["SZTP_OS_NAME"] = boot_image.os_name
    if boot_image.os_version is not None:
        env["SZTP_OS_VERSION"] = boot_image.os_version
    return env


class CommandInstaller:
    """Installs by running a vendor command.

    ``{image}`` in any argument is replaced by the image path (the path is appended when no
    argument holds it).  The command runs with a clean environment (``PATH`` plus
    ``SZTP_IMAGE``, ``SZTP_IMAGE_SHA256`` in hex, and ``SZTP_OS_NAME``/``SZTP_OS_VERSION``
    when the boot image names them), stdin from /dev/null, in the image's directory, in its own
    process group (killed at the timeout).  Exit status 0 means installed.
    """

    def __init__(self, command: Sequence[str], *, timeout: float = 1800.0) -> None:
        if not command:
            raise ValueError("the installer command is empty")
        if timeout <= 0:
            raise ValueError("the installer timeout must be positive")
        self.name = "command"
        self.command = tuple(command)
        self.timeout = timeout

    def argv(self, image: Path) -> list[str]:
        """The command line for ``image``."""
        if any("{image}" in argument for argument in self.command):
            return [argument.replace("{image}", str(image)) for argument in self.command]
        return [*self.command, str(image)]

    def install(self, image: Path, boot_image: BootImage, sha256: bytes) -> None:
        argv = self.argv(image)
        run_checked(
            argv,
            env=_image_environment(image, boot_image, sha256),
            cwd=image.parent,
            timeout=self.timeout,
            what=f"installer command {shlex.join(self.command)}",
            error=BootImageError,
        )


_SLOTS: Final = ("a", "b")


def _read_small(path: Path) -> bytes | None:
    """The content of a small file, None when it does not exist."""
    try:
        with path.open("rb") as handle:
            return handle.read(_SMALL_FILE_LIMIT)
    except FileNotFoundError:
        return None


class ABDirectoryInstaller:
    """Installs into the inactive one of two slot directories, ``root/a`` and ``root/b``.

    ``root/active`` names the slot the system runs from ("a" when the file is absent).  An
    install writes ``<slot>/image`` (temporary file, fsync, rename) and ``<slot>/image.json``
    (``sha256`` in hex, ``os-name``, ``os-version``, ``installed-at``) into the other slot,
    then names that slot in ``root/next``, which the boot loader boots next; each step is
    atomic, and ``next`` is removed first, so a crash never leaves it naming a half-written
    slot.  :meth:`simulate_boot` plays the boot loader's part.
    """

    def __init__(self, root: Path) -> None:
        self.name = "ab-directory"
        self.root = root

    @staticmethod
    def active_slot(root: Path) -> str:
        """The slot named in ``root/active`` ("a" when absent)."""
        try:
            data = _read_small(root / "active")
        except OSError as exc:
            raise BootImageError(f"cannot read {root / 'active'}: {exc}") from exc
        if data is None:
            return _SLOTS[0]
        slot = data.decode("ascii", "replace").strip()
        if slot not in _SLOTS:
            raise BootImageError(f"{root / 'active'} names {slot!r:.40}, not a slot (a or b)")
        return slot

    def install(self, image: Path, boot_image: BootImage, sha256: bytes) -> None:
        root = self.root
        active = self.active_slot(root)
        target = _SLOTS[1] if active == _SLOTS[0] else _SLOTS[0]
        slot = root / target
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            nxt = root / "next"
            if (_read_small(nxt) or b"").strip() == target.encode():
                nxt.unlink()
                fsync_dir(root)
            slot.mkdir(mode=0o700, exist_ok=True)
            linked = _link_atomic(image, slot / "image")
            copied = _sha256_of(slot / "image") if linked else _copy_atomic(image, slot / "image")
            if not hmac.compare_digest(copied, sha256):
                with contextlib.suppress(OSError):
                    (slot / "image").unlink()
                raise BootImageError(
                    f"the image copied into slot {target} has SHA-256 {copied.hex(':')}, not "
                    f"the verified {sha256.hex(':')}: it changed after verification"
                )
            record = {
                "sha256": sha256.hex(),
                "os-name": boot_image.os_name,
                "os-version": boot_image.os_version,
                "installed-at": format_datetime(datetime.datetime.now(datetime.UTC)),
            }
            write_atomic(slot / "image.json", (json.dumps(record, indent=2) + "\n").encode())
            write_atomic(nxt, f"{target}\n".encode(), mode=0o644)
        except OSError as exc:
            raise BootImageError(f"cannot install the image into {slot}: {exc}") from exc

    @staticmethod
    def simulate_boot(root: Path) -> str | None:
        """What the boot loader does at the next boot: ``next`` becomes ``active``.

        Returns the slot now active, or None when no install was pending.
        """
        nxt = root / "next"
        data = _read_small(nxt)
        if data is None:
            return None
        slot = data.decode("ascii", "replace").strip()
        if slot not in _SLOTS:
            raise BootImageError(f"{nxt} names {slot!r:.40}, not a slot (a or b)")
        nxt.replace(root / "active")
        fsync_dir(root)
        return slot

    @staticmethod
    def running_system(root: Path) -> RunningSystem:
        """os-name and os-version from the active slot's ``image.json`` (None when unknown)."""
        try:
            data = _read_small(root / ABDirectoryInstaller.active_slot(root) / "image.json")
            record = json.loads(data) if data is not None else None
        except (OSError, ValueError, BootImageError):
            record = None
        if not isinstance(record, dict):
            return RunningSystem(None, None)
        name, version = record.get("os-name"), record.get("os-version")
        return RunningSystem(
            name if isinstance(name, str) else None,
            version if isinstance(version, str) else None,
        )


def _link_atomic(source: Path, destination: Path) -> bool:
    """Put ``source`` at ``destination`` by a hard link (same file system: no second write of a
    large image; the caller still re-hashes it); False when a link is not possible there."""
    tmp = destination.with_name(f".{destination.name}.{os.getpid()}.link")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(source, tmp)
    except OSError:
        return False
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fchmod(fd, 0o600)
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(destination)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(destination.parent)
    return True


def _copy_atomic(source: Path, destination: Path) -> bytes:
    """Copy ``source`` to ``destination`` atomically (mode 0600); return the copy's SHA-256."""
    digest = hashlib.sha256()
    with atomic_file(destination) as out, source.open("rb") as src:
        while chunk := src.read(_COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.digest()


# ---------------------------------------------------------------------------------------------
# What the device runs


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
        data = _read_small(path)
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
        data = _read_small(path)
    except OSError:
        return None
    if data is None:
        return None
    text = data.decode("ascii", "replace").strip()
    return text or None
