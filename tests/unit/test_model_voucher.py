"""The voucher's JSON content (RFC 8366; D12; R-134..R-137)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sztp_client.encoding.yang_types import encode_base64
from sztp_client.errors import EncodingError, ModelError
from sztp_client.model.voucher import Assertion, Voucher, parse_voucher, voucher_to_json

UTC = dt.UTC
TOP = "ietf-voucher:voucher"


def _make_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pinned Domain CA")])
    start = dt.datetime(2016, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


PDC = _make_certificate()
PDC_B64 = encode_base64(PDC)


def _voucher(**leaves: object) -> bytes:
    body: dict[str, object] = {
        "created-on": "2016-10-07T19:31:42Z",
        "assertion": "logged",
        "serial-number": "JADA123456789",
        "pinned-domain-cert": PDC_B64,
    }
    for name, value in leaves.items():
        key = name.replace("_", "-")
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return json.dumps({TOP: body}).encode()


def _field(data: bytes) -> str:
    with pytest.raises(ModelError) as info:
        parse_voucher(data)
    return info.value.field


# RFC 8366 §5.2's examples, with a real certificate in place of the placeholder
# "base64encodedvalue==" as pinned-domain-cert (which must be a certificate).
RFC_EXAMPLE_1 = (
    b"""{
  "ietf-voucher:voucher": {
    "created-on": "2016-10-07T19:31:42Z",
    "assertion": "logged",
    "serial-number": "JADA123456789",
    "idevid-issuer": "base64encodedvalue==",
    "pinned-domain-cert": "PDC",
    "nonce": "base64encodedvalue=="
  }
}"""
).replace(b'"PDC"', json.dumps(PDC_B64).encode())

RFC_EXAMPLE_2 = (
    b"""{
  "ietf-voucher:voucher": {
    "created-on": "2016-10-07T19:31:42Z",
    "expires-on": "2016-10-21T19:31:42Z",
    "assertion": "verified",
    "serial-number": "JADA123456789",
    "idevid-issuer": "base64encodedvalue==",
    "pinned-domain-cert": "PDC",
    "domain-cert-revocation-checks": "true",
    "last-renewal-date": "2017-10-07T19:31:42Z"
  }
}"""
).replace(b'"PDC"', json.dumps(PDC_B64).encode())

PLACEHOLDER = bytes.fromhex("6dab1eeb87a772875e76f6a5b9")


def test_r134_rfc8366_nonce_example() -> None:
    """R-134: the RFC 8366 §5.2 nonce voucher parses into every leaf."""
    voucher = parse_voucher(RFC_EXAMPLE_1)
    assert voucher == Voucher(
        created_on=dt.datetime(2016, 10, 7, 19, 31, 42, tzinfo=UTC),
        expires_on=None,
        assertion=Assertion.LOGGED,
        serial_number="JADA123456789",
        idevid_issuer=PLACEHOLDER,
        pinned_domain_cert=PDC,
        domain_cert_revocation_checks=None,
        nonce=PLACEHOLDER,
        last_renewal_date=None,
    )


def test_r136_rfc8366_example_with_string_boolean() -> None:
    """R-136 / D12: RFC 8366's example with "domain-cert-revocation-checks": "true" parses."""
    voucher = parse_voucher(RFC_EXAMPLE_2)
    assert voucher.domain_cert_revocation_checks is True
    assert voucher.assertion is Assertion.VERIFIED
    assert voucher.expires_on == dt.datetime(2016, 10, 21, 19, 31, 42, tzinfo=UTC)
    assert voucher.last_renewal_date == dt.datetime(2017, 10, 7, 19, 31, 42, tzinfo=UTC)


def test_r134_rfc8366_placeholder_pinned_domain_cert_refused() -> None:
    """R-134: the RFC's placeholder is not a certificate → ModelError on pinned-domain-cert."""
    assert _field(_voucher(pinned_domain_cert="base64encodedvalue==")) == "pinned-domain-cert"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("false", False)],
)
def test_r136_revocation_checks_boolean_or_string(value: object, expected: bool) -> None:
    """R-136 / D12: JSON true/false and the strings "true"/"false" parse identically."""
    voucher = parse_voucher(_voucher(domain_cert_revocation_checks=value))
    assert voucher.domain_cert_revocation_checks is expected


@pytest.mark.parametrize("value", ["True", "yes", "1", 1, 0, [True], {}])
def test_r136_revocation_checks_other_values_refused(value: object) -> None:
    """R-136: anything else is a ModelError naming the leaf."""
    assert _field(_voucher(domain_cert_revocation_checks=value)) == "domain-cert-revocation-checks"


@pytest.mark.parametrize("leaf", ["created-on", "assertion", "serial-number", "pinned-domain-cert"])
def test_r134_missing_mandatory_leaf_refused(leaf: str) -> None:
    """R-134 / R-137: every mandatory leaf (pinned-domain-cert included, D12) is required."""
    assert _field(_voucher(**{leaf.replace("-", "_"): None})) == leaf


@pytest.mark.parametrize(
    ("leaf", "value"),
    [
        ("created-on", 1475868702),
        ("created-on", "2016-10-07"),
        ("created-on", "2016-10-07T19:31:42"),
        ("expires-on", "tomorrow"),
        ("expires-on", 5),
        ("last-renewal-date", "2016-10-07T25:00:00Z"),
        ("assertion", "trusted"),
        ("assertion", "LOGGED"),
        ("assertion", 1),
        ("serial-number", 123456789),
        ("serial-number", ["JADA"]),
        ("idevid-issuer", "not base64!"),
        ("idevid-issuer", 5),
        ("pinned-domain-cert", "QUJD"),
        ("pinned-domain-cert", ""),
        ("pinned-domain-cert", "%%"),
        ("pinned-domain-cert", True),
        ("nonce", encode_base64(b"1234567")),
        ("nonce", encode_base64(b"x" * 33)),
        ("nonce", ""),
        ("nonce", "*"),
    ],
)
def test_r134_wrong_types_and_formats_refused(leaf: str, value: object) -> None:
    """R-134: wrong JSON types, bad dates, unknown assertions, bad base64, bad DER, nonce size."""
    extra: dict[str, object] = {leaf.replace("-", "_"): value}
    if leaf == "last-renewal-date":
        extra["expires_on"] = "2017-01-01T00:00:00Z"
    assert _field(_voucher(**extra)) == leaf


@pytest.mark.parametrize("size", [8, 16, 32])
def test_r134_nonce_sizes_accepted(size: int) -> None:
    """R-134: nonce of 8..32 octets."""
    nonce = bytes(range(size))
    assert parse_voucher(_voucher(nonce=encode_base64(nonce))).nonce == nonce


def test_r135_expires_on_and_nonce_together_accepted() -> None:
    """R-135 / D12: both expires-on and nonce are accepted (rfc8366bis); both are checked later."""
    voucher = parse_voucher(
        _voucher(expires_on="2017-01-01T00:00:00+01:00", nonce=encode_base64(b"n" * 16))
    )
    assert voucher.expires_on == dt.datetime(2016, 12, 31, 23, tzinfo=UTC)
    assert voucher.nonce == b"n" * 16


def test_r135_last_renewal_date_needs_expires_on() -> None:
    """R-135: last-renewal-date without expires-on → ModelError (must '../expires-on')."""
    assert _field(_voucher(last_renewal_date="2017-10-07T19:31:42Z")) == "last-renewal-date"


def test_r137_unknown_leaves_ignored_and_agent_proximity() -> None:
    """R-137 / D12: rfc8366bis leaves are ignored; the agent-proximity assertion is known."""
    voucher = parse_voucher(
        _voucher(
            assertion="agent-proximity",
            extensions=["x"],
            manufacturer_proprietary="QUJD",
            est_domain="https://est.example",
            pinned_domain_pubk="QUJD",
            additional_configuration_url="https://cfg.example",
            **{"other-module:thing": {"deep": [1]}},
        )
    )
    assert voucher.assertion is Assertion.AGENT_PROXIMITY


def test_r137_voucher_with_public_key_but_no_certificate_refused() -> None:
    """R-137: an rfc8366bis voucher pinning only a public key is unusable for SZTP."""
    data = _voucher(pinned_domain_cert=None, pinned_domain_pubk="QUJD")
    assert _field(data) == "pinned-domain-cert"


def test_r134_module_qualified_leaf_names() -> None:
    """R-134: leaf names qualified with ietf-voucher are read as the simple names."""
    data = json.dumps(
        {
            TOP: {
                "ietf-voucher:created-on": "2016-10-07T19:31:42Z",
                "assertion": "proximity",
                "serial-number": "S",
                "ietf-voucher:pinned-domain-cert": PDC_B64,
            }
        }
    ).encode()
    assert parse_voucher(data).assertion is Assertion.PROXIMITY


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"voucher": {}},
        {TOP: {}, "extra": 1},
        {TOP: []},
        [],
        "voucher",
    ],
)
def test_r134_top_level_shape(document: object) -> None:
    """R-134: exactly one top member ietf-voucher:voucher holding an object."""
    assert _field(json.dumps(document).encode()) == TOP


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b'{"ietf-voucher:voucher": {"serial-number": "A", "serial-number": "B"}}',
        b"\xef\xbb\xbf{}",
        b"[" * 100_000,
    ],
)
def test_r134_malformed_json_refused(data: bytes) -> None:
    """R-134 / D15: malformed or duplicate-key JSON → EncodingError."""
    with pytest.raises(EncodingError):
        parse_voucher(data)


def test_r134_voucher_to_json_round_trip() -> None:
    """R-134: voucher_to_json writes base64 and RFC 3339; parse gives an equal voucher."""
    for data in (RFC_EXAMPLE_1, RFC_EXAMPLE_2):
        voucher = parse_voucher(data)
        document = voucher_to_json(voucher)
        assert parse_voucher(json.dumps(document).encode()) == voucher
    document = voucher_to_json(parse_voucher(RFC_EXAMPLE_2))
    assert document[TOP] == {
        "created-on": "2016-10-07T19:31:42Z",
        "expires-on": "2016-10-21T19:31:42Z",
        "assertion": "verified",
        "serial-number": "JADA123456789",
        "idevid-issuer": encode_base64(PLACEHOLDER),
        "pinned-domain-cert": PDC_B64,
        "domain-cert-revocation-checks": True,
        "last-renewal-date": "2017-10-07T19:31:42Z",
    }


def test_r134_constructor_checks() -> None:
    """R-134 / R-135: the dataclass enforces its constraints itself."""
    base = {
        "created_on": dt.datetime(2020, 1, 1, tzinfo=UTC),
        "expires_on": None,
        "assertion": Assertion.VERIFIED,
        "serial_number": "S",
        "idevid_issuer": None,
        "pinned_domain_cert": PDC,
        "domain_cert_revocation_checks": None,
        "nonce": None,
        "last_renewal_date": None,
    }
    assert Voucher(**base).assertion is Assertion.VERIFIED  # type: ignore[arg-type]
    for change, field in (
        ({"created_on": dt.datetime(2020, 1, 1)}, "created-on"),
        ({"assertion": "nope"}, "assertion"),
        ({"nonce": b"short"}, "nonce"),
        ({"last_renewal_date": dt.datetime(2020, 1, 1, tzinfo=UTC)}, "last-renewal-date"),
        ({"pinned_domain_cert": b"\x30\x00"}, "pinned-domain-cert"),
    ):
        with pytest.raises(ModelError) as info:
            Voucher(**{**base, **change})  # type: ignore[arg-type]
        assert info.value.field == field
    coerced = Voucher(**{**base, "assertion": "logged"})  # type: ignore[arg-type]
    assert coerced.assertion is Assertion.LOGGED
