"""``make demo TPM=1`` (``python -m sztp_lab.demo --tpm``): the demo with the IDevID key in a
software TPM bootstraps to bootstrap-complete against the strict lab servers (R-003, R-007),
and ``--keep`` leaves a device whose ``identity --json`` names the TPM handle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.swtpm import require_tpm_stack

pytestmark = pytest.mark.integration


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, timeout=180, check=False
    )


def test_demo_with_software_tpm_bootstraps(tmp_path: Path) -> None:
    """R-003, R-007: the demo's --tpm option: swtpm, factory IDevID, identity.backend tpm."""
    require_tpm_stack()
    keep = tmp_path / "demo"
    result = _run("-m", "sztp_lab.demo", "--tpm", "--keep", str(keep))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "identity: tpm, key tpm:0x81020000" in result.stdout
    assert "bootstrap-complete" in result.stdout
    assert "demo succeeded" in result.stdout
    config = next((keep / "device").rglob("client.toml"))
    assert 'backend = "tpm"' in config.read_text()
    # swtpm was stopped with the demo: the kept device's key is out of reach, typed exit 75
    shown = _run("-m", "sztp_client", "identity", "--json", "--config", str(config))
    assert shown.returncode == 75, shown.stdout + shown.stderr
    assert "Traceback" not in shown.stderr
