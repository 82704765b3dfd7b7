"""The boot-image step with real files and processes (R-069..R-073, D17, D24)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from sztp_client.actions import image as img
from sztp_client.actions.image import (
    fetch_verified_image,
    read_boot_id,
    read_os_release,
)
from sztp_client.actions.installers import ABDirectoryInstaller, CommandInstaller
from sztp_client.errors import BootImageError, ConnectError, ServerError
from sztp_client.model.conveyed import SHA_256, BootImage, ImageVerification
from sztp_client.progress import ProgressType
from sztp_client.protocol.image_policy import (
    RunningSystem,
    image_matches_running,
    supported_digest,
)

IMAGE = b"VendorOS 17.3 image\n" * 1000
DIGEST = hashlib.sha256(IMAGE).digest()


def boot_image(
    uris: tuple[str, ...] = ("https://mirror-1.example/os.img", "https://mirror-2.example/os.img"),
    digest: bytes = DIGEST,
    algorithm: str = SHA_256,
    os_name: str | None = "VendorOS",
    os_version: str | None = "17.3",
) -> BootImage:
    return BootImage(os_name, os_version, uris, (ImageVerification(algorithm, digest),))


class FakeDownloader:
    """Serves content per URI (or raises), writing in chunks through the space check."""

    def __init__(self, content: dict[str, bytes | Exception]) -> None:
        self.content = content
        self.calls: list[str] = []
        self.seen_files: list[Path] = []

    def __call__(self, uri: str, out: BinaryIO, check: Callable[[int], None]) -> bytes:
        self.calls.append(uri)
        self.seen_files.append(Path(out.name))
        data = self.content[uri]
        if isinstance(data, Exception):
            out.write(b"partial")
            raise data
        check(len(data))
        digest = hashlib.sha256()
        for start in range(0, len(data), 4096):
            chunk = data[start : start + 4096]
            out.write(chunk)
            digest.update(chunk)
            check(start + len(chunk))
        return digest.digest()


# -- image_matches_running (D17) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "version", "running", "expected"),
    [
        ("VendorOS", "17.3", RunningSystem("VendorOS", "17.3"), True),
        ("VendorOS", None, RunningSystem("VendorOS", "1.0"), True),
        (None, "17.3", RunningSystem("Other", "17.3"), True),
        ("VendorOS", "17.3", RunningSystem("VendorOS", "17.2"), False),
        ("VendorOS", "17.3", RunningSystem("Other", "17.3"), False),
        ("VendorOS", None, RunningSystem(None, None), False),
        (None, None, RunningSystem("VendorOS", "17.3"), False),
        (None, None, RunningSystem(None, None), False),
        ("vendoros", "17.3", RunningSystem("VendorOS", "17.3"), False),
    ],
)
def test_image_matches_running(
    name: str | None, version: str | None, running: RunningSystem, expected: bool
) -> None:
    image = BootImage(os_name=name, os_version=version)
    assert image_matches_running(image, running) is expected


# -- supported_digest --------------------------------------------------------------------------


def test_supported_digest() -> None:
    assert supported_digest(boot_image()) == DIGEST
    two = BootImage(
        None,
        None,
        ("https://x.example/i",),
        (
            ImageVerification("example-mod:sha3-512", b"\x01" * 64),
            ImageVerification("sha-256", DIGEST),
        ),
    )
    assert supported_digest(two) == DIGEST


def test_no_verification_is_refused() -> None:
    with pytest.raises(BootImageError, match="cannot be verified"):
        supported_digest(BootImage("VendorOS", None, ("https://x.example/i",)))


# -- fetch_verified_image (R-070, R-071, R-073) -----------------------------------------------


def test_first_mirror_fails_second_is_used(tmp_path: Path) -> None:
    image = boot_image()
    download = FakeDownloader(
        {
            image.download_uris[0]: ServerError("404 Not Found", status=404),
            image.download_uris[1]: IMAGE,
        }
    )
    verified = fetch_verified_image(image, tmp_path, download)
    assert download.calls == list(image.download_uris)
    assert verified.sha256 == DIGEST
    assert verified.path.read_bytes() == IMAGE
    assert verified.path.parent == tmp_path
    assert stat.S_IMODE(verified.path.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [verified.path]  # the partial first file is gone
    assert not download.seen_files[0].exists()


def test_first_mirror_ok_stops(tmp_path: Path) -> None:
    image = boot_image()
    download = FakeDownloader({image.download_uris[0]: IMAGE})
    fetch_verified_image(image, tmp_path, download)
    assert download.calls == [image.download_uris[0]]


def test_digest_mismatch_everywhere(tmp_path: Path) -> None:
    """R-071: a corrupted image is never kept; the error lists each URI and why."""
    image = boot_image()
    corrupt = bytearray(IMAGE)
    corrupt[100] ^= 1
    download = FakeDownloader(
        {image.download_uris[0]: bytes(corrupt), image.download_uris[1]: ConnectError("refused")}
    )
    with pytest.raises(BootImageError) as info:
        fetch_verified_image(image, tmp_path, download)
    message = info.value.message
    assert "https://mirror-1.example/os.img: SHA-256 mismatch" in message
    assert "https://mirror-2.example/os.img: refused" in message
    assert info.value.reported_as() is ProgressType.BOOT_IMAGE_ERROR
    assert list(tmp_path.iterdir()) == []


def test_unsupported_hash_downloads_nothing(tmp_path: Path) -> None:
    """R-056, D13: no supported hash algorithm: boot-image error before any download."""
    image = boot_image(algorithm="example-mod:md5", digest=b"\x00" * 16)
    download = FakeDownloader({})
    with pytest.raises(BootImageError, match="no supported hash algorithm"):
        fetch_verified_image(image, tmp_path / "dl", download)
    assert download.calls == []
    assert not (tmp_path / "dl").exists()


def test_disk_space_check_during_download(tmp_path: Path) -> None:
    """D19: the space check refuses the write; no other mirror is tried, nothing is left."""
    image = boot_image()
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    huge = b"x" * 10
    download_calls: list[str] = []

    def download(uri: str, out: BinaryIO, check: Callable[[int], None]) -> bytes:
        download_calls.append(uri)
        out.write(huge)
        check(free + 1)  # "the server announced more than the disk holds"
        raise AssertionError("the space check should have raised")

    with pytest.raises(BootImageError, match="not enough free space"):
        fetch_verified_image(image, tmp_path, download)
    assert download_calls == [image.download_uris[0]]
    assert list(tmp_path.iterdir()) == []


def test_disk_space_refusal_wrapped_by_downloader_still_stops(tmp_path: Path) -> None:
    image = boot_image()
    calls: list[str] = []

    def download(uri: str, out: BinaryIO, check: Callable[[int], None]) -> bytes:
        calls.append(uri)
        try:
            check(2**62)
        except BootImageError as exc:
            raise ConnectError(f"download aborted: {exc}") from exc
        raise AssertionError("the space check should have raised")

    with pytest.raises(BootImageError, match="not enough free space"):
        fetch_verified_image(image, tmp_path, download)
    assert calls == [image.download_uris[0]]
    assert list(tmp_path.iterdir()) == []


def test_space_check_counts_what_is_already_written(tmp_path: Path) -> None:
    """The check after a chunk does not count the written bytes twice: with a reserve that
    leaves room for the image once (plus half), the whole download passes."""
    image = boot_image(uris=("https://mirror-1.example/os.img",))
    size = 16 * 1024 * 1024
    data = b"\x5a" * size
    free = shutil.disk_usage(tmp_path).free
    reserve = free - size - size // 2  # room for 1.5 images, not for two
    seen: list[int] = []

    def download(uri: str, out: BinaryIO, check: Callable[[int], None]) -> bytes:
        check(size)
        for start in range(0, size, 1024 * 1024):
            out.write(data[start : start + 1024 * 1024])
            out.flush()
            seen.append(start + 1024 * 1024)
            check(start + 1024 * 1024)
        return hashlib.sha256(data).digest()

    verified = fetch_verified_image(
        boot_image(uris=image.download_uris, digest=hashlib.sha256(data).digest()),
        tmp_path,
        download,
        min_free_bytes=reserve,
    )
    assert verified.path.stat().st_size == size
    assert seen[-1] == size


def test_disk_space_reserve_checked_before_download(tmp_path: Path) -> None:
    image = boot_image()
    download = FakeDownloader({image.download_uris[0]: IMAGE})
    with pytest.raises(BootImageError, match="must stay free"):
        fetch_verified_image(image, tmp_path, download, min_free_bytes=2**62)
    assert download.calls == []


def test_downloader_digest_must_match_file(tmp_path: Path) -> None:
    image = boot_image(uris=("https://mirror-1.example/os.img",))

    def lying(uri: str, out: BinaryIO, check: Callable[[int], None]) -> bytes:
        out.write(IMAGE)
        return b"\x00" * 32

    with pytest.raises(BootImageError, match="differs from the file"):
        fetch_verified_image(image, tmp_path, lying)
    assert list(tmp_path.iterdir()) == []


def test_unexpected_exception_cleans_up(tmp_path: Path) -> None:
    image = boot_image()

    def broken(uri: str, out: BinaryIO, check: Callable[[int], None]) -> bytes:
        out.write(b"half")
        raise KeyError("bug")

    with pytest.raises(KeyError):
        fetch_verified_image(image, tmp_path, broken)
    assert list(tmp_path.iterdir()) == []


def test_no_uris(tmp_path: Path) -> None:
    image = BootImage("VendorOS", "17.3")
    with pytest.raises(BootImageError):
        fetch_verified_image(image, tmp_path, FakeDownloader({}))


def test_password_not_in_message(tmp_path: Path) -> None:
    image = boot_image(uris=("https://user:s3cret@mirror.example/os.img",))
    download = FakeDownloader({image.download_uris[0]: ConnectError("refused")})
    with pytest.raises(BootImageError) as info:
        fetch_verified_image(image, tmp_path, download)
    assert "s3cret" not in info.value.message
    assert "https://user:***@mirror.example/os.img" in info.value.message


# -- CommandInstaller --------------------------------------------------------------------------


def write_tool(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o700)
    return path


@pytest.mark.subprocess
def test_command_installer_success(tmp_path: Path) -> None:
    image_file = tmp_path / "os.img"
    image_file.write_bytes(IMAGE)
    record = tmp_path / "record"
    tool = write_tool(
        tmp_path / "install.sh",
        f'{{ echo "args=$*"; env | sort; cat "$1" | sha256sum; }} > {record}\n',
    )
    installer = CommandInstaller([str(tool), "--image={image}"])
    assert installer.name == "command"
    installer.install(image_file, boot_image(), DIGEST)
    lines = record.read_text().splitlines()
    assert lines[0] == f"args=--image={image_file}"
    env = dict(line.split("=", 1) for line in lines[1:-1])
    env.pop("PWD", None)
    env.pop("SHLVL", None)
    env.pop("_", None)
    assert env == {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "SZTP_IMAGE": str(image_file),
        "SZTP_IMAGE_SHA256": DIGEST.hex(),
        "SZTP_OS_NAME": "VendorOS",
        "SZTP_OS_VERSION": "17.3",
    }


@pytest.mark.subprocess
def test_command_installer_appends_path(tmp_path: Path) -> None:
    image_file = tmp_path / "os.img"
    image_file.write_bytes(IMAGE)
    record = tmp_path / "record"
    tool = write_tool(tmp_path / "install.sh", f'echo "$#:$1:$2" > {record}\n')
    CommandInstaller([str(tool), "flash"]).install(
        image_file, boot_image(os_name=None, os_version=None), DIGEST
    )
    assert record.read_text() == f"2:flash:{image_file}\n"


@pytest.mark.subprocess
def test_command_installer_failure_carries_output(tmp_path: Path) -> None:
    image_file = tmp_path / "os.img"
    image_file.write_bytes(IMAGE)
    tool = write_tool(tmp_path / "install.sh", "echo 'flash write failed at block 7' >&2\nexit 3\n")
    with pytest.raises(BootImageError) as info:
        CommandInstaller([str(tool)]).install(image_file, boot_image(), DIGEST)
    assert "exited with status 3" in info.value.message
    assert "flash write failed at block 7" in info.value.message


@pytest.mark.subprocess
def test_command_installer_timeout_kills_group(tmp_path: Path) -> None:
    image_file = tmp_path / "os.img"
    image_file.write_bytes(IMAGE)
    pid_file = tmp_path / "pid"
    tool = write_tool(tmp_path / "install.sh", f"sleep 300 &\necho $! > {pid_file}\nwait\n")
    started = time.monotonic()
    with pytest.raises(BootImageError, match=r"timed out after 0\.5 s"):
        CommandInstaller([str(tool)], timeout=0.5).install(image_file, boot_image(), DIGEST)
    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the installer's child process survived the timeout")


@pytest.mark.subprocess
def test_command_installer_missing_command(tmp_path: Path) -> None:
    with pytest.raises(BootImageError, match="cannot start"):
        CommandInstaller([str(tmp_path / "missing")]).install(tmp_path, boot_image(), DIGEST)
    with pytest.raises(ValueError):
        CommandInstaller([])


# -- ABDirectoryInstaller ----------------------------------------------------------------------


def test_ab_directory_install_boot_and_running_system(tmp_path: Path) -> None:
    root = tmp_path / "slots"
    image_file = tmp_path / "os.img"
    image_file.write_bytes(IMAGE)
    installer = ABDirectoryInstaller(root)
    assert installer.name == "ab-directory"
    assert ABDirectoryInstaller.running_system(root) == RunningSystem(None, None)

    installer.install(image_file, boot_image(), DIGEST)
    assert (root / "b" / "image").read_bytes() == IMAGE  # "a" is active by default
    assert not (root / "a").exists()
    record = json.loads((root / "b" / "image.json").read_text())
    assert record["sha256"] == DIGEST.hex()
    assert (record["os-name"], record["os-version"]) == ("VendorOS", "17.3")
    assert record["installed-at"].endswith("Z")
    assert (root / "next").read_text().strip() == "b"
    assert not (root / "active").exists()
    assert sorted(p.name for p in (root / "b").iterdir()) == ["image", "image.json"]
    # still running the old system until the boot
    assert ABDirectoryInstaller.running_system(root) == RunningSystem(None, None)

    assert ABDirectoryInstaller.simulate_boot(root) == "b"
    assert not (root / "next").exists()
    assert ABDirectoryInstaller.running_system(root) == RunningSystem("VendorOS", "17.3")
    assert ABDirectoryInstaller.simulate_boot(root) is None

    # the next install goes to the now inactive slot "a"
    newer = b"VendorOS 18.1\n" * 10
    newer_file = tmp_path / "os18.img"
    newer_file.write_bytes(newer)
    installer.install(newer_file, boot_image(os_version="18.1"), hashlib.sha256(newer).digest())
    assert (root / "a" / "image").read_bytes() == newer
    assert (root / "b" / "image").read_bytes() == IMAGE
    assert (root / "next").read_text().strip() == "a"
    ABDirectoryInstaller.simulate_boot(root)
    assert ABDirectoryInstaller.running_system(root) == RunningSystem("VendorOS", "18.1")


def test_ab_directory_refuses_changed_image(tmp_path: Path) -> None:
    root = tmp_path / "slots"
    image_file = tmp_path / "os.img"
    image_file.write_bytes(IMAGE + b"tampered")
    with pytest.raises(BootImageError, match="changed after verification"):
        ABDirectoryInstaller(root).install(image_file, boot_image(), DIGEST)
    assert not (root / "next").exists()


def test_ab_directory_bad_active_file(tmp_path: Path) -> None:
    root = tmp_path / "slots"
    root.mkdir()
    (root / "active").write_text("c\n")
    image_file = tmp_path / "os.img"
    image_file.write_bytes(IMAGE)
    with pytest.raises(BootImageError, match="not a slot"):
        ABDirectoryInstaller(root).install(image_file, boot_image(), DIGEST)
    assert ABDirectoryInstaller.running_system(root) == RunningSystem(None, None)


# -- what the device runs ----------------------------------------------------------------------


def test_read_os_release(tmp_path: Path) -> None:
    path = tmp_path / "os-release"
    path.write_text(
        '# comment\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n'
    )
    assert read_os_release(path) == RunningSystem("debian", "12")
    path.write_text("NAME='Vendor \"OS\"'\nVERSION_ID=17.3R1\n")
    assert read_os_release(path) == RunningSystem('Vendor "OS"', "17.3R1")
    path.write_text('NAME="Escaped \\"quote\\""\nID=\nVERSION_ID=""\n')
    assert read_os_release(path) == RunningSystem('Escaped "quote"', None)
    assert read_os_release(tmp_path / "missing") == RunningSystem(None, None)


def test_read_boot_id(tmp_path: Path) -> None:
    path = tmp_path / "boot_id"
    path.write_text("0f3c8a52-1d6e-4a5b-9f5e-2a1f0c9d8e7b\n")
    assert read_boot_id(path) == "0f3c8a52-1d6e-4a5b-9f5e-2a1f0c9d8e7b"
    assert read_boot_id(tmp_path / "missing") is None
    path.write_text("\n")
    assert read_boot_id(path) is None


def test_default_reserve_is_64_mib() -> None:
    assert img.DEFAULT_MIN_FREE_BYTES == 64 * 1024 * 1024


def test_ab_directory_links_instead_of_copying_on_one_file_system(tmp_path: Path) -> None:
    """A large image is not written twice: on the same file system the verified file is
    hard-linked into the slot (and still re-hashed there)."""
    image_file = tmp_path / "cache" / "os.img"
    image_file.parent.mkdir()
    image_file.write_bytes(b"linked image")
    digest = hashlib.sha256(b"linked image").digest()
    boot_image = BootImage(
        os_name="LabOS",
        os_version="2",
        download_uris=("https://images.example/os.img",),
        image_verifications=(ImageVerification("ietf-sztp-conveyed-info:sha-256", digest),),
    )
    ABDirectoryInstaller(tmp_path / "slots").install(image_file, boot_image, digest)
    placed = tmp_path / "slots" / "b" / "image"
    assert placed.stat().st_ino == image_file.stat().st_ino
    assert (placed.stat().st_mode & 0o777) == 0o600
