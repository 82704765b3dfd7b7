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
4. **Keep a medium with artifacts mounted** until the source is released: a ``file:``
   boot-image URI in its onboarding information resolves inside it (the artifacts'
   ``medium`` is the mount root; :func:`~sztp_client.discovery.media_layout.resolve_file_uri`
   refuses ``..`` or a symbolic link leaving it).

The source speaks both interfaces: the discovery one of :mod:`sztp_client.discovery.sources`
(``kind``, ``discover`` giving one finding per device, ``release``; :data:`BUILDERS` builds it
from ``discovery.media.*``) and the session's ``Source`` (``name``, ``detect``, ``fetch``
giving :class:`~sztp_client.protocol.session_events.DeliveredData` with the medium).

Lifetime: the source is a context manager.  The executor enters it (or pushes it on the
``ExitStack`` of the run) before the pass that may fetch it and leaves it, or calls
:meth:`~RemovableMediaSource.release`, only after the onboarding from its artifacts has ended,
whatever the outcome; :meth:`~RemovableMediaSource.close` also removes the private directory.
A new ``discover``/``fetch`` first unmounts what the previous one left.  Every mount is undone
on every path out: a failing read, an exception, an interruption (a mount command that runs
when SIGTERM arrives is let finish, then undone).

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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, Final

from sztp_client.discovery import media_layout
from sztp_client.discovery.errors import MediaMountError
from sztp_client.discovery.sources import (
    TRUST_KIND,
    Builder,
    DiscoveryContext,
    Finding,
    SourceArtifacts,
)
from sztp_client.errors import SZTPError
from sztp_client.files import read_bounded
from sztp_client.interrupt import deferred
from sztp_client.limits import Limits
from sztp_client.protocol.session_events import DeliveredData
from sztp_client.trust.verifier import Artifacts

KIND: Final = "removable-media"
DEFAULT_MOUNT_COMMAND: Final = ("mount", "-o", "ro,nosuid,nodev,noexec")
DEFAULT_UNMOUNT_COMMAND: Final = ("umount",)
FUSEFAT_MOUNT_COMMAND: Final = ("fusefat", "-o", "ro")
COMMAND_TIMEOUT: Final = 30.0
DEFAULT_LIMITS: Final = Limits()
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
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[media_layout.MediumLayout | None, SourceArtifacts | None]:
    """The layout on the medium mounted at ``root`` and its artifacts (``None`` when there is
    no conveyed information), each file read with its bound in ``limits``."""
    layout = media_layout.read_layout(
        DirectoryReader(root), serial_number, directory_name=directory_name
    )
    if layout is None or layout.empty:
        return layout, None

    def read(relative: PurePosixPath | None, limit: int, what: str) -> bytes | None:
        if relative is None:
            return None
        path = media_layout.resolve_in_medium(root, relative)
        return read_bounded(path, limit, f"{what} on the medium")

    conveyed = read(
        layout.conveyed_information, limits.conveyed_information, "the conveyed information"
    )
    assert conveyed is not None  # layout.empty is False
    return layout, SourceArtifacts(
        conveyed_information=conveyed,
        owner_certificate=read(
            layout.owner_certificate, limits.owner_certificate, "the owner certificate"
        ),
        ownership_voucher=read(
            layout.ownership_voucher, limits.ownership_voucher, "the ownership voucher"
        ),
        medium=root,
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
    limits: Limits
    sys_root: Path
    dev_root: Path
    poll_interval: float


class RemovableMediaSource:
    """The ``removable-media`` discovery source.

    ``detect`` tells whether a device that counts is present (no mounting).  ``discover``
    mounts each in turn and gives one :class:`~sztp_client.discovery.sources.Finding` per
    device: its artifacts (their ``medium`` the mount root) or why it gave none.  ``fetch`` is
    the session's view of the same: a :class:`~sztp_client.protocol.session_events.
    DeliveredData` per medium with conveyed information.  A medium with artifacts stays
    mounted until :meth:`release` / :meth:`close` (or the end of the ``with`` block); a new
    ``discover`` or ``fetch`` first unmounts what the previous one left.

    ``use_udev``: ``None`` (default) uses udev when udevd runs and pyudev is importable,
    ``True`` requires it, ``False`` polls sysfs.
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
        limits: Limits = DEFAULT_LIMITS,
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
            limits,
            sys_root,
            dev_root,
            poll_interval,
        )
        self._mounted: list[MountedMedium] = []
        self._findings: tuple[Finding, ...] = ()
        self._base: Path | None = None

    @property
    def name(self) -> str:
        return KIND

    @property
    def kind(self) -> str:
        return KIND

    @property
    def findings(self) -> tuple[Finding, ...]:
        """What each device gave in the last :meth:`discover` (or :meth:`fetch`)."""
        return self._findings

    @property
    def summary(self) -> str:
        """What the last fetch saw, for the message of a pass that found nothing."""
        if not self._findings:
            return "no removable medium present"
        return "; ".join(
            f"{finding.origin}: {finding.error or 'artifacts'}" for finding in self._findings
        )

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

    def discover(self) -> Sequence[Finding]:
        """Mount each device that counts, read its layout, and give one finding per device;
        the media with conveyed information stay mounted.  What a medium holds never raises
        (it is the finding's ``error``); an interruption unmounts and propagates."""
        self.release()
        findings = []
        for device in self.candidates():
            try:
                findings.append(self._read_device(device))
            except (SZTPError, OSError) as exc:
                findings.append(Finding(KIND, device.path, error=str(exc)))
        self._findings = tuple(findings)
        return self._findings

    def fetch(self) -> Sequence[DeliveredData]:
        """:meth:`discover` as the session takes it: the data of each medium, to verify as
        data from removable storage, with the medium its ``file:`` URIs resolve in."""
        delivered = []
        for finding in self.discover():
            found = finding.artifacts
            if found is None:
                continue
            artifacts = Artifacts(
                found.conveyed_information, found.owner_certificate, found.ownership_voucher
            )
            delivered.append(
                DeliveredData(artifacts, TRUST_KIND[KIND], finding.origin, found.medium)
            )
        return delivered

    def _read_device(self, device: BlockDevice) -> Finding:
        with deferred():  # a mounted medium is always on the list release() unmounts
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
                limits=self._s.limits,
            )
        except BaseException:
            self._unmount(medium)
            raise
        if layout is None or artifacts is None:
            self._unmount(medium)
            reason = (
                f"no folder {self._s.directory_name!r} at the medium's root"
                if layout is None
                else f"no conveyed information in {layout.folder}"
            )
            return Finding(KIND, device.path, error=reason)
        return Finding(KIND, device.path, artifacts=artifacts)

    def _unmount(self, medium: MountedMedium) -> None:
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

    def release(self) -> None:
        """Unmount every medium still mounted; the first failure is raised after all were
        tried."""
        failure: MediaMountError | None = None
        while self._mounted:
            medium = self._mounted[-1]
            try:
                medium.close()
            except MediaMountError as exc:
                failure = failure or exc
            self._mounted.pop()
        if failure is not None:
            raise failure

    def close(self) -> None:
        """Unmount everything and remove the private directory."""
        try:
            self.release()
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


def build(context: DiscoveryContext) -> Sequence[RemovableMediaSource]:
    """The ``removable-media`` source for this configuration (``discovery.media.*``)."""
    media = context.config.discovery.media
    return [
        RemovableMediaSource(
            context.serial_number,
            directory_name=media.directory_name,
            devices=media.devices,
            mount_command=media.mount_command,
            unmount_command=media.unmount_command,
            limits=context.config.limits,
        )
    ]


BUILDERS: dict[str, Builder] = {KIND: build}
