"""The composition root loads what only some configurations or deliveries use when it is first
needed: the LDevID code when ``identity.ldevid`` is enabled, the envelope decryptor when an
artifact is encrypted (start-up, docs/architecture.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sztp_client.context import LazyDecryptor
from sztp_client.trust import oids
from sztp_lab import envelope
from sztp_lab.pki import make_lab_pki
from tests.helpers.envelopes import CountingKey, envelope_of, file_key
from tests.support import SERIAL

JSON = oids.ID_CT_SZTP_CONVEYED_INFO_JSON
CONTENT = b'{"ietf-sztp-conveyed-info:onboarding-information": {}}'


def test_lazy_decryptor_opens_what_the_envelope_decryptor_opens() -> None:
    """R-020, R-050: the device's decryptor opens an envelope for its IDevID, with one
    private-key operation, the envelope code loaded on that first use."""
    idevid = make_lab_pki("ec-p256").idevid(SERIAL)
    key = CountingKey(file_key(idevid))
    decryptor = LazyDecryptor(key)
    der = envelope.encrypt(CONTENT, JSON, idevid.cert, cipher="aes-256-gcm")
    assert decryptor.decrypt(*envelope_of(der)) == (JSON, CONTENT)
    assert decryptor.decrypt(*envelope_of(der)) == (JSON, CONTENT)  # the same decryptor again
    assert key.operations == 2


@pytest.mark.subprocess
def test_the_context_module_loads_no_ldevid_code() -> None:
    probe = (
        "import json, sys\n"
        "import sztp_client.context\n"
        "print(json.dumps([m for m in ('sztp_client.actions.ldevid', 'sztp_client.protocol.csr')"
        " if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
