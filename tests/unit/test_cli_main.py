"""The ``sztp-client`` entry point: only the sub-command given is loaded, usage errors exit 64
(D20), help lists every sub-command; ``status`` and ``--version`` load none of the network
path's code and records (start-up, docs/architecture.md)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sztp_client.cli.main import COMMANDS, main
from sztp_client.errors import UsageError

#: modules only ``run`` needs: TLS, HTTP, the runner
HEAVY = ("sztp_client.runner", "sztp_client.transport.restconf", "urllib3")
#: what ``status`` never needs: it reads two JSON files and the configuration, whose records
#: are named tuples (msgspec alone costs about as much as a bare interpreter's start)
NEVER_FOR_STATUS = (
    "cryptography",
    "ssl",
    "urllib3",
    "asn1crypto",
    "defusedxml",
    "xml.etree.ElementTree",
    "sztp_client.trust.cms",
    "sztp_client.encoding.xml",
    "difflib",
    "msgspec",
    "typing_extensions",
    "inspect",
    "textwrap",
)
#: the record modules of the network path and of a run (msgspec structs by the dozen, a few ms
#: each to load): ``status`` reads the configuration and two JSON files and needs none of them
MODELS_NOT_FOR_STATUS = (
    "sztp_client.model.conveyed",
    "sztp_client.model.rpc",
    "sztp_client.model.server_uri",
    "sztp_client.model.restconf_errors",
    "sztp_client.model.csr",
    "sztp_client.protocol.session_events",
    "sztp_client.protocol.onboarding_events",
    "sztp_client.protocol.session",
    "sztp_client.protocol.image_policy",
    "sztp_client.trust.verifier",
    "sztp_client.trust.hops",
    "sztp_client.identity.base",
    "sztp_client.discovery.sources",
    "sztp_client.actions.image",
    "sztp_client.actions.scripts",
    "sztp_client.context",
    "sztp_client.executor",
    "sztp_client.state.device",
    "sztp_client.state.status",
    "sztp_client.transport.limits",
)
#: what the configuration's reader still loads for ``status`` (the voucher model for the
#: assertion values of ``trust.accept-assertions``, and with it the YANG type codecs)
VOUCHER_FOR_STATUS = ("sztp_client.model.voucher", "sztp_client.encoding.yang_types")


def _loaded_after(*argv: str, watched: tuple[str, ...] = HEAVY) -> set[str]:
    """The ``watched`` modules imported by a fresh interpreter running ``sztp-client ARGV``."""
    probe = (
        "import json, sys\n"
        "from sztp_client.cli.main import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {list(watched)!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [("--version",), ("status", "--config", "/nonexistent/client.toml")],
    ids=["version", "status"],
)
@pytest.mark.subprocess
def test_version_and_status_do_not_load_the_network_code(argv: tuple[str, ...]) -> None:
    assert _loaded_after(*argv) == set()


@pytest.mark.subprocess
def test_status_loads_no_cryptography_tls_http_or_xml(tmp_path: Path) -> None:
    """``status`` with a configuration file (TOML read, state and status looked for) loads
    none of the libraries of the network path (start-up: 2 x a bare interpreter, 16 MiB)."""
    config = tmp_path / "client.toml"
    config.write_text('[paths]\nstate-dir = "s"\nrun-dir = "r"\ncache-dir = "c"\n')
    assert _loaded_after("status", "--config", str(config), watched=NEVER_FOR_STATUS) == set()
    assert _loaded_after("--version", watched=NEVER_FOR_STATUS) == set()


@pytest.mark.subprocess
def test_status_loads_no_record_model_of_the_network_path(tmp_path: Path) -> None:
    """``status`` defines the record types it reads (configuration, device state) and none of
    those of a run: each model module costs milliseconds of msgspec structs at start-up."""
    config = tmp_path / "client.toml"
    config.write_text('[paths]\nstate-dir = "s"\nrun-dir = "r"\ncache-dir = "c"\n')
    argv = ("status", "--config", str(config))
    assert _loaded_after(*argv, watched=MODELS_NOT_FOR_STATUS) == set()


@pytest.mark.subprocess
def test_status_of_a_bootstrapped_device_loads_no_msgspec(tmp_path: Path) -> None:
    """With a state file and a status document to read (not only their absence), ``status``
    still defines no struct: it reads both files as JSON (D24)."""
    config = tmp_path / "client.toml"
    config.write_text('[paths]\nstate-dir = "s"\nrun-dir = "r"\ncache-dir = "c"\n')
    _bootstrapped_device(tmp_path)
    for argv in (("status",), ("status", "--json")):
        loaded = _loaded_after(*argv, "--config", str(config), watched=NEVER_FOR_STATUS)
        assert loaded == set(), argv


def _bootstrapped_device(root: Path) -> None:
    (root / "s").mkdir()
    (root / "r").mkdir()
    image = {"sha256": "ab" * 32, "boot-id": "boot-1", "installed-at": "2026-01-02T03:00:00Z"}
    (root / "s" / "state.json").write_text(
        json.dumps(
            {"bootstrapped": True, "bootstrapped-at": "2026-01-02T03:04:05Z", "images": [image]}
        )
    )
    (root / "r" / "status.json").write_text(
        json.dumps({"version": 1, "state": "bootstrapped", "attempts": [], "steps": []})
    )


def test_status_shows_the_device_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``status --json``: ``bootstrapped``, ``bootstrapped-at`` and the images installed come
    from state.json, every image entry with all its keys (D17, D24)."""
    config = tmp_path / "client.toml"
    config.write_text('[paths]\nstate-dir = "s"\nrun-dir = "r"\ncache-dir = "c"\n')
    _bootstrapped_device(tmp_path)
    assert main(["status", "--json", "--config", str(config)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["state"] == "bootstrapped"
    assert document["bootstrapped"] is True
    assert document["bootstrapped-at"] == "2026-01-02T03:04:05Z"
    assert document["images"] == [
        {
            "sha256": "ab" * 32,
            "boot-id": "boot-1",
            "installed-at": "2026-01-02T03:00:00Z",
            "os-name": None,
            "os-version": None,
        }
    ]
    assert main(["status", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["state: bootstrapped", "bootstrapped: yes"]


@pytest.mark.subprocess
def test_status_loads_no_voucher_model(tmp_path: Path) -> None:
    config = tmp_path / "client.toml"
    config.write_text('[paths]\nstate-dir = "s"\nrun-dir = "r"\ncache-dir = "c"\n')
    argv = ("status", "--config", str(config))
    assert _loaded_after(*argv, watched=VOUCHER_FOR_STATUS) == set()


@pytest.mark.subprocess
def test_version_loads_no_record_type() -> None:
    """``--version`` defines no record: not even msgspec is loaded."""
    assert _loaded_after("--version", watched=("msgspec", "dataclasses")) == set()


#: what a default ``run`` (file identity, configured servers, JSON) uses before its first pass
#: is over: ``run --help`` loads it all, so that the start-up bench's ``run --help`` is not
#: made cheaper by imports deferred into the first pass
DEFAULT_RUN = (
    *HEAVY,
    "msgspec",
    "sztp_client.context",
    "sztp_client.executor",
    "sztp_client.identity.base",
    "sztp_client.discovery.wiring",
    "sztp_client.protocol.session",
    "sztp_client.state.status",
    "sztp_client.state.lock",
    "sztp_client.encoding.yang_types",
    "sztp_client.trust.verifier",
    "sztp_client.actions.installers",
    "sztp_client.actions.configuration",
)


@pytest.mark.subprocess
def test_run_loads_what_it_needs() -> None:
    assert _loaded_after("run", "--help") == set(HEAVY)
    assert _loaded_after("run", "--help", watched=DEFAULT_RUN) == set(DEFAULT_RUN)


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert all(f"    {name}" in out for name in COMMANDS)


@pytest.mark.parametrize("argv", [["bogus"], ["--bogus"], ["status", "--bogus"]])
def test_usage_errors_exit_64(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == UsageError.exit_code == 64
    assert capsys.readouterr().err.splitlines()[-1].startswith("sztp-client: ")


def test_no_command_prints_help_and_exits_64(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 64
    assert "COMMAND" in capsys.readouterr().err


def test_the_collector_runs_again_after_the_parser_is_built(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The collector is held off only while the sub-commands' modules are imported: after
    main it runs again, whether the command line was good or a usage error."""
    assert gc.isenabled()
    with pytest.raises(SystemExit):
        main(["--version"])
    assert gc.isenabled()
    assert main(["bogus"]) == 64
    assert gc.isenabled()
    capsys.readouterr()
