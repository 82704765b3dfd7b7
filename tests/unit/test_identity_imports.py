"""A file identity never loads the TPM code: no ctypes, no tpm2-pytss, no TLS key glue.

The default ``run`` (file identity, JSON) imports only what it uses; the TPM modules come in
when a TPM identity is opened (start-up cost, and a device without the ``tpm`` extra).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TPM_MODULES = (
    "ctypes",
    "tpm2_pytss",
    "sztp_client.identity.tls_key",
    "sztp_client.identity.tls_mechanism",
    "sztp_client.identity.tpm",
    "sztp_client.identity.tpm_key",
    "sztp_client.identity.ldevid_tpm",
)

PROGRAM = """
import sys
from pathlib import Path
import sztp_client.cli.run
from sztp_client.actions.ldevid import FileKeyStore
from sztp_client.config import IdentityConfig
from sztp_client.identity.base import build_identity

root = Path(sys.argv[1])
identity = build_identity(IdentityConfig(certificate=root / "c.pem", key=root / "k.pem"))
assert identity is not None and identity.backend == "file"
FileKeyStore(root / "ldevid.pem", root / "cert.pem").delete()
print(" ".join(name for name in sys.argv[2:] if name in sys.modules))
"""


@pytest.mark.subprocess
def test_file_identity_run_imports_no_tpm_module(tmp_path: Path) -> None:
    """Start-up: the default run with a file identity imports none of the TPM code."""
    (tmp_path / "c.pem").write_text("")
    (tmp_path / "k.pem").write_text("")
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path), *TPM_MODULES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []
