"""Removable media as a discovery source (RFC 8572 §4.1; R-111..R-114, D7).

What it does, in order:

1. **Notice media.**  When udevd runs (its control socket ``/run/udev/control`` exists) and
   pyudev is installed (the ``udev`` extra, imported only then), the block devices come from
   udev's database and :meth:`RemovableMediaSource.wait` sleeps on udev's event monitor;
   otherwise ``/sys/class/block`` is read and polled.  Which devices count: with
   ``devices`` globs (``/dev/sdb1``, ``/dev/sd*``, ``loop7``), the devices whose path or name
   matches one of them; without, the default filter: removable (the disk's ``removable``
   attribute) or hot-plugged (attached through USB, MMC/SD or FireWire) block devices that
   carry a filesystem.  A loop device is neither, so it counts only when named in ``devices``.
2. **Mount read-only** into a private directory (mode 0700) with the configured mount command:
   an argv list in which ``{device}`` and ``{directory}`` are replaced, appended in that order
   when absent (``mount -o ro,nosuid,nodev,noexec`` by default; ``fusefat -o ro`` where the
   kernel lacks FAT).  Unmounted with the unmount command (``umount`` by default; the
   directory is appended when ``{directory}`` is absent).
3. **Read the layout** of :mod:`sztp_client.discovery.media_layout` and the artifact files,
   each size-bounded.  A medium without the folder, or with a folder but no conveyed
   information, is unmounted again at once and recorded as giving nothing.
4. **Keep a medium with artifacts mounted** until the source is closed: a ``file:``
   boot-image URI in its onboarding information resolves inside it
   (:meth:`MediumArtifacts.resolve_file_uri`; ``..`` or a symbolic link leaving it refused).

Lifetime: :class:`RemovableMediaSource` is a context manager.  The executor enters it (or
pushes it on an ``ExitStack``) before the pass that may fetch it and leaves it after the
onboarding from its artifacts has ended, whatever the outcome; :meth:`~RemovableMediaSource.
close` unmounts every medium still mounted and removes the private directories, and a new
:meth:`~RemovableMediaSource.fetch` first unmounts what the previous one left.  Every mount is
undone on every path out: a failing read, an exception, ``KeyboardInterrupt``.

Hand-written: the device filter, the superblock probe (a few fixed magic numbers, so that
polling needs neither udev nor blkid) and the mount bookkeeping are specific to this client.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, Final

from sztp_client.discovery import media_layout
from sztp_client.discovery.errors import MediaMountError
from sztp_client.errors import SZTPError
from sztp_client.files import read_bounded
from sztp_client.interrupt import deferred
from sztp_client.trust.verifier import Artifacts

KIND: Final = "removable-media"
DEFAULT_MOUNT_COMMAND: Final = ("mount", "-o", "ro,nosuid,nodev,noexec")
DEFAULT_UNMOUNT_COMMAND: Final = ("umount",)
FUSEFAT_MOUNT_COMMAND: Final = ("fusefat", "-o", "ro")
MAX_ARTIFACT_SIZE: Final = 1 << 20
"""Default bound of one artifact file read from a medium."""
COMMAND_TIMEOUT: Final = 30.0
UDEV_CONTROL: Final = Path("/run/udev/control")
PROBE_SIZE: Final = 68 * 1024
_HOTPLUG_BUSES: Final = ("/usb", "/mmc", "/firewire", "/ieee1394", "/memstick")
_SHOWN_OUTPUT: Final = 400


# ---------------------------------------------------------------------------------------------
# values


@dataclass(frozen=True, slots=True)
class BlockDevice:
    """A block device seen by the source: ``path`` its node (``/dev/sdb1``), ``name`` its
    kernel name, ``filesystem`` the filesystem type found on it (``None``: none recognised)."""

    name: str
    path: str
    removable: bool = False
    hotplug: bool = False
    filesystem: str | None = None


@dataclass(frozen=True, slots=True)
class MediumArtifacts:
    """Artifacts a source delivered directly (not a server to ask): here, from one medium.

    ``origin`` is the device path; ``names`` the artifact file names as the medium spells
    them; ``medium_root`` the directory the medium is mounted on, valid until the source is
    closed.
    """

    kind: str
    origin: str
    artifacts: Artifacts
    names: tuple[str, ...]
    medium_root: Path
    per_device: bool = False

    def resolve_file_uri(self, uri: str) -> Path:
        """Where the ``file:`` URI ``uri`` leads on this medium, or
        :class:`~sztp_client.discovery.errors.MediaPathError` (R-114)."""
        return media_layout.resolve_file_uri(self.medium_root, uri)


@dataclass(frozen=True, slots=True)
class MediumAttempt:
    """What one device gave, for the status record: ``artifacts`` the names found, ``error``
    why it gave nothing (``None`` when it gave artifacts)."""

    origin: str
    artifacts: tuple[str, ...] = ()
    error: str | None = None


# ---------------------------------------------------------------------------------------------
# noticing devices


def probe_filesystem(head: bytes) -> str | None:
    """The filesystem type whose superblock starts ``head`` (the first bytes of a device, at
    least :data:`PROBE_SIZE` for ISO 9660), in blkid's names, or ``None``."""
    if len(head) >= 1082 and head[1080:1082] == b"\x53\xef":
        return "ext4"
    if len(head) >= 11:
        oem = head[3:11]
        if oem == b"EXFAT   ":
            return "exfat"
        if oem == b"NTFS    ":
            return "ntfs"
    fat = head[54:59] in (b"FAT12", b"FAT16") or head[82:87] == b"FAT32"
    if len(head) >= 512 and head[510:512] == b"\x55\xaa" and fat:
        return "vfat"
    if len(head) >= 32774 and head[32769:32774] == b"CD001":
        return "iso9660"
    return None


def _read_probe(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        return os.read(fd, PROBE_SIZE)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _attribute(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


def list_sysfs_devices(
    sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev")
) -> list[BlockDevice]:
    """The block devices under ``sys_root/class/block`` with a size, probed for a filesystem
    (polling: no udev needed)."""
    block = sys_root / "class" / "block"
    try:
        names = sorted(entry.name for entry in os.scandir(block))
    except OSError:
        return []
    devices = []
    for name in names:
        entry = block / name
        if _attribute(entry / "size") in ("", "0"):
            continue
        partition = (entry / "partition").exists()
        disk = entry.resolve().parent if partition else entry.resolve()
        real = str(entry.resolve())
        removable = _attribute(disk / "removable") == "1"
        hotplug = any(bus in real for bus in _HOTPLUG_BUSES)
        path = str(dev_root / name)
        devices.append(
            BlockDevice(name, path, removable, hotplug, probe_filesystem(_read_probe(path)))
        )
    return devices


def udev_running(control: Path = UDEV_CONTROL) -> bool:
    """Whether udevd runs here (its control socket exists)."""
    return control.exists()


def _pyudev() -> Any:
    # the optional `udev` extra, imported only when used (it has no type hints)
    return importlib.import_module("pyudev")


def list_udev_devices(context: Any = None) -> list[BlockDevice]:
    """The block devices in udev's database (pyudev), with udev's filesystem type (probed
    when udev has none)."""
    pyudev = _pyudev()
    context = context or pyudev.Context()
    devices = []
    for device in context.list_devices(subsystem="block"):
        node = device.device_node
        if not node:
            continue
        properties = device.properties
        if _attribute(Path(device.sys_path) / "size") in ("", "0"):
            continue
        disk = device.find_parent("block", "disk") if device.device_type == "partition" else device
        removable = disk is not None and _attribute(Path(disk.sys_path) / "removable") == "1"
        hotplug = properties.get("ID_BUS") in ("usb", "ieee1394", "mmc") or any(
            bus in device.sys_path for bus in _HOTPLUG_BUSES
        )
        filesystem = properties.get("ID_FS_TYPE") or probe_filesystem(_read_probe(node))
        devices.append(BlockDevice(device.sys_name, node, removable, hotplug, filesystem))
    return sorted(devices, key=lambda d: d.name)


def select_devices(devices: Sequence[BlockDevice], globs: Sequence[str]) -> list[BlockDevice]:
    """The devices that count: those matching ``globs`` by path or name when some are given,
    else the removable or hot-plugged ones with a filesystem."""
    if globs:
        return [
            d
            for d in devices
            if any(fnmatch.fnmatchcase(d.path, g) or fnmatch.fnmatchcase(d.name, g) for g in globs)
        ]
    return [d for d in devices if (d.removable or d.hotplug) and d.filesystem]


# ---------------------------------------------------------------------------------------------
# mounting


def command_line(template: Sequence[str], device: str | None, directory: str) -> list[str]:
    """``template`` with ``{device}`` and ``{directory}`` replaced; the missing ones appended
    in that order (``device`` ``None``: an unmount command, which takes no device)."""
    argv = [
        word.replace("{device}", device or "").replace("{directory}", directory)
        for word in template
    ]
    if device is not None and not any("{device}" in word for word in template):
        argv.append(device)
    if not any("{directory}" in word for word in template):
        argv.append(directory)
    return argv


def _run(argv: list[str], what: str) -> None:
    if not argv or not argv[0]:
        raise MediaMountError(f"the {what} command is empty")
    try:
        done = subprocess.run(  # noqa: S603  # the configured command, argv only
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise MediaMountError(f"the {what} command {argv[0]!r} is not installed") from None
    except subprocess.TimeoutExpired:
        raise MediaMountError(
            f"the {what} command {' '.join(argv)} did not end in {COMMAND_TIMEOUT:.0f} s"
        ) from None
    except OSError as exc:
        raise MediaMountError(f"the {what} command {argv[0]!r} cannot run: {exc}") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
        raise MediaMountError(
            f"{' '.join(argv)} failed (exit status {done.returncode}): "
            f"{output[:_SHOWN_OUTPUT] or 'no output'}"
        )


def _mount_point(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as three octal digits
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _is_mount_point(directory: Path) -> bool:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            mounted = {_mount_point(line.split()[4]) for line in handle if len(line.split()) > 4}
    except OSError:
        return os.path.ismount(directory)
    return str(directory) in mounted


class MountedMedium:
    """One device mounted read-only on a private directory; :meth:`close` unmounts it and
    removes the directory (idempotent).  A context manager."""

    def __init__(
        self,
        device: str,
        *,
        base: Path,
        mount_command: Sequence[str] = DEFAULT_MOUNT_COMMAND,
        unmount_command: Sequence[str] = DEFAULT_UNMOUNT_COMMAND,
    ) -> None:
        self.device = device
        self._unmount_command = tuple(unmount_command)
        self.root = Path(tempfile.mkdtemp(prefix="medium-", dir=base))
        self._mounted = False
        try:
            # an interruption (SIGTERM) waits until the mount command has ended and its result
            # is known, then unwinds through close() below
            with deferred():
                try:
                    _run(command_line(mount_command, device, str(self.root)), "mount")
                finally:
                    # a mount command that failed may still have mounted
                    self._mounted = _is_mount_point(self.root)
            if not self._mounted:
                raise MediaMountError(
                    f"{' '.join(command_line(mount_command, device, str(self.root)))} "
                    f"ended, but nothing is mounted on {self.root}"
                )
        except BaseException:
            self.close()
            raise

    @property
    def mounted(self) -> bool:
        return self._mounted

    def close(self) -> None:
        """Unmount (when mounted) and remove the private directory.  An unmount that fails is
        retried lazily (``umount -l``) before :class:`MediaMountError` is raised."""
        if self._mounted:
            try:
                _run(command_line(self._unmount_command, None, str(self.root)), "unmount")
            except MediaMountError:
                if _is_mount_point(self.root):
                    with contextlib.suppress(MediaMountError):
                        _run(["umount", "-l", str(self.root)], "unmount")
                if _is_mount_point(self.root):
                    raise
            self._mounted = _is_mount_point(self.root)
        if not self._mounted:
            with contextlib.suppress(OSError):
                self.root.rmdir()

    def __enter__(self) -> MountedMedium:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True, slots=True)
class DirectoryReader:
    """:class:`~sztp_client.discovery.media_layout.MediumReader` over a mounted directory;
    symbolic links are left out (nothing on a medium is followed out of it)."""

    root: Path

    def list_directory(self, path: PurePosixPath, limit: int) -> Sequence[media_layout.DirEntry]:
        entries = []
        with os.scandir(self.root.joinpath(*path.parts)) as listing:
            for entry in listing:
                if entry.is_symlink():
                    continue
                entries.append(media_layout.DirEntry(entry.name, entry.is_dir()))
                if len(entries) > limit:
                    break
        return entries


def read_medium(
    root: Path,
    serial_number: str,
    *,
    directory_name: str = media_layout.DEFAULT_DIRECTORY,
    max_size: int = MAX_ARTIFACT_SIZE,
) -> tuple[media_layout.MediumLayout | None, Artifacts | None]:
    """The layout on the medium mounted at ``root`` and its artifacts (``None`` when there is
    no conveyed information)."""
    layout = media_layout.read_layout(
        DirectoryReader(root), serial_number, directory_name=directory_name
    )
    if layout is None or layout.empty:
        return layout, None

    def read(relative: PurePosixPath | None, what: str) -> bytes | None:
        if relative is None:
            return None
        path = media_layout.resolve_in_medium(root, relative)
        return read_bounded(path, max_size, what)

    conveyed = read(layout.conveyed_information, "the conveyed information on the medium")
    assert conveyed is not None  # layout.empty is False
    return layout, Artifacts(
        conveyed_information=conveyed,
        owner_certificate=read(layout.owner_certificate, "the owner certificate on the medium"),
        ownership_voucher=read(layout.ownership_voucher, "the ownership voucher on the medium"),
    )


# ---------------------------------------------------------------------------------------------
# the source


@dataclass
class _Settings:
    serial_number: str
    directory_name: str
    devices: tuple[str, ...]
    mount_command: tuple[str, ...]
    unmount_command: tuple[str, ...]
    mount_base: Path | None
    use_udev: bool | None
    max_size: int
    sys_root: Path
    dev_root: Path
    poll_interval: float
    attempts: list[MediumAttempt] = field(default_factory=list)


class RemovableMediaSource:
    """The ``removable-media`` discovery source.

    ``detect`` tells whether a device that counts is present (no mounting); ``fetch`` mounts
    each in turn and yields a :class:`MediumArtifacts` for every medium carrying conveyed
    information, which stays mounted until :meth:`close` (or the end of the ``with`` block).
    ``attempts`` records what each device gave, for the status.  ``use_udev``: ``None``
    (default) uses udev when udevd runs and pyudev is importable, ``True`` requires it,
    ``False`` polls sysfs.
    """

    def __init__(
        self,
        serial_number: str,
        *,
        directory_name: str = media_layout.DEFAULT_DIRECTORY,
        devices: Sequence[str] = (),
        mount_command: Sequence[str] = DEFAULT_MOUNT_COMMAND,
        unmount_command: Sequence[str] = DEFAULT_UNMOUNT_COMMAND,
        mount_base: Path | None = None,
        use_udev: bool | None = None,
        max_size: int = MAX_ARTIFACT_SIZE,
        sys_root: Path = Path("/sys"),
        dev_root: Path = Path("/dev"),
        poll_interval: float = 0.5,
    ) -> None:
        self._s = _Settings(
            serial_number,
            directory_name,
            tuple(devices),
            tuple(mount_command) or DEFAULT_MOUNT_COMMAND,
            tuple(unmount_command) or DEFAULT_UNMOUNT_COMMAND,
            mount_base,
            use_udev,
            max_size,
            sys_root,
            dev_root,
            poll_interval,
        )
        self._mounted: list[MountedMedium] = []
        self._base: Path | None = None

    @property
    def name(self) -> str:
        return KIND

    @property
    def attempts(self) -> tuple[MediumAttempt, ...]:
        """What each device gave in the last :meth:`fetch`."""
        return tuple(self._s.attempts)

    @property
    def mounted(self) -> tuple[Path, ...]:
        """The roots of the media still mounted."""
        return tuple(medium.root for medium in self._mounted)

    def uses_udev(self) -> bool:
        """Whether devices come from udev (else from sysfs)."""
        if self._s.use_udev is not None:
            return self._s.use_udev
        if not udev_running():
            return False
        try:
            _pyudev()
        except ImportError:
            return False
        return True

    def candidates(self) -> list[BlockDevice]:
        """The devices present now that count."""
        if self.uses_udev():
            seen = list_udev_devices()
        else:
            seen = list_sysfs_devices(self._s.sys_root, self._s.dev_root)
        return select_devices(seen, self._s.devices)

    def detect(self) -> bool:
        return bool(self.candidates())

    def wait(self, timeout: float) -> list[BlockDevice]:
        """The devices that count, waiting up to ``timeout`` seconds for one to appear: on
        udev's monitor when udev is used, else polling sysfs.  Empty when none came."""
        deadline = time.monotonic() + timeout
        if not self.uses_udev():
            while True:
                found = self.candidates()
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return found
                time.sleep(min(self._s.poll_interval, remaining))
        pyudev = _pyudev()
        monitor = pyudev.Monitor.from_netlink(pyudev.Context())
        monitor.filter_by("block")
        monitor.start()
        try:
            while True:
                found = self.candidates()
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return found
                monitor.poll(timeout=remaining)
        finally:
            with contextlib.suppress(OSError, AttributeError):
                monitor._socket.close()  # pyudev has no close()

    def fetch(self) -> Sequence[MediumArtifacts]:
        """Mount each device that counts, read its layout, and yield the media with conveyed
        information (kept mounted).  Media found by an earlier call are unmounted first.  A
        device that fails is recorded in :attr:`attempts` and the others are still tried."""
        self.unmount_all()
        self._s.attempts = []
        found: list[MediumArtifacts] = []
        for device in self.candidates():
            try:
                item = self._fetch_one(device)
            except (SZTPError, OSError) as exc:
                self._s.attempts.append(MediumAttempt(device.path, error=str(exc)))
                continue
            if item is not None:
                found.append(item)
        return found

    def _fetch_one(self, device: BlockDevice) -> MediumArtifacts | None:
        with deferred():  # a mounted medium is always on the list close() unmounts
            medium = MountedMedium(
                device.path,
                base=self._private_base(),
                mount_command=self._s.mount_command,
                unmount_command=self._s.unmount_command,
            )
            self._mounted.append(medium)
        try:
            layout, artifacts = read_medium(
                medium.root,
                self._s.serial_number,
                directory_name=self._s.directory_name,
                max_size=self._s.max_size,
            )
        except BaseException:
            self._release(medium)
            raise
        if layout is None or artifacts is None:
            self._release(medium)
            reason = (
                f"no folder {self._s.directory_name!r} at the medium's root"
                if layout is None
                else f"no conveyed information in {layout.folder}"
            )
            self._s.attempts.append(MediumAttempt(device.path, error=reason))
            return None
        self._s.attempts.append(MediumAttempt(device.path, artifacts=layout.artifacts))
        return MediumArtifacts(
            KIND, device.path, artifacts, layout.artifacts, medium.root, layout.per_device
        )

    def _release(self, medium: MountedMedium) -> None:
        medium.close()
        self._mounted.remove(medium)

    def _private_base(self) -> Path:
        if self._base is None:
            parent = self._s.mount_base
            if parent is not None:
                parent.mkdir(parents=True, exist_ok=True)
            self._base = Path(tempfile.mkdtemp(prefix="sztp-media-", dir=parent))
            os.chmod(self._base, 0o700)
        return self._base

    def unmount_all(self) -> None:
        """Unmount every medium still mounted; the first failure is raised after all were
        tried."""
        failure: MediaMountError | None = None
        while self._mounted:
            medium = self._mounted.pop()
            try:
                medium.close()
            except MediaMountError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def close(self) -> None:
        """Unmount everything and remove the private directory."""
        try:
            self.unmount_all()
        finally:
            if self._base is not None:
                with contextlib.suppress(OSError):
                    self._base.rmdir()
                self._base = None

    def __enter__(self) -> RemovableMediaSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
