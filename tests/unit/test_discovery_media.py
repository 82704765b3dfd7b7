"""The removable-media source's pure parts (R-111, D7): the superblock probe, the device filter,
the command templates, and sysfs polling over a fake tree (no process, no mount)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sztp_client.discovery.media_devices import (
    BlockDevice,
    list_sysfs_devices,
    probe_filesystem,
    select_devices,
)
from sztp_client.discovery.media_mount import command_line
from sztp_client.discovery.media_source import KIND, RemovableMediaSource


def fat_head(kind: bytes = b"FAT16", at: int = 54) -> bytes:
    head = bytearray(4096)
    head[at : at + 5] = kind
    head[510:512] = b"\x55\xaa"
    return bytes(head)


def ext4_head() -> bytes:
    head = bytearray(4096)
    head[1080:1082] = b"\x53\xef"
    return bytes(head)


def test_probe_recognises_the_filesystems_media_carry() -> None:
    assert probe_filesystem(fat_head()) == "vfat"
    assert probe_filesystem(fat_head(b"FAT32", 82)) == "vfat"
    assert probe_filesystem(ext4_head()) == "ext4"
    assert probe_filesystem(b"\0\0\0EXFAT   " + bytes(600)) == "exfat"
    assert probe_filesystem(b"\xeb\x52\x90NTFS    " + bytes(600)) == "ntfs"
    iso = bytearray(70000)
    iso[32769:32774] = b"CD001"
    assert probe_filesystem(bytes(iso)) == "iso9660"


def test_probe_finds_nothing_in_blank_or_short_data() -> None:
    assert probe_filesystem(b"") is None
    assert probe_filesystem(bytes(65536)) is None
    # the boot signature alone (an MBR of a partitioned disk) is no filesystem
    head = bytearray(512)
    head[510:512] = b"\x55\xaa"
    assert probe_filesystem(bytes(head)) is None


DEVICES = [
    BlockDevice("sda1", "/dev/sda1", filesystem="ext4"),
    BlockDevice("sdb", "/dev/sdb", removable=True, filesystem=None),
    BlockDevice("sdb1", "/dev/sdb1", removable=True, filesystem="vfat"),
    BlockDevice("sdc1", "/dev/sdc1", hotplug=True, filesystem="exfat"),
    BlockDevice("loop3", "/dev/loop3", filesystem="vfat"),
]


def test_default_filter_removable_or_hotplugged_with_a_filesystem() -> None:
    """Issue: without globs, removable or hot-plugged devices with a filesystem count; a loop
    device or a fixed disk does not, nor a removable disk without a filesystem."""
    assert [d.name for d in select_devices(DEVICES, [])] == ["sdb1", "sdc1"]


def test_globs_override_the_default_filter() -> None:
    assert [d.name for d in select_devices(DEVICES, ["/dev/loop*"])] == ["loop3"]
    assert [d.name for d in select_devices(DEVICES, ["sda?", "/dev/sdb"])] == ["sda1", "sdb"]
    assert select_devices(DEVICES, ["/dev/nvme*"]) == []


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (["mount", "-o", "ro"], ["mount", "-o", "ro", "/dev/sdb1", "/m/x"]),
        (
            ["fusefat", "-o", "ro", "{device}", "{directory}"],
            ["fusefat", "-o", "ro", "/dev/sdb1", "/m/x"],
        ),
        (["helper", "--dir={directory}"], ["helper", "--dir=/m/x", "/dev/sdb1"]),
        (["helper", "{device}"], ["helper", "/dev/sdb1", "/m/x"]),
    ],
)
def test_mount_command_template(template: list[str], expected: list[str]) -> None:
    """Issue: ``{device}`` and ``{directory}`` are replaced, appended in that order when absent."""
    assert command_line(template, "/dev/sdb1", "/m/x") == expected


def test_unmount_command_takes_the_directory_only() -> None:
    assert command_line(["umount"], None, "/m/x") == ["umount", "/m/x"]
    assert command_line(["fusermount", "-u", "{directory}"], None, "/m/x") == [
        "fusermount",
        "-u",
        "/m/x",
    ]


def fake_block(sys_root: Path, dev_root: Path, name: str, **attrs: str) -> None:
    devices = sys_root / "devices" / attrs.pop("bus", "virtual/block")
    node = devices / name
    node.mkdir(parents=True)
    for key, value in attrs.items():
        if key != "content":
            (node / key).write_text(value + "\n")
    link = sys_root / "class" / "block" / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(node)
    (dev_root / name).write_bytes(attrs.get("content", "").encode("latin-1"))


def test_sysfs_polling_over_a_fake_tree(tmp_path: Path) -> None:
    """Polling reads ``removable``, the bus from the device's real path, and the superblock."""
    sys_root, dev_root = tmp_path / "sys", tmp_path / "dev"
    dev_root.mkdir()
    fake_block(sys_root, dev_root, "vda", size="100", removable="0")
    fake_block(
        sys_root, dev_root, "sdb", size="100", removable="1", content=fat_head().decode("latin-1")
    )
    fake_block(
        sys_root,
        dev_root,
        "sdc",
        size="100",
        removable="0",
        bus="pci0000:00/usb1/1-1/block",
        content=ext4_head().decode("latin-1"),
    )
    fake_block(sys_root, dev_root, "loop0", size="0", removable="0")
    seen = {d.name: d for d in list_sysfs_devices(sys_root, dev_root)}
    assert set(seen) == {"vda", "sdb", "sdc"}  # the empty loop device has no size
    assert seen["sdb"].removable and seen["sdb"].filesystem == "vfat"
    assert seen["sdc"].hotplug and seen["sdc"].filesystem == "ext4"
    assert not seen["vda"].removable and seen["vda"].filesystem is None

    source = RemovableMediaSource("SN1", use_udev=False, sys_root=sys_root, dev_root=dev_root)
    assert source.name == KIND == "removable-media"
    assert [d.name for d in source.candidates()] == ["sdb", "sdc"]
    assert source.detect()
    assert source.wait(0) == source.candidates()
    assert not RemovableMediaSource(
        "SN1", devices=["/nowhere/*"], use_udev=False, sys_root=sys_root, dev_root=dev_root
    ).detect()


def test_no_sysfs_means_no_media(tmp_path: Path) -> None:
    source = RemovableMediaSource("SN1", use_udev=False, sys_root=tmp_path / "none")
    assert not source.detect()
    assert source.wait(0) == []
    source.close()  # nothing mounted: closing is harmless


def test_built_from_the_discovery_media_keys(tmp_path: Path) -> None:
    """Issue: ``discovery.media.*`` reach the source the registry builds for its kind."""
    from sztp_client.config import parse_config
    from sztp_client.discovery.sources import DiscoveryContext, builders

    config = parse_config(
        "[discovery.media]\n"
        'directory-name = "acme-ztp"\n'
        'devices = ["/dev/sdz*"]\n'
        'mount-command = ["fusefat", "-o", "ro"]\n'
        'unmount-command = ["fusermount", "-u"]\n'
        "[limits]\n"
        "owner-certificate = 4096\n",
        tmp_path,
    )
    (source,) = builders()["removable-media"](DiscoveryContext(config, "SN1"))
    assert isinstance(source, RemovableMediaSource)
    assert source.kind == "removable-media"
    settings = source._s
    assert settings.serial_number == "SN1"
    assert settings.directory_name == "acme-ztp"
    assert settings.devices == ("/dev/sdz*",)
    assert settings.mount_command == ("fusefat", "-o", "ro")
    assert settings.unmount_command == ("fusermount", "-u")
    assert settings.limits.owner_certificate == 4096
