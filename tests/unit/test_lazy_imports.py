"""What ``sztp-client run`` loads before any data arrives: no XML parser (D15: XML is read only
where it arrives, with defusedxml), no CMS pipeline and no envelope decryption; each is loaded
by the first data that needs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: loaded only when data arrives (XML, artifacts, an encrypted artifact)
NOT_BEFORE_DATA = (
    "defusedxml",
    "xml.etree.ElementTree",
    "xml.sax.saxutils",
    "sztp_client.encoding.xml",
    "sztp_client.model.rpc_xml",
    "sztp_client.trust.cms",
    "sztp_client.trust.pipeline",
    "sztp_client.trust.envelope.content",
    "sztp_client.trust.envelope.algorithms",
)


def _loaded(code: str) -> set[str]:
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"print(json.dumps([m for m in {list(NOT_BEFORE_DATA)!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.subprocess
def test_run_help_loads_nothing_that_waits_for_data() -> None:
    code = (
        "from sztp_client.cli.main import main\n"
        "try:\n    main(['run', '--help'])\nexcept SystemExit:\n    pass"
    )
    assert _loaded(code) == set()


@pytest.mark.subprocess
def test_xml_and_the_pipeline_load_when_data_arrives() -> None:
    """D15: the XML reply pulls in the XML parser; verifying pulls in the CMS pipeline."""
    code = (
        "from sztp_client.model.rpc import parse_get_bootstrapping_data_output\n"
        "from sztp_client.trust.verifier import verify_bootstrapping_data\n"
        "try:\n"
        "    parse_get_bootstrapping_data_output(b'<x/>', 'application/yang-data+xml')\n"
        "except Exception:\n    pass\n"
        "try:\n"
        "    verify_bootstrapping_data(None, None, None, source=None)\n"
        "except Exception:\n    pass"
    )
    loaded = _loaded(code)
    assert {"defusedxml", "sztp_client.encoding.xml", "sztp_client.model.rpc_xml"} <= loaded
    assert "sztp_client.trust.pipeline" in loaded
    assert "sztp_client.trust.envelope.content" not in loaded
