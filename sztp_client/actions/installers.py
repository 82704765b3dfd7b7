"""Installers of a verified boot image: :class:`CommandInstaller` hands it to a vendor command,
:class:`ABDirectoryInstaller` writes it into the inactive one of two slot directories and
switches the next boot to it (atomically, so a crash leaves either slot intact).  The installer
is built at start-up; the code that runs its command is imported with the first install.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import json
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from sztp_client.actions import CLEAN_PATH
from sztp_client.actions.image import COPY_CHUNK, read_small_file, sha256_of_file
from sztp_client.config import ImageConfig
from sztp_client.encoding.yang_types import format_datetime
from sztp_client.errors import BootImageError
from sztp_client.protocol.image_policy import RunningSystem
from sztp_client.state.store import atomic_file, fsync_dir, write_atomic

if TYPE_CHECKING:
    from sztp_client.model.conveyed import BootImage

__all__ = ["ABDirectoryInstaller", "CommandInstaller", "Installer"]


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

    def __init__(self, command: Sequence[str], *, timeout: float = ImageConfig().timeout) -> None:
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
        from sztp_client.actions.scripts import run_checked  # noqa: PLC0415 - after data

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
            data = read_small_file(root / "active")
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
            if (read_small_file(nxt) or b"").strip() == target.encode():
                nxt.unlink()
                fsync_dir(root)
            slot.mkdir(mode=0o700, exist_ok=True)
            linked = _link_atomic(image, slot / "image")
            copied = (
                sha256_of_file(slot / "image") if linked else _copy_atomic(image, slot / "image")
            )
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
        data = read_small_file(nxt)
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
            data = read_small_file(root / ABDirectoryInstaller.active_slot(root) / "image.json")
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
        while chunk := src.read(COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.digest()
