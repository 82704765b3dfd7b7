"""The removable-media source against real media (R-111..R-114, D7): FAT images written with
mtools and mounted read-only with fusefat (this kernel has no vfat), ext4 images mounted by the
kernel, both on loop devices; media noticed by polling sysfs and through pyudev with udevd
running in a private mount namespace; every mount undone on every path out.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sztp_client.discovery import media_layout, media_source
from sztp_client.discovery.errors import MediaPathError
from sztp_client.discovery.media_devices import BlockDevice
from sztp_client.discovery.media_mount import DEFAULT_MOUNT_COMMAND, FUSEFAT_MOUNT_COMMAND
from sztp_client.discovery.media_source import RemovableMediaSource
from sztp_client.discovery.sources import Finding, SourceArtifacts
from sztp_client.limits import Limits
from sztp_client.progress import ProgressType
from sztp_client.trust.sources import SourceKind
from tests.conftest import require
from tests.helpers import media as hm
from tests.support import SERIAL

pytestmark = pytest.mark.integration

CONVEYED = b"conveyed information, per device"
OWNER = b"owner certificate"
VOUCHER = b"ownership voucher"
SHARED = b"conveyed information, any device"
BOOT = b"boot image bytes"
FAT_FUSE = [*FUSEFAT_MOUNT_COMMAND, "{device}", "{directory}"]
UDEV_CHILD = Path(__file__).parent.parent / "helpers" / "media_udev_child.py"


def per_device_files(serial: str) -> dict[str, bytes]:
    return {
        f"SZTP/{serial}/CONVEYED-INFORMATION.CMS": CONVEYED,
        f"SZTP/{serial}/OWNER-CERTIFICATE.CMS": OWNER,
        f"SZTP/{serial}/OWNERSHIP-VOUCHER.CMS": VOUCHER,
        "SZTP/CONVEYED-INFORMATION.CMS": SHARED,
        "IMAGES/BOOT.IMG": BOOT,
    }


INDEPENDENT = {
    "SZTP/CONVEYED-INFORMATION.CMS": SHARED,
    "SZTP/OWNERSHIP-VOUCHER.VCJ": VOUCHER,
    "SZTP/OTHER-SERIAL/CONVEYED-INFORMATION.CMS": CONVEYED,
    "IMAGES/BOOT.IMG": BOOT,
}


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    require(os.geteuid() == 0, "root (loop devices and mounts)")
    require(hm.tools_present("losetup", "mformat", "mmd", "mcopy"), "util-linux and mtools")
    require(hm.tools_present("fusefat", "mkfs.ext4", "umount"), "fusefat and e2fsprogs")


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "mounts"


def source_for(device: str, base: Path, fat: bool, **kwargs: object) -> RemovableMediaSource:
    return RemovableMediaSource(
        SERIAL,
        devices=[device],
        mount_command=FAT_FUSE if fat else DEFAULT_MOUNT_COMMAND,
        mount_base=base,
        use_udev=False,
        **kwargs,  # type: ignore[arg-type]
    )


def medium(tmp_path: Path, fat: bool, files: dict[str, bytes], **kw: object) -> Path:
    image = tmp_path / ("fat.img" if fat else "ext4.img")
    if fat:
        return hm.build_fat(image, files)
    return hm.build_ext4(image, files, **kw)  # type: ignore[arg-type]


def only_medium(source: RemovableMediaSource) -> tuple[Finding, SourceArtifacts]:
    """The one finding of ``source`` and its artifacts (their medium still mounted)."""
    (finding,) = source.discover()
    assert finding.error is None and finding.artifacts is not None, finding
    assert finding.artifacts.medium is not None
    return finding, finding.artifacts


def nothing_from(source: RemovableMediaSource) -> str:
    """Why the one device of ``source`` gave nothing."""
    (finding,) = source.discover()
    assert finding.artifacts is None and finding.error, finding
    return finding.error


def assert_all_unmounted(base: Path) -> None:
    assert hm.mounts_below(base) == []
    assert not base.exists() or list(base.iterdir()) == []


@pytest.mark.parametrize("fat", [True, False], ids=["fat-fusefat", "ext4-kernel"])
def test_per_device_layout_read_from_a_read_only_mount(
    tmp_path: Path, base: Path, fat: bool
) -> None:
    """R-111, R-112, D7: the folder named after the serial number wins over the files for any
    device; upper-case names match; the medium is mounted read-only and stays mounted until
    the source is closed; a file: URI resolves inside it (R-114)."""
    image = medium(tmp_path, fat, per_device_files(SERIAL))
    with hm.attached(image) as device, source_for(device, base, fat) as source:
        assert source.detect()
        finding, found = only_medium(source)
        assert finding.kind == "removable-media"
        assert finding.origin == device
        assert found.conveyed_information == CONVEYED  # the device's folder, not the shared one
        assert found.owner_certificate == OWNER
        assert found.ownership_voucher == VOUCHER
        assert found.names == ("conveyed-information", "owner-certificate", "ownership-voucher")
        assert found.medium is not None
        assert hm.mounts_below(base) == [str(found.medium)]
        assert "ro" in mount_options(found.medium)
        with pytest.raises(OSError):
            (found.medium / "written").write_bytes(b"x")
        boot = media_layout.resolve_file_uri(found.medium, "file:///IMAGES/BOOT.IMG")
        assert boot.read_bytes() == BOOT
    assert_all_unmounted(base)


@pytest.mark.parametrize("fat", [True, False], ids=["fat-fusefat", "ext4-kernel"])
def test_device_independent_layout(tmp_path: Path, base: Path, fat: bool) -> None:
    """D7: without a folder for this serial number the files directly in the folder are used
    (a folder for another device is not), the JSON voucher form included."""
    image = medium(tmp_path, fat, INDEPENDENT)
    with hm.attached(image) as device, source_for(device, base, fat) as source:
        _finding, found = only_medium(source)
        assert found.conveyed_information == SHARED
        assert found.owner_certificate is None
        assert found.ownership_voucher == VOUCHER
        assert found.medium is not None
        # FAT matches names without regard to case; ext4 takes the URI as spelled
        uri = "file:images/boot.img" if fat else "file:IMAGES/BOOT.IMG"
        assert media_layout.resolve_file_uri(found.medium, uri).read_bytes() == BOOT
    assert_all_unmounted(base)


def test_lower_case_serial_folder_on_ext4(tmp_path: Path, base: Path) -> None:
    """D7: the serial number's folder matches without regard to case."""
    files = {f"sztp/{SERIAL.lower()}/conveyed-information.cms": CONVEYED}
    image = medium(tmp_path, False, files)
    with hm.attached(image) as device, source_for(device, base, False) as source:
        _finding, found = only_medium(source)
        assert found.conveyed_information == CONVEYED


@pytest.mark.parametrize("fat", [True, False], ids=["fat-fusefat", "ext4-kernel"])
def test_file_uri_leaving_the_medium_refused(tmp_path: Path, base: Path, fat: bool) -> None:
    """R-114: ``..`` past the root, another host, and (ext4) symbolic links that lead out of
    the medium are refused as a boot-image-error; the host's files are never reached."""
    files = per_device_files(SERIAL)
    links = {"IMAGES/ESCAPE.IMG": "/etc/passwd", "OUT": "/etc"} if not fat else None
    image = medium(tmp_path, fat, files, **({"symlinks": links} if links else {}))
    uris = ["file:../etc/passwd", "file:///IMAGES/../../etc/passwd", "file://host/IMAGES/BOOT.IMG"]
    if not fat:
        uris += ["file:IMAGES/ESCAPE.IMG", "file:OUT/passwd"]
    with hm.attached(image) as device, source_for(device, base, fat) as source:
        _finding, found = only_medium(source)
        assert found.medium is not None
        for uri in uris:
            with pytest.raises(MediaPathError) as caught:
                media_layout.resolve_file_uri(found.medium, uri)
            assert caught.value.reported_as() is ProgressType.BOOT_IMAGE_ERROR
    assert_all_unmounted(base)


@pytest.mark.parametrize("fat", [True, False], ids=["fat-fusefat", "ext4-kernel"])
def test_medium_of_another_layout_is_ignored_and_unmounted(
    tmp_path: Path, base: Path, fat: bool
) -> None:
    """R-113: a medium without the folder gives nothing, is recorded and unmounted at once."""
    image = medium(tmp_path, fat, {"PHOTOS/IMG0001.JPG": b"jpeg"})
    with hm.attached(image) as device, source_for(device, base, fat) as source:
        assert "no folder 'sztp'" in nothing_from(source)
        assert source.findings[0].origin == device
        assert source.fetch() == []
        assert hm.mounts_below(base) == []
    assert_all_unmounted(base)


class TestUnmountOnEveryPath:
    """Every mount is undone however the source is left."""

    def test_ambiguous_names_raise_and_unmount(self, tmp_path: Path, base: Path) -> None:
        files = {"sztp/conveyed-information.cms": b"a", "sztp/CONVEYED-INFORMATION.CMS": b"b"}
        image = medium(tmp_path, False, files)
        with hm.attached(image) as device, source_for(device, base, False) as source:
            assert "ambiguous" in nothing_from(source)
            assert hm.mounts_below(base) == []

    def test_artifact_over_its_bound_refused_and_unmounted(
        self, tmp_path: Path, base: Path
    ) -> None:
        image = medium(tmp_path, True, {"SZTP/CONVEYED-INFORMATION.CMS": b"x" * 5000})
        with (
            hm.attached(image) as device,
            source_for(device, base, True, limits=Limits(conveyed_information=4096)) as source,
        ):
            assert "larger than the limit of 4096 bytes" in nothing_from(source)
            assert hm.mounts_below(base) == []

    def test_interruption_while_reading_unmounts(
        self, tmp_path: Path, base: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def interrupted(*_args: object, **_kwargs: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(media_source, "read_medium", interrupted)
        image = medium(tmp_path, True, INDEPENDENT)
        with hm.attached(image) as device:
            source = source_for(device, base, True)
            with pytest.raises(KeyboardInterrupt):
                source.discover()
            assert hm.mounts_below(base) == []
            source.close()
        assert_all_unmounted(base)

    def test_error_while_onboarding_unmounts(self, tmp_path: Path, base: Path) -> None:
        image = medium(tmp_path, False, INDEPENDENT)
        with hm.attached(image) as device:
            with pytest.raises(RuntimeError), source_for(device, base, False) as source:
                (delivered,) = source.fetch()
                assert delivered.source is SourceKind.REMOVABLE_STORAGE
                assert delivered.origin == device
                assert delivered.artifacts.conveyed_information == SHARED
                assert hm.mounts_below(base) == [str(delivered.medium)]
                raise RuntimeError("an action failed")
            assert_all_unmounted(base)

    def test_next_fetch_unmounts_the_previous_media(self, tmp_path: Path, base: Path) -> None:
        image = medium(tmp_path, True, INDEPENDENT)
        with hm.attached(image) as device, source_for(device, base, True) as source:
            (first,) = source.fetch()
            (second,) = source.fetch()
            assert first.medium != second.medium
            assert hm.mounts_below(base) == [str(second.medium)]
            source.release()
            assert hm.mounts_below(base) == []
        assert_all_unmounted(base)

    def test_failing_mount_command_recorded(self, tmp_path: Path, base: Path) -> None:
        """The kernel's mount on FAT fails here (no vfat): recorded, no directory left."""
        image = medium(tmp_path, True, INDEPENDENT)
        with hm.attached(image) as device, source_for(device, base, False) as source:
            assert "failed (exit status" in nothing_from(source)
        assert_all_unmounted(base)

    def test_missing_mount_command_recorded(self, tmp_path: Path, base: Path) -> None:
        image = medium(tmp_path, True, INDEPENDENT)
        with hm.attached(image) as device:
            source = RemovableMediaSource(
                SERIAL,
                devices=[device],
                mount_command=["/nonexistent/mount-helper"],
                mount_base=base,
                use_udev=False,
            )
            with source:
                assert "is not installed" in nothing_from(source)
        assert_all_unmounted(base)


def mount_options(root: Path) -> set[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if fields[4] == str(root):
                return set(fields[5].split(","))
    raise AssertionError(f"{root} is not mounted")


def test_medium_noticed_by_polling(tmp_path: Path, base: Path) -> None:
    """Issue: media noticed by polling /sys/class/block when udev is not used: the source
    waits, the device is attached, and the wait returns it."""
    image = medium(tmp_path, True, INDEPENDENT)
    found: list[list[BlockDevice]] = []
    with hm.loop_lock():
        device = hm.free_loop()
        source = source_for(device, base, True, poll_interval=0.1)
        assert not source.detect()
        waiter = threading.Thread(target=lambda: found.append(source.wait(120)))
        waiter.start()
        try:
            hm.attach(image, device)
        finally:
            waiter.join(150)
    try:
        assert found and [d.path for d in found[0]] == [device]
        assert found[0][0].filesystem == "vfat"
        with source:
            (delivered,) = source.fetch()
            assert delivered.artifacts.conveyed_information == SHARED
    finally:
        hm.detach(device)
    assert_all_unmounted(base)


@pytest.fixture
def udev_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "50-sztp-test.rules").write_text(
        'SUBSYSTEM=="block", ACTION=="add|change", IMPORT{builtin}="blkid"\n'
    )
    return rules


@pytest.fixture
def udevd() -> Iterator[str]:
    path = shutil.which("systemd-udevd") or "/lib/systemd/systemd-udevd"
    require(os.access(path, os.X_OK), "systemd-udevd (Debian package udev)")
    require(hm.tools_present("unshare"), "unshare (util-linux)")
    require(_has_pyudev(), "pyudev (the udev extra)")
    yield path


def _has_pyudev() -> bool:
    try:
        import pyudev  # noqa: F401
    except ImportError:
        return False
    return True


def test_medium_noticed_through_pyudev(
    tmp_path: Path, base: Path, udev_rules: Path, udevd: str
) -> None:
    """Issue: with udevd running (here in a private mount namespace, its database on a private
    /run/udev and only a blkid rule) the source uses pyudev, waits on udev's monitor, sees the
    filesystem udev found, and reads the medium.  A loop device is not USB to udev: it counts
    because it is named in ``devices``."""
    image = medium(tmp_path, True, per_device_files(SERIAL))
    with hm.loop_lock():
        device = hm.free_loop()
        child = subprocess.Popen(
            [
                "unshare",
                "--mount",
                sys.executable,
                str(UDEV_CHILD),
                json.dumps(
                    {
                        "udevd": udevd,
                        "rules": str(udev_rules),
                        "device": device,
                        "serial": SERIAL,
                        "base": str(base),
                        "mount": FAT_FUSE,
                    }
                ),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            ready = child.stdout.readline()
            assert ready.strip() == "waiting", ready + child.stderr.read()  # type: ignore[union-attr]
            hm.attach(image, device)
        except BaseException:
            child.kill()
            child.wait()
            raise
    try:
        out, err = child.communicate(timeout=180)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        hm.detach(device)
    assert child.returncode == 0, err
    report = json.loads(out)
    assert report["uses_udev"] is True
    assert report["noticed"] == [device]
    assert report["filesystem"] == "vfat"
    assert report["udev_filesystem"] == "vfat"
    assert report["errors"] == [None]
    assert report["conveyed"] == CONVEYED.decode()
    assert report["boot"] == BOOT.decode()
    assert report["mounted_after_close"] == []
    assert not (base.exists() and list(base.iterdir()))


SIGNAL_CHILD = Path(__file__).parent.parent / "helpers" / "media_signal_child.py"


def run_signal_child(device: str, base: Path, mount: list[str]) -> subprocess.Popen[str]:
    arguments = {"device": device, "serial": SERIAL, "base": str(base), "mount": mount}
    return subprocess.Popen(
        [sys.executable, str(SIGNAL_CHILD), json.dumps(arguments)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_while_onboarding_from_the_medium_unmounts(
    tmp_path: Path, base: Path, signal_number: int
) -> None:
    """A real process holding a medium mounted is stopped by SIGTERM (SIGINT): it unmounts on
    the way out and exits 128 + the signal."""
    image = medium(tmp_path, True, INDEPENDENT)
    with hm.attached(image) as device:
        child = run_signal_child(device, base, FAT_FUSE)
        try:
            assert child.stdout is not None
            line = child.stdout.readline().split()
            assert line[:1] == ["mounted"] and len(line) == 2, child.stderr.read()  # type: ignore[union-attr]
            assert hm.mounts_below(base) == [line[1]]
            child.send_signal(signal_number)
            out, err = child.communicate(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == 128 + signal_number, err
        assert out.split() == ["unmounted"]
        assert_all_unmounted(base)


def test_signal_during_the_mount_command_unmounts(tmp_path: Path, base: Path) -> None:
    """SIGTERM while the mount command runs (it has mounted and not yet ended) waits for it to
    end, then unmounts what it mounted."""
    image = medium(tmp_path, True, INDEPENDENT)
    ready = tmp_path / "mount-helper-ran"
    go = tmp_path / "mount-helper-may-end"
    script = (
        'fusefat -o ro "$1" "$2" || exit 1; : > "$READY"; while [ ! -e "$GO" ]; do sleep 0.05; done'
    )
    mount = ["env", f"READY={ready}", f"GO={go}", "sh", "-c", script, "mount-helper"]
    with hm.attached(image) as device:
        child = run_signal_child(device, base, mount)
        try:
            wait_for(ready, child)
            assert len(hm.mounts_below(base)) == 1
            child.send_signal(signal.SIGTERM)
            go.touch()
            out, err = child.communicate(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == 128 + signal.SIGTERM, err
        assert "mounted" not in out.split()
        assert_all_unmounted(base)


def wait_for(path: Path, child: subprocess.Popen[str]) -> None:
    """Until ``path`` exists (the child's helper wrote it); fails if the child ends first."""
    while not path.exists():
        if child.poll() is not None:
            raise AssertionError(f"the child ended first: {child.communicate()}")
        time.sleep(0.05)
