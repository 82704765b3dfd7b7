"""Removable media as a discovery source (RFC 8572 §4.1; R-111..R-114, D7).

What it does, in order:

1. **Notice media** (:mod:`.media_devices`).  When udevd runs (its control socket
   ``/run/udev/control`` exists) and pyudev is installed (the ``udev`` extra, imported only
   then), the block devices come from udev's database and :meth:`RemovableMediaSource.wait`
   sleeps on udev's event monitor; otherwise ``/sys/class/block`` is read and polled.  Which
   devices count: those named by the ``devices`` globs, else the removable or hot-plugged ones
   that carry a filesystem.
2. **Mount read-only** into a private directory (mode 0700) with the configured mount command
   (:mod:`.media_mount`); unmounted with the unmount command.
3. **Read the layout** of :mod:`.media_layout` and the artifact files, each size-bounded
   (:mod:`.media_reader`).  A medium without the folder, or with a folder but no conveyed
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
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

import msgspec

from sztp_client.discovery import media_layout
from sztp_client.discovery.errors import MediaMountError
from sztp_client.discovery.media_devices import (
    BlockDevice,
    list_sysfs_devices,
    list_udev_devices,
    pyudev_module,
    select_devices,
    udev_running,
)
from sztp_client.discovery.media_mount import (
    DEFAULT_MOUNT_COMMAND,
    DEFAULT_UNMOUNT_COMMAND,
    MountedMedium,
)
from sztp_client.discovery.media_reader import DEFAULT_LIMITS, read_medium
from sztp_client.discovery.sources import TRUST_KIND, Builder, DiscoveryContext, Finding
from sztp_client.errors import SZTPError
from sztp_client.interrupt import deferred
from sztp_client.limits import Limits
from sztp_client.protocol.session_events import DeliveredData
from sztp_client.trust.verifier import Artifacts

KIND: Final = "removable-media"


class _Settings(msgspec.Struct):
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
            pyudev_module()
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
        pyudev = pyudev_module()
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
