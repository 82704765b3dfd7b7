"""Discovery end to end: the real ``sztp-client`` finds its bootstrapping data through the
sources of ``discovery.order`` and bootstraps (R-014, R-111..R-114, D1, D7), and
``sztp-client discover`` says what each source yields without contacting a server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sztp_client.discovery.media_mount import FUSEFAT_MOUNT_COMMAND
from sztp_lab.scenario import Device
from tests.conftest import require
from tests.e2e.conftest import SERIAL, Env
from tests.helpers import media as hm

FAT_FUSE = [*FUSEFAT_MOUNT_COMMAND, "{device}", "{directory}"]


def _media_tools() -> None:
    require(os.geteuid() == 0, "root (loop devices and mounts)")
    require(hm.tools_present("losetup", "mformat", "mmd", "mcopy"), "util-linux and mtools")
    require(hm.tools_present("fusefat", "umount"), "fusefat")


def _mounted(device: str) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        return [line for line in handle if device in line.split(" - ", 1)[-1]]


def _media_device(env: Env, device: str, order: tuple[str, ...] = ("removable-media",)) -> Device:
    return env.device(
        [],
        extra={
            "discovery": {"order": list(order)},
            "discovery.media": {"devices": [device], "mount-command": FAT_FUSE},
        },
    )


def test_r111_device_bootstraps_from_signed_artifacts_on_a_fat_medium(
    env: Env, tmp_path: Path
) -> None:
    """D1, D7, R-111, R-112: a FAT medium (fusefat, read-only) holds signed artifacts in the
    per-device folder, names in upper case; the device finds it as its first source, verifies
    the data as from removable storage, applies the configuration and ends bootstrapped; the
    status records the medium and what became of it; the medium is unmounted afterwards."""
    _media_tools()
    signed = env.signed(env.onboarding(configuration={"hostname": "from-the-medium"}))
    files = {
        f"SZTP/{SERIAL}/CONVEYED-INFORMATION.CMS": signed.conveyed_information,
        f"SZTP/{SERIAL}/OWNER-CERTIFICATE.CMS": signed.owner_certificate or b"",
        f"SZTP/{SERIAL}/OWNERSHIP-VOUCHER.CMS": signed.ownership_voucher or b"",
    }
    image = hm.build_fat(tmp_path / "medium.img", files)
    with hm.attached(image) as loop:
        device = _media_device(env, loop, ("removable-media", "configured"))
        result = device.run("run", "--once")
        assert result.returncode == 0, result.stdout + result.stderr
        assert _mounted(loop) == []
    assert json.loads(device.config_file.read_text())["hostname"] == "from-the-medium"
    status = device.status()
    assert status["state"] == "bootstrapped"
    [medium] = [s for s in status["sources"] if s["kind"] == "removable-media"]
    assert medium["origin"] == loop
    assert medium["artifacts"] == ["conveyed-information", "owner-certificate", "ownership-voucher"]
    assert medium["outcome"] == "bootstrap-complete"
    [attempt] = status["attempts"]
    assert attempt["source"] == "removable-media" and attempt["trust"] == "provisional"


def test_r111_unsigned_onboarding_on_a_medium_refused(env: Env, tmp_path: Path) -> None:
    """R-025, R-111: unsigned onboarding information on a medium is refused (removable
    storage is an untrusted source); nothing is applied; the pass ends with the one message
    naming every source tried."""
    _media_tools()
    unsigned = env.unsigned(env.onboarding(configuration={"hostname": "unsigned"}))
    image = hm.build_fat(tmp_path / "medium.img", {"SZTP/CONVEYED-INFORMATION.CMS": unsigned})
    with hm.attached(image) as loop:
        device = _media_device(env, loop)
        result = device.run("run", "--once")
        assert _mounted(loop) == []
    assert result.returncode != 0, result.stdout + result.stderr
    assert not device.config_file.exists()
    status = device.status()
    assert status["state"] != "bootstrapped"
    assert "untrusted source" in json.dumps(status)


def test_a_pass_that_finds_nothing_names_every_source_tried(env: Env) -> None:
    """Item 1 of discovery: a pass that finds nothing ends with one message listing every
    source tried and why it gave nothing; exit 69."""
    device = env.device(
        [],
        extra={
            "discovery": {"order": ["removable-media", "configured"]},
            "discovery.media": {"devices": ["/nonexistent/sztp-no-such-device*"]},
        },
    )
    result = device.run("run", "--once")
    assert result.returncode == 69, result.stdout + result.stderr
    [line] = [x for x in result.stdout.splitlines() if "no bootstrapping data from any" in x]
    assert "removable-media:" in line and "configured:" in line


def test_discover_lists_what_each_source_yields(env: Env) -> None:
    """``discover --json``: the versioned document, one entry per source and origin; exit 0
    when a source yielded a server; nothing is contacted (the server named does not exist)."""
    device = env.device(
        ["https://127.0.0.1:9"],
        extra={
            "discovery": {"order": ["removable-media", "configured"]},
            "discovery.media": {"devices": ["/nonexistent/sztp-no-such-device*"]},
        },
    )
    result = device.run("discover", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["version"] == 1
    kinds = [entry["kind"] for entry in document["sources"]]
    assert kinds == ["removable-media", "configured"]
    configured = document["sources"][1]
    assert configured["bootstrap-servers"] == ["https://127.0.0.1:9"]
    assert configured["error"] is None
    assert document["sources"][0]["error"]
    text = device.run("discover")
    assert text.returncode == 0 and "configured" in text.stdout


def test_discover_exits_69_when_nothing_is_found(env: Env) -> None:
    device = env.device(
        [],
        extra={
            "discovery": {"order": ["removable-media", "configured"]},
            "discovery.media": {"devices": ["/nonexistent/sztp-no-such-device*"]},
        },
    )
    result = device.run("discover", "--json")
    assert result.returncode == 69, result.stdout + result.stderr
    assert all(entry["error"] for entry in json.loads(result.stdout)["sources"])


@pytest.mark.parametrize("flag", ["--json", "--config"])
def test_discover_help_names_every_option_and_the_exit_codes(env: Env, flag: str) -> None:
    device = env.device([])
    result = device.run("discover", "--help")
    assert result.returncode == 0
    assert flag in result.stdout and "69" in result.stdout


@pytest.mark.parametrize(
    ("uri", "installed"),
    [("file:IMAGES/OS.IMG", True), ("file:../../etc/passwd", False)],
    ids=["inside", "escaping"],
)
def test_r114_file_image_uri_resolves_inside_the_medium(
    env: Env, tmp_path: Path, uri: str, installed: bool
) -> None:
    """R-114, D7: signed onboarding information on a medium names its boot image with a
    ``file:`` URI; the image is read from that medium, verified by its hash and installed, and
    the device reboots into it.  A ``file:`` URI that leaves the medium is refused with a
    boot-image error and nothing is installed."""
    _media_tools()
    image = env.image(size=256 * 1024)
    signed = env.signed(env.onboarding(image=image, uris=[uri]))
    files = {
        f"SZTP/{SERIAL}/CONVEYED-INFORMATION.CMS": signed.conveyed_information,
        f"SZTP/{SERIAL}/OWNER-CERTIFICATE.CMS": signed.owner_certificate or b"",
        f"SZTP/{SERIAL}/OWNERSHIP-VOUCHER.CMS": signed.ownership_voucher or b"",
        "IMAGES/OS.IMG": image.path.read_bytes(),
    }
    medium_image = hm.build_fat(tmp_path / "medium.img", files)
    with hm.attached(medium_image) as loop:
        device = _media_device(env, loop)
        result = device.run("run", "--once")
        assert _mounted(loop) == []
    if installed:
        assert result.returncode == 0, result.stdout + result.stderr
        assert device.reboots == 1
        [installed_image] = device.status()["images"]
        assert installed_image["sha256"] == image.sha256.hex()
        return
    assert result.returncode != 0, result.stdout + result.stderr
    assert device.reboots == 0
    assert not (device.slots / "next").exists()
    error = device.status()["last-error"]
    assert error["type"] == "BootImageError" and "outside the medium" in error["message"]
