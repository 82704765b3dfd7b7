"""End-to-end onboarding error paths over real HTTPS on loopback, with the real client process.

Every error test checks four things: the exit code, the exact sequence of progress reports the
bootstrap server received, which scripts ran, and that nothing changed on the device (the slots,
the configuration file and everything beside it), plus what ``status --json`` says.

R-023, R-040, R-063..R-081 (onboarding and its reports), D3, D4 (scripts), D17, D24 (the boot
image across reboots), D25 (appliers and rollback).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from sztp_lab.artifacts import make_signed_set
from sztp_lab.scenario import Device
from sztp_lab.server import LabBootstrapServer, LabFileServer, Response
from tests.e2e.conftest import Env

pytestmark = pytest.mark.integration

EXIT_OK = 0
EXIT_DATAERR = 65
EXIT_TEMPFAIL = 75

# The device's configuration before bootstrapping: deliberately not in the layout the ``file``
# applier writes (spacing, key order), so that "restored" means "restored byte for byte".
PREVIOUS_CONFIG = b'{"ntp": ["192.0.2.1"],   "hostname": "factory"}\n'
PREVIOUS_MODE = 0o640

VERBOSE_SUCCESS = [
    "bootstrap-initiated",
    "pre-script-initiated",
    "pre-script-complete",
    "config-initiated",
    "config-complete",
    "post-script-initiated",
    "post-script-complete",
    "bootstrap-complete",
]


# -- helpers ------------------------------------------------------------------------------------


def seed_config(device: Device) -> None:
    """Give the device a configuration from before bootstrapping."""
    device.config_file.write_bytes(PREVIOUS_CONFIG)
    os.chmod(device.config_file, PREVIOUS_MODE)


def config_content(device: Device) -> bytes | None:
    return device.config_file.read_bytes() if device.config_file.exists() else None


class Untouched:
    """What the onboarding steps may change, taken before a run, to compare after it."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.files = device.changed_files()
        self.config = config_content(device)
        self.mode = (
            os.stat(device.config_file).st_mode & 0o7777 if self.config is not None else None
        )

    def check(self) -> None:
        assert self.device.changed_files() == self.files
        assert config_content(self.device) == self.config
        if self.config is not None:
            assert os.stat(self.device.config_file).st_mode & 0o7777 == self.mode
        backups = list(self.device.config_file.parent.glob("*.sztp-previous"))
        assert backups == [], "a configuration backup was left behind"


def run_once(device: Device, expected: int) -> str:
    """``run --once``; assert the exit code; return the output (for failure messages)."""
    result = device.run("run", "--once")
    output = result.stdout + result.stderr
    assert result.returncode == expected, output
    return output


def executable(path: Path, body: str) -> Path:
    """A POSIX shell script at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o700)
    return path


def report(server: LabBootstrapServer, progress_type: str) -> dict[str, Any]:
    matching = [
        r for r in server.requests("report-progress") if r["progress-type"] == progress_type
    ]
    assert len(matching) == 1, f"{progress_type} reported {len(matching)} times"
    return matching[0]


def steps(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["step"], s["outcome"]) for s in status["steps"]]


def downloads(files: LabFileServer) -> list[tuple[str, int]]:
    return [(r["path"], r["status"]) for r in files.log if r.get("event") == "file"]


def server_time(record: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(record["time"])


def cached_images(device: Device) -> list[Path]:
    directory = device.root / "var" / "cache" / "sztp" / "images"
    return sorted(directory.iterdir()) if directory.exists() else []


def state(device: Device) -> dict[str, Any]:
    """The client's persistent state (empty when it never needed to save any)."""
    path = device.state_dir / "state.json"
    document: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return document


# -- trust: refused data -----------------------------------------------------------------------


def test_unsigned_onboarding_from_untrusted_server_is_refused(env: Env) -> None:
    """R-023, R-025, R-066, R-088: unsigned onboarding information from a provisional server
    is refused: exit 65, no progress report at all, no script, nothing written."""
    server = env.server(
        Response(unsigned=env.unsigned(env.onboarding()), reporting_level="verbose"),
        basic_auth=None,
    )
    device = env.device([server], trusted=False)
    seed_config(device)
    untouched = Untouched(device)

    run_once(device, EXIT_DATAERR)

    assert server.reports() == []
    assert server.requests("report-progress") == []  # not even an unparsable one
    request = server.requests("get-bootstrapping-data")[0]
    assert request["input"]["signed-data-preferred"] is True
    assert request["answer"] == "unsigned"
    assert env.scripts_ran() == []
    untouched.check()
    status = device.status()
    assert status["state"] == "failed" and status["bootstrapped"] is False
    assert status["steps"] == []
    assert status["last-error"]["type"] == "SourceTrustError"
    assert [(a["trust"], a["outcome"]) for a in status["attempts"]] == [("provisional", "failed")]
    assert status["reports"] == []


@pytest.mark.parametrize("fault", ["assertion", "serial-number"])
def test_bad_voucher_from_trusted_server_reports_parsing_error(env: Env, fault: str) -> None:
    """R-040, R-064, R-068: signed data whose voucher fails verification, from a trusted
    server: bootstrap-initiated then parsing-error; nothing applied."""
    conveyed = env.onboarding()
    if fault == "assertion":
        signed = env.signed(conveyed, assertion="proximity")  # not accepted (D11)
        failed_step = "voucher-assertion"
    else:
        signed = make_signed_set(env.lab.pki, "SZTP-E2E-9999", conveyed)
        failed_step = "voucher-serial-number"
    server = env.server(Response(signed=signed, reporting_level="verbose"))
    device = env.device([server])
    seed_config(device)
    untouched = Untouched(device)

    run_once(device, EXIT_DATAERR)

    assert server.reports() == ["bootstrap-initiated", "parsing-error"]
    assert report(server, "parsing-error")["message"]
    assert env.scripts_ran() == []
    untouched.check()
    status = device.status()
    assert status["state"] == "failed"
    assert status["steps"] == []
    assert status["last-error"]["type"] == "TrustError"
    assert status["last-error"]["step"] == failed_step
    assert [r["progress-type"] for r in status["reports"]] == server.reports()


# -- rejected progress reports -----------------------------------------------------------------


@pytest.mark.parametrize("answer", [200, 500])
def test_bootstrap_initiated_not_answered_204(env: Env, answer: int) -> None:
    """R-067: any answer but 204 to bootstrap-initiated is an error: bootstrap-error is
    sent, no step runs, nothing is applied (exit 75: a rejected progress report)."""
    image = env.image()
    files = env.files(image)
    conveyed = env.onboarding(image=image, uris=[files.url_for(image.name)])
    server = env.server(
        Response(signed=env.signed(conveyed), reporting_level="verbose"),
        report_status_for={"bootstrap-initiated": answer},
    )
    device = env.device([server])
    seed_config(device)
    untouched = Untouched(device)

    run_once(device, EXIT_TEMPFAIL)

    assert server.reports() == ["bootstrap-initiated", "bootstrap-error"]
    assert str(answer) in (report(server, "bootstrap-error")["message"] or "")
    assert downloads(files) == []  # the image step never started
    assert env.scripts_ran() == []
    assert device.reboots == 0
    untouched.check()
    status = device.status()
    assert status["state"] == "failed"
    assert status["steps"] == []
    assert status["last-error"]["type"] == "ReportRejectedError"


def test_bootstrap_complete_not_answered_204_rolls_back(env: Env) -> None:
    """R-078, R-080, D25: a 200 to bootstrap-complete is an error: the committed configuration
    is rolled back (file applier: previous content restored) and bootstrap-error reported.
    The failure does not hinder a later attempt (R-080)."""
    conveyed = env.onboarding(configuration={"hostname": "device"})
    server = env.server(
        Response(signed=env.signed(conveyed), reporting_level="verbose"),
        report_status_for={"bootstrap-complete": 200},
    )
    device = env.device([server])
    seed_config(device)
    untouched = Untouched(device)

    run_once(device, EXIT_TEMPFAIL)

    assert server.reports() == [*VERBOSE_SUCCESS, "bootstrap-error"]
    assert "200" in (report(server, "bootstrap-error")["message"] or "")
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]
    untouched.check()
    status = device.status()
    assert status["state"] == "failed" and status["bootstrapped"] is False
    assert steps(status) == [("pre-script", "ok"), ("config", "ok"), ("post-script", "ok")]
    assert status["last-error"]["type"] == "ReportRejectedError"
    assert state(device).get("bootstrapped", False) is False

    # the retained state does not hinder the next attempt
    server.config.report_status_for = {}
    run_once(device, EXIT_OK)
    assert json.loads(device.config_file.read_text()) == {
        "ntp": ["192.0.2.1"],
        "hostname": "device",
    }
    assert device.status()["bootstrapped"] is True


# -- the boot image ----------------------------------------------------------------------------


def assert_no_install(env: Env, device: Device, untouched: Untouched) -> None:
    assert device.reboots == 0
    assert not (device.slots / "next").exists()
    assert env.scripts_ran() == []
    assert cached_images(device) == []  # the failed download was not kept
    untouched.check()
    status = device.status()
    assert status["state"] == "failed"
    assert steps(status) == [("boot-image", "error")]
    assert status["last-error"]["type"] == "BootImageError"
    assert status.get("images", []) == []
    assert state(device).get("images", []) == []


def test_corrupted_image_is_not_installed(env: Env) -> None:
    """R-071, R-073: the served file's SHA-256 differs from the onboarding hash:
    boot-image-error, nothing installed, no scripts, no reboot."""
    image = env.image()
    data = bytearray(image.path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped after the hash was taken
    image.path.write_bytes(bytes(data))
    files = env.files(image)
    conveyed = env.onboarding(image=image, uris=[files.url_for(image.name)])
    server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    device = env.device([server])
    seed_config(device)
    untouched = Untouched(device)

    run_once(device, EXIT_TEMPFAIL)

    assert server.reports() == ["bootstrap-initiated", "boot-image-initiated", "boot-image-error"]
    message = report(server, "boot-image-error")["message"]
    assert "SHA-256 mismatch" in message
    assert image.sha256.hex(":") in message
    assert downloads(files) == [(f"/{image.name}", 200)]
    assert_no_install(env, device, untouched)


def test_all_mirrors_failing(env: Env) -> None:
    """R-070, R-073: every download-uri fails (404, 503, a transfer cut short): each is tried
    once, in order, then boot-image-error; nothing installed."""
    image = env.image()
    files = env.files(
        image, fail={"/gone.img": 404, "/busy.img": 503}, truncate={image.name: 64 * 1024}
    )
    uris = [files.url_for("gone.img"), files.url_for("busy.img"), files.url_for(image.name)]
    conveyed = env.onboarding(image=image, uris=uris)
    server = env.server(Response(signed=env.signed(conveyed)))  # minimal
    device = env.device([server])
    untouched = Untouched(device)

    run_once(device, EXIT_TEMPFAIL)

    assert server.reports() == ["bootstrap-initiated", "boot-image-error"]
    message = report(server, "boot-image-error")["message"]
    for uri in uris:
        assert uri in message
    assert downloads(files) == [
        ("/gone.img", 404),
        ("/busy.img", 503),
        (f"/{image.name}", 200),
    ]
    assert [r.get("truncated") for r in files.log][-1] is True
    assert device.config_file.exists() is False
    assert_no_install(env, device, untouched)


# -- scripts -----------------------------------------------------------------------------------


def test_pre_script_warning_is_reported_and_processing_continues(env: Env) -> None:
    """R-065, R-074, D3: exit 10 is a warning: at verbose level pre-script-warning carries the
    script's output, and processing goes on to bootstrap-complete."""
    conveyed = env.onboarding(pre="echo 'pre-check: fan tray degraded'; exit 10")
    server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    device = env.device([server])

    run_once(device, EXIT_OK)

    expected = list(VERBOSE_SUCCESS)
    expected.insert(expected.index("pre-script-complete"), "pre-script-warning")
    assert server.reports() == expected
    assert "pre-check: fan tray degraded" in report(server, "pre-script-warning")["message"]
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]
    assert json.loads(device.config_file.read_text()) == {"hostname": "device"}
    status = device.status()
    assert status["state"] == "bootstrapped"
    assert steps(status) == [("pre-script", "warning"), ("config", "ok"), ("post-script", "ok")]
    assert "fan tray degraded" in status["steps"][0]["message"]


def test_pre_script_warning_at_minimal_level(env: Env) -> None:
    """R-064, R-074: at minimal level the warning is not reported; the run still succeeds."""
    conveyed = env.onboarding(pre="echo degraded; exit 10")
    server = env.server(Response(signed=env.signed(conveyed)))
    device = env.device([server])
    run_once(device, EXIT_OK)
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]


def test_pre_script_error_stops_before_the_configuration(env: Env) -> None:
    """R-074, R-080, D3: a pre-configuration script exiting 3 is an error: pre-script-error
    with its output, the configuration is never committed, the post-script never runs."""
    conveyed = env.onboarding(pre="echo boom; exit 3")
    server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    device = env.device([server])
    seed_config(device)
    untouched = Untouched(device)

    run_once(device, EXIT_DATAERR)

    assert server.reports() == ["bootstrap-initiated", "pre-script-initiated", "pre-script-error"]
    message = report(server, "pre-script-error")["message"]
    assert "status 3" in message
    assert env.scripts_ran() == ["pre-configuration"]
    untouched.check()
    status = device.status()
    assert status["state"] == "failed"
    assert steps(status) == [("pre-script", "error")]
    assert status["last-error"]["type"] == "ScriptError"
    assert status["last-error"]["progress-type"] == "pre-script-error"
    # R-074, D4: the error report's message carries the tail of the script's output
    assert "boom" in message


# -- configuration -----------------------------------------------------------------------------


def command_applier(env: Env, server: LabBootstrapServer, *, commit: str, rollback: str) -> Device:
    bin_dir = env.root / "commands"
    return env.device(
        [server],
        applier="command",
        extra={
            "configuration": {
                "commit-command": [str(executable(bin_dir / "commit", commit)), "{config}"],
                "rollback-command": [str(executable(bin_dir / "rollback", rollback))],
            }
        },
    )


def test_commit_command_failure_is_config_error(env: Env) -> None:
    """R-075, R-080, D25: the commit command fails: config-error with its output; nothing to
    roll back; the post-configuration script never runs."""
    marks = env.root / "marks"
    marks.mkdir()
    conveyed = env.onboarding()
    server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    device = command_applier(
        env,
        server,
        commit='echo "commit refused: line 3"; exit 1',
        rollback=f'touch "{marks}/rolled-back"',
    )
    untouched = Untouched(device)

    run_once(device, EXIT_DATAERR)

    assert server.reports() == [
        "bootstrap-initiated",
        "pre-script-initiated",
        "pre-script-complete",
        "config-initiated",
        "config-error",
    ]
    assert "commit refused: line 3" in report(server, "config-error")["message"]
    assert env.scripts_ran() == ["pre-configuration"]
    assert not (marks / "rolled-back").exists()  # a failed commit changed nothing
    untouched.check()
    status = device.status()
    assert status["state"] == "failed"
    assert steps(status) == [("pre-script", "ok"), ("config", "error")]
    assert status["last-error"]["type"] == "ConfigApplyError"


def test_post_script_error_rolls_back_before_reporting(env: Env) -> None:
    """R-076, R-080, D25: after a successful commit the post-script fails: the rollback
    command runs, and only then is post-script-error reported."""
    marks = env.root / "marks"
    marks.mkdir()
    conveyed = env.onboarding(post="echo 'link check failed'; exit 4")
    server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    server_log = env.root / "server.jsonl"
    server.log_path = server_log  # before any request
    committed = marks / "committed.json"
    device = command_applier(
        env,
        server,
        commit=f'cp "$1" "{committed}"\necho "$SZTP_CONFIG_HANDLING" > "{marks}/handling"',
        rollback=(
            f'rm "{committed}"\n'
            f'cp "{server_log}" "{marks}/server-log-at-rollback"\n'
            f'echo "$SZTP_CONFIG_HANDLING" > "{marks}/rolled-back"'
        ),
    )
    untouched = Untouched(device)

    run_once(device, EXIT_DATAERR)

    assert server.reports() == [
        "bootstrap-initiated",
        "pre-script-initiated",
        "pre-script-complete",
        "config-initiated",
        "config-complete",
        "post-script-initiated",
        "post-script-error",
    ]
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]
    # the commit happened (merge), then the rollback undid it
    assert (marks / "handling").read_text().strip() == "merge"
    assert not committed.exists()
    assert (marks / "rolled-back").read_text().strip() == "merge"
    # ordering: when the rollback ran, the server had seen post-script-initiated but not yet
    # post-script-error
    seen = [
        json.loads(line).get("progress-type")
        for line in (marks / "server-log-at-rollback").read_text().splitlines()
    ]
    seen = [t for t in seen if t]
    assert seen == server.reports()[:-1]
    error_time = server_time(report(server, "post-script-error"))
    rolled_time = dt.datetime.fromtimestamp(
        (marks / "rolled-back").stat().st_mtime_ns / 1e9, dt.UTC
    )
    # the server's clock is cut to milliseconds
    assert rolled_time < error_time + dt.timedelta(milliseconds=1)
    untouched.check()
    status = device.status()
    assert status["state"] == "failed"
    assert steps(status) == [("pre-script", "ok"), ("config", "ok"), ("post-script", "error")]
    assert status["last-error"]["type"] == "ScriptError"
    # R-076, D4: the error report's message carries the tail of the script's output
    assert "link check failed" in report(server, "post-script-error")["message"]


def test_post_script_error_restores_the_file_exactly(env: Env) -> None:
    """R-076, R-080, D25: file applier, post-script failure after the commit: the previous
    content (bytes and mode) is restored and the backup removed."""
    conveyed = env.onboarding(
        post="exit 2", configuration={"hostname": "device", "ntp": ["198.51.100.7"]}
    )
    server = env.server(Response(signed=env.signed(conveyed)))  # minimal
    device = env.device([server])
    seed_config(device)
    untouched = Untouched(device)

    run_once(device, EXIT_DATAERR)

    assert server.reports() == ["bootstrap-initiated", "post-script-error"]
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]
    assert device.config_file.read_bytes() == PREVIOUS_CONFIG
    untouched.check()
    status = device.status()
    assert steps(status) == [("pre-script", "ok"), ("config", "ok"), ("post-script", "error")]
    assert status["last-error"]["type"] == "ScriptError"
    assert status["last-error"]["progress-type"] == "post-script-error"


# -- installers --------------------------------------------------------------------------------


def command_installer(env: Env, server: LabBootstrapServer, body: str) -> Device:
    script = executable(env.root / "commands" / "install", body)
    return env.device(
        [server], installer="command", extra={"image": {"command": [str(script), "{image}"]}}
    )


def test_command_installer_installs_and_reboots(env: Env) -> None:
    """R-069, R-072, D17, D24: the command installer gets the verified image and its
    environment; boot-image-installed-rebooting, then the reboot; after the reboot the image
    step is skipped for the digest installed and booted."""
    target = env.root / "installed"
    target.mkdir()
    image = env.image()
    files = env.files(image)
    conveyed = env.onboarding(image=image, uris=[files.url_for(image.name)])
    server = env.server(Response(signed=env.signed(conveyed)))
    device = command_installer(
        env,
        server,
        f'cp "$1" "{target}/image"\n'
        f'env | grep "^SZTP_" | sort > "{target}/env"\n'
        f'echo "$1" >> "{target}/calls"',
    )
    untouched = Untouched(device)

    run_once(device, EXIT_OK)

    assert server.reports() == ["bootstrap-initiated", "boot-image-installed-rebooting"]
    assert hashlib.sha256((target / "image").read_bytes()).digest() == image.sha256
    environment = dict(
        line.split("=", 1) for line in (target / "env").read_text().splitlines() if line
    )
    assert environment["SZTP_IMAGE_SHA256"] == image.sha256.hex()
    assert environment["SZTP_OS_NAME"] == "LabOS"
    assert environment["SZTP_OS_VERSION"] == "2.0"
    assert environment["SZTP_IMAGE"] == (target / "calls").read_text().strip()
    assert device.reboots == 1
    assert env.scripts_ran() == []
    assert cached_images(device) == []  # the downloaded copy is removed after installing
    untouched.check()  # no slots touched, no configuration before the reboot
    status = device.status()
    assert status["state"] == "rebooting"
    assert steps(status) == [("boot-image", "installed")]
    assert [i["sha256"] for i in status["images"]] == [image.sha256.hex()]

    # after the reboot (new boot id): the running OS still reads "factory 1.0", but the
    # digest was installed and booted (D17, D24)
    run_once(device, EXIT_OK)
    assert len((target / "calls").read_text().splitlines()) == 1
    assert device.reboots == 1
    assert len(downloads(files)) == 1
    assert server.reports()[2:] == ["bootstrap-initiated", "bootstrap-complete"]
    status = device.status()
    assert status["state"] == "bootstrapped"
    assert status["steps"][0]["outcome"] == "skipped"


def test_command_installer_failure_is_boot_image_error(env: Env) -> None:
    """R-073: the installer command exits 1: boot-image-error with its output, no reboot."""
    image = env.image()
    files = env.files(image)
    conveyed = env.onboarding(image=image, uris=[files.url_for(image.name)])
    server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    device = command_installer(env, server, 'echo "flash write failed at block 7" >&2; exit 1')
    seed_config(device)
    untouched = Untouched(device)

    run_once(device, EXIT_TEMPFAIL)

    assert server.reports() == ["bootstrap-initiated", "boot-image-initiated", "boot-image-error"]
    message = report(server, "boot-image-error")["message"]
    assert "status 1" in message
    assert "flash write failed at block 7" in message
    assert_no_install(env, device, untouched)


def test_ab_image_skipped_after_reboot_by_digest_despite_version_mismatch(env: Env) -> None:
    """D17, D24, R-069, R-072: after the reboot into the installed slot, the image step is
    skipped because that digest was installed and the boot id changed, even though the
    onboarding information now names an os-version the slot does not announce."""
    image = env.image()
    files = env.files(image)
    uris = [files.url_for(image.name)]
    server = env.server(Response(signed=env.signed(env.onboarding(image=image, uris=uris))))
    device = env.device([server])
    boot_id_before = (device.root / "boot_id").read_text()

    run_once(device, EXIT_OK)
    assert server.reports() == ["bootstrap-initiated", "boot-image-installed-rebooting"]
    assert device.reboots == 1
    assert (device.root / "boot_id").read_text() != boot_id_before
    assert (device.slots / "active").read_text().strip() == "b"
    slot_record = json.loads((device.slots / "b" / "image.json").read_text())
    assert slot_record["sha256"] == image.sha256.hex()
    assert slot_record["os-version"] == "2.0"
    installed = state(device)["images"]
    assert [(i["sha256"], i["boot-id"]) for i in installed] == [
        (image.sha256.hex(), boot_id_before.strip())
    ]

    # same image, but a version string the running slot does not match
    server.config.default = Response(
        signed=env.signed(env.onboarding(image=image, uris=uris, os_version="2.0-build7")),
        reporting_level="verbose",
    )
    slots_before = {p: d for p, d in device.changed_files().items() if p.startswith("slots")}

    run_once(device, EXIT_OK)

    request = server.requests("get-bootstrapping-data")[1]
    assert (request["input"]["os-name"], request["input"]["os-version"]) == ("LabOS", "2.0")
    assert server.reports()[2:] == [
        "bootstrap-initiated",
        "boot-image-initiated",
        "boot-image-complete",
        *VERBOSE_SUCCESS[1:],
    ]
    assert len(downloads(files)) == 1  # no second download
    assert device.reboots == 1
    assert {p: d for p, d in device.changed_files().items() if p.startswith("slots")} == (
        slots_before
    )
    assert not (device.slots / "next").exists()
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]
    status = device.status()
    assert status["state"] == "bootstrapped"
    assert steps(status) == [
        ("boot-image", "skipped"),
        ("pre-script", "ok"),
        ("config", "ok"),
        ("post-script", "ok"),
    ]
    assert "installed and booted" in status["steps"][0]["message"]
    assert len(state(device)["images"]) == 1


def test_reboot_that_did_not_happen_is_requested_again_without_a_new_download(env: Env) -> None:
    """D17, D24, R-072: the reboot command returned but the device did not reboot (same boot
    id, the boot loader never took the new slot).  The next run says that the reboot has not
    happened and requests it again, without downloading or installing the image again and
    without contacting the bootstrap server.  Once the reboot really happens, the image step
    is skipped."""
    image = env.image()
    files = env.files(image)
    conveyed = env.onboarding(image=image, uris=[files.url_for(image.name)])
    server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    reboot_calls = env.root / "reboot-calls"
    noop_reboot = executable(env.root / "commands" / "reboot", f'echo reboot >> "{reboot_calls}"')
    device = env.device([server], extra={"image": {"reboot-command": [str(noop_reboot)]}})
    boot_id = (device.root / "boot_id").read_text()

    def reboots_asked() -> int:
        return len(reboot_calls.read_text().splitlines()) if reboot_calls.exists() else 0

    run_once(device, EXIT_OK)
    assert server.reports() == [
        "bootstrap-initiated",
        "boot-image-initiated",
        "boot-image-installed-rebooting",
    ]
    assert reboots_asked() == 1
    # the reboot did nothing: same boot id, the new slot still only pending
    assert (device.root / "boot_id").read_text() == boot_id
    assert (device.slots / "next").read_text().strip() == "b"
    assert not (device.slots / "active").exists()
    slots_before = {p: d for p, d in device.changed_files().items() if p.startswith("slots")}
    requests_before = len(server.log)

    second = device.run("run", "--once")
    assert second.returncode == EXIT_OK, second.stdout + second.stderr
    assert "has not happened" in second.stdout
    assert reboots_asked() == 2  # requested again
    assert len(downloads(files)) == 1  # not downloaded again
    assert len(server.log) == requests_before  # the bootstrap server is not asked again
    assert {p: d for p, d in device.changed_files().items() if p.startswith("slots")} == (
        slots_before
    )
    assert env.scripts_ran() == []
    assert not device.config_file.exists()
    status = device.status()
    assert status["state"] == "rebooting"
    assert "has not happened" in status["notice"]
    assert steps(status) == [("boot-image", "installed")]  # the record of the install is kept
    assert {i["boot-id"] for i in state(device)["images"]} == {boot_id.strip()}

    # now the reboot happens: new boot id, the boot loader takes the pending slot
    (device.root / "boot_id").write_text("00000000-0000-4000-8000-000000000001\n")
    (device.slots / "next").replace(device.slots / "active")
    run_once(device, EXIT_OK)
    assert server.reports()[3:] == [
        "bootstrap-initiated",
        "boot-image-initiated",
        "boot-image-complete",
        *VERBOSE_SUCCESS[1:],
    ]
    assert reboots_asked() == 2
    assert len(downloads(files)) == 1
    assert device.status()["state"] == "bootstrapped"
