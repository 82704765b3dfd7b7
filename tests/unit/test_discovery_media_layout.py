"""The removable-medium layout (R-112, R-113, D7) and ``file:`` URIs inside a medium (R-114)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import pytest

from sztp_client.discovery.errors import MediaLayoutError, MediaPathError
from sztp_client.discovery.media_layout import (
    DirEntry,
    find_entry,
    is_file_uri,
    medium_path,
    read_layout,
    resolve_file_uri,
    resolve_in_medium,
)
from sztp_client.errors import DataError
from sztp_client.progress import ProgressType

SERIAL = "SN-0042"


class FakeMedium:
    """A medium as nested dicts: a dict is a directory, anything else a file."""

    def __init__(self, tree: Mapping[str, object]) -> None:
        self.tree = tree
        self.listed: list[str] = []

    def list_directory(self, path: PurePosixPath, limit: int) -> Sequence[DirEntry]:
        self.listed.append(str(path))
        node: object = self.tree
        for part in path.parts:
            assert isinstance(node, Mapping)
            node = node[part]
        assert isinstance(node, Mapping)
        return [DirEntry(name, isinstance(child, Mapping)) for name, child in node.items()][
            : limit + 1
        ]


FILES = {
    "conveyed-information.cms": b"ci",
    "owner-certificate.cms": b"oc",
    "ownership-voucher.vcj": b"ov",
}


def test_d7_device_independent_files() -> None:
    """R-112, D7: the files directly in ``sztp/`` serve any device."""
    layout = read_layout(FakeMedium({"sztp": dict(FILES), "other": {}}), SERIAL)
    assert layout is not None and not layout.per_device
    assert layout.folder == PurePosixPath("sztp")
    assert layout.conveyed_information == PurePosixPath("sztp/conveyed-information.cms")
    assert layout.owner_certificate == PurePosixPath("sztp/owner-certificate.cms")
    assert layout.ownership_voucher == PurePosixPath("sztp/ownership-voucher.vcj")
    assert layout.artifacts == (
        "conveyed-information.cms",
        "owner-certificate.cms",
        "ownership-voucher.vcj",
    )


def test_r112_per_device_folder_wins_and_the_device_picks_its_own() -> None:
    """R-112 test idea, D7: files for two serials and device-independent files on one medium;
    the device takes its own folder and nothing else."""
    medium = FakeMedium(
        {
            "sztp": {
                **FILES,
                "SN-0041": {"conveyed-information.cms": b"theirs"},
                SERIAL: {"conveyed-information.cms": b"mine", "ownership-voucher.cms": b"v"},
            }
        }
    )
    layout = read_layout(medium, SERIAL)
    assert layout is not None and layout.per_device
    assert layout.conveyed_information == PurePosixPath(f"sztp/{SERIAL}/conveyed-information.cms")
    assert layout.ownership_voucher == PurePosixPath(f"sztp/{SERIAL}/ownership-voucher.cms")
    # never mixed with the device-independent files beside it
    assert layout.owner_certificate is None


def test_d7_per_device_folder_without_files_is_still_chosen() -> None:
    """D7: a folder for this device is used even when it is empty; nothing usable then."""
    layout = read_layout(FakeMedium({"sztp": {**FILES, SERIAL: {}}}), SERIAL)
    assert layout is not None and layout.per_device and layout.empty
    assert layout.artifacts == ()


def test_d7_names_match_without_regard_to_case() -> None:
    """D7: FAT shows names in upper case; folder, serial number and files all match."""
    medium = FakeMedium(
        {
            "SZTP": {
                "SN-0042": {
                    "CONVEYED-INFORMATION.CMS": b"ci",
                    "Owner-Certificate.cms": b"oc",
                    "OWNERSHIP-VOUCHER.CMS": b"ov",
                }
            }
        }
    )
    layout = read_layout(medium, "sn-0042")
    assert layout is not None and layout.per_device
    assert layout.folder == PurePosixPath("SZTP/SN-0042")
    assert layout.conveyed_information == PurePosixPath("SZTP/SN-0042/CONVEYED-INFORMATION.CMS")
    assert layout.owner_certificate == PurePosixPath("SZTP/SN-0042/Owner-Certificate.cms")


def test_r113_medium_of_another_layout_is_ignored() -> None:
    """R-113: a medium without the configured folder (another vendor's layout) gives None."""
    medium = FakeMedium({"othervendor": dict(FILES), "conveyed-information.cms": b"x"})
    assert read_layout(medium, SERIAL) is None
    assert medium.listed == ["."]


def test_r113_manufacturer_unique_folder_name() -> None:
    """R-113, D7: the folder name is the device maker's choice."""
    medium = FakeMedium({"sztp": dict(FILES), "acme-sztp": {"conveyed-information.cms": b"a"}})
    layout = read_layout(medium, SERIAL, directory_name="ACME-SZTP")
    assert layout is not None
    assert layout.conveyed_information == PurePosixPath("acme-sztp/conveyed-information.cms")


def test_d7_files_and_directories_are_not_confused() -> None:
    """D7: a directory called like an artifact is not the artifact, nor a file the folder."""
    medium = FakeMedium({"sztp": {"conveyed-information.cms": {}, SERIAL: b"a file"}})
    layout = read_layout(medium, SERIAL)
    assert layout is not None and not layout.per_device and layout.empty


@pytest.mark.parametrize(
    "tree",
    [
        {"sztp": {}, "SZTP": {}},
        {"sztp": {"sn-0042": {}, "SN-0042": {}}},
        {"sztp": {"conveyed-information.cms": b"", "CONVEYED-INFORMATION.CMS": b""}},
        {"sztp": {"ownership-voucher.cms": b"", "ownership-voucher.vcj": b""}},
    ],
)
def test_d7_ambiguous_names_are_refused(tree: Mapping[str, object]) -> None:
    """D7: two names that match without regard to case, or both voucher forms, are ambiguous."""
    with pytest.raises(MediaLayoutError, match="ambiguous") as caught:
        read_layout(FakeMedium(tree), SERIAL)
    assert isinstance(caught.value, DataError)


def test_d19_directory_size_bound() -> None:
    """D19: a directory with more entries than the bound is refused, typed."""
    medium = FakeMedium({"sztp": {f"f{n}": b"" for n in range(20)}})
    with pytest.raises(MediaLayoutError, match="more than 10 entries"):
        read_layout(medium, SERIAL, max_entries=10)


def test_names_that_cannot_be_in_a_directory_are_never_used() -> None:
    """A reader reporting a name with '/' or '..' cannot make the walk leave the medium."""
    medium = FakeMedium({"sztp": {"..": {}, "a/b": {}, "conveyed-information.cms": b""}})
    assert read_layout(medium, "..") is not None
    assert find_entry([DirEntry("X", True)], "x", directory=False) is None


# ---------------------------------------------------------------------------------------------
# file: URIs, the pure half


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:images/os.img", "images/os.img"),
        ("file:/images/os.img", "images/os.img"),
        ("file:///images/os.img", "images/os.img"),
        ("FILE://localhost/images/os.img", "images/os.img"),
        ("file:images/./a//b/../os.img", "images/a/os.img"),
        ("file:images/os%20v2.img", "images/os v2.img"),
        ("file:%C3%A9t%C3%A9.img", "\u00e9t\u00e9.img"),
    ],
)
def test_r114_file_uri_resolves_relative_to_the_medium(uri: str, path: str) -> None:
    """R-114, D7: a ``file:`` URI names a path relative to the medium's root."""
    assert is_file_uri(uri)
    assert medium_path(uri) == PurePosixPath(path)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("file:../etc/passwd", "leads outside"),
        ("file:///images/../../etc/shadow", "leads outside"),
        ("file:a/%2e%2e/%2E%2E/x", "leads outside"),
        ("file://otherhost/images/os.img", "names the host"),
        ("file:///", "medium itself"),
        ("file:.", "medium itself"),
        ("file:images/os.img?x=1", "query or fragment"),
        ("file:images/os.img#part", "query or fragment"),
        ("file:images/%zz", "two hex digits"),
        ("file:images/%ff", "not UTF-8"),
        ("file:images/a%00b", "control characters"),
        ("file:images\\os.img", "backslashes"),
        ("https://example.com/os.img", "not a file: URI"),
    ],
)
def test_r114_file_uri_refused(uri: str, reason: str) -> None:
    """R-114, D7: ``..`` out of the medium, other hosts and malformed URIs are refused, typed
    as a boot-image error."""
    with pytest.raises(MediaPathError, match=reason) as caught:
        medium_path(uri)
    assert caught.value.reported_as() is ProgressType.BOOT_IMAGE_ERROR


# ---------------------------------------------------------------------------------------------
# file: URIs, the filesystem half (a real directory tree with symbolic links)


@pytest.fixture
def medium(tmp_path: Path) -> Path:
    """A mounted medium's tree beside a secret outside it, with links inward and outward."""
    root = tmp_path / "mnt"
    (root / "images").mkdir(parents=True)
    (root / "images" / "os.img").write_bytes(b"image")
    (tmp_path / "secret").write_bytes(b"outside")
    (root / "images" / "inside-link.img").symlink_to("os.img")
    (root / "images" / "outside-link.img").symlink_to(tmp_path / "secret")
    (root / "images" / "relative-escape.img").symlink_to("../../secret")
    (root / "escape-dir").symlink_to(tmp_path)
    (root / "loop").symlink_to("loop")
    (root / "dangling").symlink_to("nowhere")
    return root


def test_r114_file_uri_on_the_medium_is_found(medium: Path) -> None:
    """R-114: a file on the medium, directly or through a link that stays on it."""
    assert resolve_file_uri(medium, "file:///images/os.img") == medium / "images" / "os.img"
    assert resolve_file_uri(medium, "file:images/inside-link.img").read_bytes() == b"image"


@pytest.mark.parametrize(
    "uri",
    [
        "file:images/outside-link.img",
        "file:images/relative-escape.img",
        "file:escape-dir/secret",
    ],
)
def test_r114_symlink_leaving_the_medium_refused(medium: Path, uri: str) -> None:
    """R-114, D7: a symbolic link on the medium whose target is outside it is refused, a file
    link or a directory link, absolute or relative."""
    with pytest.raises(MediaPathError, match="outside the medium"):
        resolve_file_uri(medium, uri)


@pytest.mark.parametrize("uri", ["file:loop", "file:dangling", "file:images", "file:nothing"])
def test_r114_not_a_file_on_the_medium(medium: Path, uri: str) -> None:
    """R-114: a directory, a missing file, a link loop or a dangling link is not an image."""
    with pytest.raises(MediaPathError, match="not a file on the medium"):
        resolve_file_uri(medium, uri)


def test_r114_mount_root_itself_a_symlink(medium: Path, tmp_path: Path) -> None:
    """R-114: containment is checked against the real mount root."""
    link = tmp_path / "mnt-link"
    os.symlink(medium, link)
    assert resolve_file_uri(link, "file:images/os.img") == medium.resolve() / "images" / "os.img"


@pytest.mark.parametrize("relative", ["/etc/passwd", "../secret", "", "a\x00b"])
def test_r114_resolve_refuses_paths_medium_path_never_returns(medium: Path, relative: str) -> None:
    """R-114: the filesystem half refuses absolute and climbing paths on its own too."""
    with pytest.raises(MediaPathError):
        resolve_in_medium(medium, PurePosixPath(relative))
