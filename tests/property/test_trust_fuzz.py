"""Property tests on the trust core: arbitrary and mutated bytes give a typed DataError.

No input, however malformed, may raise anything but DataError, and no mutation of a valid
signed set may be accepted with content other than what was signed.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sztp_client.errors import DataError
from sztp_client.trust import armor, cms
from sztp_client.trust.verifier import Artifacts
from sztp_lab.artifacts import SignedSet, make_signed_set
from sztp_lab.pki import LabPKI, make_lab_pki
from tests.support import ONBOARDING, SERIAL, verify

FAST = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_PKI: LabPKI = make_lab_pki("ec-p256")
_GOOD: SignedSet = make_signed_set(_PKI, SERIAL, ONBOARDING)
_EXPECTED = verify(_PKI, _GOOD).conveyed_information


def der_like() -> st.SearchStrategy[bytes]:
    """Bytes that often start like DER, so the parser gets past the first octet."""
    return st.one_of(
        st.binary(max_size=600),
        st.binary(max_size=600).map(lambda b: b"\x30" + bytes([min(len(b), 127)]) + b),
        st.binary(max_size=600).map(lambda b: b"\x30\x82" + len(b).to_bytes(2, "big") + b),
    )


@FAST
@given(der_like())
def test_unwrap_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(DataError):
        cms.unwrap(data, "fuzz")


@FAST
@given(st.binary(max_size=2000))
def test_armor_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(DataError):
        armor.decode_cms_input(data, "fuzz")
    with contextlib.suppress(DataError):
        armor.load_certificates(data, "fuzz")


@FAST
@given(der_like(), st.one_of(st.none(), der_like()), st.one_of(st.none(), der_like()))
def test_verify_arbitrary_artifacts(ci: bytes, oc: bytes | None, ov: bytes | None) -> None:
    with pytest.raises(DataError):
        verify(_PKI, Artifacts(ci, oc, ov))


def _mutate(data: bytes, position: int, value: int) -> bytes:
    index = position % len(data)
    replacement = value if value != data[index] else (value + 1) % 256
    return data[:index] + bytes([replacement]) + data[index + 1 :]


@settings(
    max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(["conveyed_information", "owner_certificate", "ownership_voucher"]),
    st.integers(min_value=0, max_value=1 << 20),
    st.integers(min_value=0, max_value=255),
)
def test_single_byte_mutation_never_changes_accepted_content(
    part: str, position: int, value: int
) -> None:
    """R-038, R-039: a mutated set is refused, or accepted with exactly the signed content."""
    parts = {
        "conveyed_information": _GOOD.conveyed_information,
        "owner_certificate": _GOOD.owner_certificate,
        "ownership_voucher": _GOOD.ownership_voucher,
    }
    original = parts[part]
    assert original is not None
    parts[part] = _mutate(original, position, value)
    try:
        verified = verify(_PKI, Artifacts(**parts))  # type: ignore[arg-type]
    except DataError:
        return
    assert verified.conveyed_information == _EXPECTED
