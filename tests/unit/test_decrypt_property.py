"""D28, R-020: any byte-level mutation of an envelope gives a DataError or a result, never
another exception, and never more than one private-key operation.

Envelopes for an RSA and an EC device (AES-CBC, 3DES and AES-GCM) get random bytes replaced,
inserted or cut away, and go through ``cms.unwrap`` with the device's decryptor, as the
verification pipeline calls it.  A mutation may still decrypt (a flipped byte in an early CBC
block changes only the plaintext); that is a result, not a failure.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sztp_client.errors import DataError
from sztp_client.trust import cms, oids
from sztp_lab import cms as lab_cms
from sztp_lab import envelope
from sztp_lab.pki import make_lab_pki
from tests.helpers.envelopes import counted
from tests.support import ONBOARDING, SERIAL

_CASES = []
for _key_type, _cipher in [
    ("rsa-2048", "aes-256-cbc"),
    ("rsa-2048", "aes-128-gcm"),
    ("ec-p256", "des-ede3-cbc"),
    ("ec-p256", "aes-256-gcm"),
]:
    _idevid = make_lab_pki(_key_type).idevid(SERIAL)  # type: ignore[arg-type]
    _signed = lab_cms.sign(ONBOARDING[:300], oids.ID_CT_SZTP_CONVEYED_INFO_JSON, _idevid)
    _CASES.append((_idevid, envelope.encrypt_artifact(_signed, _idevid.cert, cipher=_cipher)))

mutations = st.lists(
    st.tuples(
        st.sampled_from(["replace", "insert", "delete"]),
        st.integers(0, 10**6),
        st.binary(min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=4,
)


def _apply(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    buf = bytearray(data)
    for kind, where, value in edits:
        at = where % (len(buf) + 1)
        if kind == "replace":
            buf[at : at + len(value)] = value
        elif kind == "insert":
            buf[at:at] = value
        else:
            del buf[at : at + len(value)]
    return bytes(buf)


@pytest.mark.parametrize(
    "case", range(len(_CASES)), ids=["rsa-cbc", "rsa-gcm", "ec-3des", "ec-gcm"]
)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=mutations)
def test_mutated_envelope_gives_only_typed_errors(
    case: int, edits: list[tuple[str, int, bytes]]
) -> None:
    idevid, der = _CASES[case]
    mutated = _apply(der, edits)
    decryptor, key = counted(idevid)
    try:
        result = cms.unwrap(mutated, "conveyed-information", decryptor=decryptor)
    except DataError:
        pass
    else:
        assert isinstance(result, cms.Plain | cms.Signed)
    assert key.operations <= 1
