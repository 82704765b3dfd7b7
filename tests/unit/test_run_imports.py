"""What ``sztp-client run`` loads before bootstrapping data arrives, and what only the data
does (start-up, docs/architecture.md): the onboarding machine and the steps' code (the boot
image, scripts and the processes they start, the configuration's handling, RFC 9646 keys), the
contents of the bootstrap-complete report (asn1crypto's CMS), the conveyed-information model,
RESTCONF error documents, removable-media paths and image downloads.  Each is imported with
the first data that needs it; the start-up checks (a configuration that can never work
is refused before any traffic) stay at start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: loaded by a run only once bootstrapping data (or an error reply) has arrived
AFTER_DATA = (
    "sztp_client.executor_image",
    "sztp_client.executor_steps",
    "sztp_client.actions.report_data",
    "sztp_client.actions.ldevid",
    "sztp_client.actions.scripts",
    "sztp_client.actions.process",
    "sztp_client.protocol.onboarding",
    "sztp_client.protocol.onboarding_rules",
    "sztp_client.model.conveyed",
    "sztp_client.model.restconf_errors",
    "sztp_client.discovery.media_layout",
    "sztp_client.transport.download",
    "asn1crypto.cms",
    "subprocess",
)

#: a default run (file identity, configured servers, JSON) loads these before its first pass
BEFORE_FIRST_PASS = (
    "sztp_client.runner",
    "sztp_client.context",
    "sztp_client.preflight",
    "sztp_client.executor",
    "sztp_client.protocol.session",
    "sztp_client.actions.installers",
    "sztp_client.actions.configuration",
    "sztp_client.transport.restconf",
    "sztp_client.trust.verifier",
    "cryptography.hazmat.primitives.serialization",
)

#: one onboarding through the in-memory server (tests/simulator.py): a configuration committed
#: to a file, bootstrap-complete reported
ONBOARDING = """
from pathlib import Path
import tempfile
from sztp_client.config import load_config
from sztp_client.runner import Runner
from sztp_client.state.status import StatusRecorder
from sztp_lab.artifacts import onboarding_json
from sztp_lab.pki import make_lab_pki
from sztp_lab.scenario import make_device
from tests.simulator import Simulator, unsigned

pki = make_lab_pki()
sim = Simulator()
info = onboarding_json(configuration=b'{"interfaces": {}}', configuration_handling="merge")
server = sim.add("boot.example", output=unsigned(info))
root = Path(tempfile.mkdtemp())
device = make_device(
    root, pki, "SZTP-IMPORTS-1", servers=[server.url], server_trust_anchors=[pki.owner_root.cert]
)
config = load_config(device.config_path, required=True)
runner = Runner(config, StatusRecorder(device.status_path), factory=sim.factory,
                resolver=sim.resolve, nonce=lambda: bytes(32))
print("OUTCOME", runner.run_once().value)
"""

RUN_HELP = (
    "from sztp_client.cli.main import main\n"
    "try:\n    main(['run', '--help'])\nexcept SystemExit:\n    pass"
)


def _loaded(code: str, watched: tuple[str, ...]) -> tuple[set[str], str]:
    """The ``watched`` modules a fresh interpreter has imported after running ``code``, and
    what it printed."""
    probe = (
        "import contextlib, io, json, sys\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        + "".join(f"    {line}\n" for line in code.strip().splitlines())
        + f"print(json.dumps([m for m in {list(watched)!r} if m in sys.modules]))\n"
        "print(json.dumps(out.getvalue()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    lines = result.stdout.splitlines()
    return set(json.loads(lines[-2])), json.loads(lines[-1])


@pytest.mark.subprocess
def test_run_help_loads_nothing_that_waits_for_data() -> None:
    loaded, _ = _loaded(RUN_HELP, AFTER_DATA)
    assert loaded == set()


@pytest.mark.subprocess
def test_run_help_loads_what_a_run_needs_before_its_first_pass() -> None:
    """Not cheaper by deferring: the runner, the start-up checks (the identity key read with
    cryptography's serialization), the installer and applier, the transport."""
    loaded, _ = _loaded(RUN_HELP, BEFORE_FIRST_PASS)
    assert loaded == set(BEFORE_FIRST_PASS)


@pytest.mark.subprocess
def test_onboarding_data_loads_the_steps_and_the_report() -> None:
    """R-063, R-075, D25: verified onboarding information runs its steps (their code loaded
    then) and ends with bootstrap-complete, whose contents load asn1crypto's CMS."""
    loaded, out = _loaded(ONBOARDING, AFTER_DATA)
    assert "OUTCOME bootstrap-complete" in out
    assert set(AFTER_DATA) - loaded == {"sztp_client.model.restconf_errors"}


@pytest.mark.subprocess
def test_an_error_reply_loads_the_error_document_parser() -> None:
    """D8: a reply that is not a success is read as a RESTCONF error document; its parser is
    imported with the first such reply."""
    code = (
        "from sztp_client.transport import restconf\n"
        "assert 'sztp_client.model.restconf_errors' not in sys.modules\n"
        'body = b\'{"ietf-restconf:errors": {"error": [{"error-tag": "access-denied"}]}}\'\n'
        "reply = restconf._Reply(403, 'Forbidden', 'application/yang-data+json', body)\n"
        "print(restconf._error_document(reply).tag)"
    )
    loaded, out = _loaded(code, ("sztp_client.model.restconf_errors",))
    assert loaded == {"sztp_client.model.restconf_errors"}
    assert out.strip() == "access-denied"
