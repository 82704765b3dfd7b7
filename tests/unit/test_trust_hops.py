"""The trust owner across redirect hops (R-059..R-061, R-026, D16, D18): what each hop may be
sent, when a redirect's anchor is adopted, and that misuse raises."""

from __future__ import annotations

import pytest

from sztp_client.model.conveyed import BootstrapServer, OnboardingInformation, RedirectInformation
from sztp_client.trust.hops import DeviceDetails, HopTrust, HopTrustError
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import VerifiedData
from sztp_lab.artifacts import trust_anchor_bag
from sztp_lab.pki import make_lab_pki

PKI = make_lab_pki()
BAG = trust_anchor_bag(PKI.owner_intermediate)
TARGET = BootstrapServer("next.example", 443, BAG)
REDIRECT = RedirectInformation((TARGET,))
NONCE = bytes(range(32))
DETAILS = DeviceDetails("model-x", "LabOS", "1.0")


def _data(*, signed: bool, info: object = REDIRECT) -> VerifiedData:
    return VerifiedData(info, signed=signed, encrypted=False, content_type="data")  # type: ignore[arg-type]


def test_untrusted_hop_is_sent_only_signed_data_preferred_and_a_nonce() -> None:
    """D18: byte for byte; no credentials, no reports."""
    hop = HopTrust.first((), max_hops=3)
    body = hop.request(NONCE, DETAILS).to_json()
    assert body == (
        b'{"ietf-sztp-bootstrap-server:input":{"signed-data-preferred":[null],'
        b'"nonce":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}}'
    )
    assert hop.nonce == NONCE
    assert hop.credentials(("SN", "secret")) is None
    assert not hop.decision.may_report and not hop.decision.may_send_credentials
    assert hop.source is SourceKind.UNTRUSTED_SERVER


def test_trusted_hop_is_sent_the_device_details() -> None:
    hop = HopTrust.first((PKI.owner_root.cert,), max_hops=3)
    body = hop.request(NONCE, DETAILS).to_json()
    assert body == (
        b'{"ietf-sztp-bootstrap-server:input":{"hw-model":"model-x","os-name":"LabOS",'
        b'"os-version":"1.0","nonce":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}}'
    )
    assert hop.credentials(("SN", "secret")) == ("SN", "secret")
    assert hop.decision.may_report and hop.decision.anchors == (PKI.owner_root.cert,)
    assert hop.source is SourceKind.TRUSTED_SERVER


@pytest.mark.parametrize(
    ("trusted", "signed", "adopted"),
    [(True, False, True), (False, True, True), (True, True, True), (False, False, False)],
)
def test_anchor_adopted_only_from_a_trusted_or_signed_redirect(
    trusted: bool, signed: bool, adopted: bool
) -> None:
    """R-059, R-060 adopted; R-061, R-026 dropped: the next hop is provisional."""
    hop = HopTrust.first((PKI.owner_root.cert,) if trusted else (), max_hops=1)
    hop.request(NONCE, DETAILS)
    nxt = hop.next_hop(_data(signed=signed), TARGET)
    assert nxt.hop == 1
    assert nxt.trusted is adopted
    if adopted:
        assert PKI.owner_intermediate.cert in (nxt.anchors or ())


def test_a_target_without_an_anchor_is_provisional() -> None:
    hop = HopTrust.first((PKI.owner_root.cert,), max_hops=1)
    hop.request(NONCE, DETAILS)
    bare = BootstrapServer("bare.example")
    assert not hop.next_hop(_data(signed=True, info=RedirectInformation((bare,))), bare).trusted


def test_misuse_raises() -> None:
    hop = HopTrust.first((PKI.owner_root.cert,), max_hops=1)
    with pytest.raises(HopTrustError, match="no request"):
        hop.next_hop(_data(signed=True), TARGET)  # nothing was sent at this hop
    with pytest.raises(HopTrustError, match="nonce"):
        hop.request(b"", DETAILS)
    hop.request(NONCE, DETAILS)
    with pytest.raises(HopTrustError, match="verified"):
        hop.next_hop(REDIRECT, TARGET)  # type: ignore[arg-type]
    with pytest.raises(HopTrustError, match="not in"):
        hop.next_hop(_data(signed=True), BootstrapServer("other.example"))
    onboarding = OnboardingInformation()
    with pytest.raises(HopTrustError, match="not in"):
        hop.next_hop(_data(signed=True, info=onboarding), TARGET)
    nxt = hop.next_hop(_data(signed=True), TARGET)
    nxt.request(NONCE, DETAILS)
    with pytest.raises(HopTrustError, match="hop limit"):
        nxt.next_hop(_data(signed=True), TARGET)  # D16
