"""RFC 9646 end to end, the LDevID in the configuration (R-131, D23): the lab issues the LDevID
inside the onboarding information's configuration, and the device's own commit command (the
``command`` applier) installs it at ``$SZTP_LDEVID_CERT``; there is no post-configuration
script. The client checks before bootstrap-complete that it certifies the new key.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_lab.artifacts import onboarding_json
from sztp_lab.csr import CSRPolicy
from sztp_lab.scenario import Device
from sztp_lab.server import LabBootstrapServer, Response
from tests.e2e.conftest import Env

pytestmark = pytest.mark.integration

EXIT_OK = 0
EXIT_DATA = 65

#: the device's commit command: the configuration's "ldevid" member (PEM) goes to
#: $SZTP_LDEVID_CERT, the rest to the device's configuration file (beside the command)
APPLY = """#!{python}
import json, os, pathlib, sys
document = json.loads(pathlib.Path(sys.argv[1]).read_text())
pem = document.pop("ldevid", None)
if pem is not None:
    pathlib.Path(os.environ["SZTP_LDEVID_CERT"]).write_text(pem)
pathlib.Path(__file__).with_name("applied.json").write_text(json.dumps(document))
"""


def _device(env: Env, server: LabBootstrapServer) -> Device:
    """A device whose configuration is committed by :data:`APPLY` (written into its bin/)."""
    command = env.root / "device" / "bin" / "apply-configuration"
    device = env.device(
        [server],
        applier="command",
        extra={
            "identity.ldevid": {"enabled": True},
            "configuration": {"commit-command": [str(command)]},
        },
    )
    command.write_text(APPLY.format(python=sys.executable))
    command.chmod(0o700)
    return device


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_spki(device: Device) -> bytes:
    key_file = device.root / "var" / "lib" / "sztp" / "ldevid" / "key.pem"
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _cert_file(device: Device) -> Path:
    return device.root / "var" / "lib" / "sztp" / "ldevid" / "cert.pem"


def _served(
    env: Env, ldevid: Callable[[x509.Certificate], x509.Certificate]
) -> tuple[CSRPolicy, LabBootstrapServer]:
    """A lab server asking for a CSR whose onboarding information carries, in its
    configuration, ``ldevid(issued)`` as the "ldevid" member (PEM)."""

    def onboarding(cert: x509.Certificate) -> bytes:
        configuration = json.dumps({"hostname": "device", "ldevid": _pem(ldevid(cert))})
        return env.unsigned(
            onboarding_json(configuration=configuration.encode(), configuration_handling="replace")
        )

    policy = CSRPolicy(issuer=env.lab.pki.idevid_ca, onboarding=onboarding)
    return policy, env.server(Response(csr=policy))


def test_r131_d23_ldevid_in_the_configuration_installed_by_the_applier(env: Env) -> None:
    """R-131, D23: the commit command sees SZTP_LDEVID_CERT and installs the LDevID from the
    configuration; with no post-configuration script the client still checks it against the
    new key before bootstrap-complete."""
    policy, server = _served(env, lambda issued: issued)
    device = _device(env, server)
    result = device.run("run", "--once")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert server.reports()[-1] == "bootstrap-complete"
    installed = x509.load_pem_x509_certificate(_cert_file(device).read_bytes())
    assert installed == policy.issued[0]
    assert installed.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == _key_spki(device)
    applied = json.loads((device.root / "bin" / "applied.json").read_text())
    assert applied == {"hostname": "device"}
    assert env.scripts_ran() == []
    assert "LDevID installed" in result.stdout + result.stderr


def test_d23_ldevid_of_another_key_from_the_applier_fails_before_complete(env: Env) -> None:
    """D23: the applier installs a certificate that does not certify the new key (here the
    IDevID's): bootstrap-error, never bootstrap-complete, the device not bootstrapped."""
    policy, server = _served(env, lambda issued: env.lab.idevid.cert)
    device = _device(env, server)
    result = device.run("run", "--once")
    assert result.returncode == EXIT_DATA, result.stdout + result.stderr
    reports = server.reports()
    assert "bootstrap-complete" not in reports
    assert "bootstrap-error" in reports
    assert len(policy.received) == 1  # the request was made and answered; its key is not it
    status = device.status()
    assert status["bootstrapped"] is False
    assert status["last-error"]["type"] == "LDevIDMismatchError"
