"""The block devices the removable-media source may read (RFC 8572 §4.1; R-111, D7).

Where devices come from: udev's database (pyudev, the optional ``udev`` extra, imported only
when used) when udevd runs, else ``/sys/class/block``.  Which count
(:func:`select_devices`): with ``devices`` globs (``/dev/sdb1``, ``/dev/sd*``, ``loop7``), the
devices whose path or name matches one of them; without, the default filter: removable (the
disk's ``removable`` attribute) or hot-plugged (attached through USB, MMC/SD or FireWire) block
devices that carry a filesystem.  A loop device is neither, so it counts only when named.

Hand-written: the superblock probe (:func:`probe_filesystem`, a few fixed magic numbers) lets
polling go without udev or blkid.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import msgspec

UDEV_CONTROL: Final = Path("/run/udev/control")
PROBE_SIZE: Final = 68 * 1024
_HOTPLUG_BUSES: Final = ("/usb", "/mmc", "/firewire", "/ieee1394", "/memstick")


class BlockDevice(msgspec.Struct, frozen=True):
    """A block device seen by the source: ``path`` its node (``/dev/sdb1``), ``name`` its
    kernel name, ``filesystem`` the filesystem type found on it (``None``: none recognised)."""

    name: str
    path: str
    removable: bool = False
    hotplug: bool = False
    filesystem: str | None = None


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


def pyudev_module() -> Any:
    """pyudev, the optional ``udev`` extra, imported only when used (it has no type hints);
    :class:`ImportError` when it is not installed."""
    return importlib.import_module("pyudev")


def list_udev_devices(context: Any = None) -> list[BlockDevice]:
    """The block devices in udev's database (pyudev), with udev's filesystem type (probed
    when udev has none)."""
    pyudev = pyudev_module()
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
