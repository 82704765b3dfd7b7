"""Property tests for every data-model parser (R-051..R-056, R-082, R-089, R-134, D13, D15).

Whatever the bytes or text, a parser either returns a result or raises a ``DataError``; any other
exception would be a crash on hostile input.  Valid conveyed information survives the JSON (and
XML) round trip.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sztp_client.encoding.yang_types import (
    decode_base64,
    decode_hex_string,
    encode_base64,
    format_datetime,
    parse_datetime,
)
from sztp_client.errors import DataError
from sztp_client.model.conveyed import (
    SHA_256,
    BootImage,
    BootstrapServer,
    ConfigurationHandling,
    ConveyedInformation,
    ImageVerification,
    OnboardingInformation,
    RedirectInformation,
    conveyed_information_to_json,
)
from sztp_client.model.conveyed_parser import parse_conveyed_information
from sztp_client.model.rpc import (
    parse_get_bootstrapping_data_input,
    parse_get_bootstrapping_data_output,
    parse_report_progress_input,
)
from sztp_client.model.voucher import parse_voucher
from sztp_client.progress import ProgressType

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CONVEYED_NS = "urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info"
SERVER_NS = "urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"


def _certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz")])
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


PDC_B64 = encode_base64(_certificate())


def _returns_or_data_error(parse: Callable[[], object]) -> None:
    with contextlib.suppress(DataError):
        parse()


# ---------------------------------------------------------------------------------------------
# Strategies for hostile input

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["QQ==", "base64encodedvalue==", "2016-10-07T19:31:42Z", "true", "8443"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

CONVEYED_NAMES = [
    "bootstrap-server", "address", "port", "trust-anchor", "boot-image", "os-name", "os-version",
    "download-uri", "image-verification", "hash-algorithm", "hash-value",
    "configuration-handling", "pre-configuration-script", "configuration",
    "post-configuration-script", "ietf-sztp-conveyed-info:boot-image", "x:unknown",
]  # fmt: skip
VOUCHER_NAMES = [
    "created-on", "expires-on", "assertion", "serial-number", "idevid-issuer",
    "pinned-domain-cert", "domain-cert-revocation-checks", "nonce", "last-renewal-date",
    "ietf-voucher:nonce", "extensions",
]  # fmt: skip
RPC_NAMES = [
    "signed-data-preferred", "hw-model", "os-name", "os-version", "nonce", "reporting-level",
    "conveyed-information", "owner-certificate", "ownership-voucher", "progress-type", "message",
    "ssh-host-keys", "ssh-host-key", "algorithm", "key-data", "trust-anchor-certs",
    "trust-anchor-cert", "ietf-sztp-csr:csr-support",
]  # fmt: skip


def schema_shaped(names: list[str], extra_values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """JSON values whose objects mostly use the schema's member names, to reach deep code."""
    leaves = st.one_of(json_scalars, extra_values)
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(names) | st.text(max_size=5), inner, max_size=6)
        ),
        max_leaves=20,
    )


def _dump(value: object) -> bytes:
    return json.dumps(value).encode()


conveyed_documents = st.builds(
    lambda member, value: _dump({member: value}),
    st.sampled_from(
        [
            "ietf-sztp-conveyed-info:redirect-information",
            "ietf-sztp-conveyed-info:onboarding-information",
        ]
    ),
    schema_shaped(
        CONVEYED_NAMES,
        st.sampled_from(
            [
                "sha-256",
                "ietf-sztp-conveyed-info:sha-256",
                "merge",
                "ba:ec",
                "2001:db8::1",
                "h.example",
            ]
        ),
    ),
)
voucher_documents = st.builds(
    lambda value: _dump({"ietf-voucher:voucher": value}),
    st.one_of(
        schema_shaped(VOUCHER_NAMES, st.sampled_from([PDC_B64, "logged", "verified"])),
        st.fixed_dictionaries(
            {
                "created-on": st.sampled_from(["2016-10-07T19:31:42Z", "x"]),
                "assertion": st.sampled_from(["logged", "proximity", "nope"]),
                "serial-number": st.text(max_size=5),
                "pinned-domain-cert": st.sampled_from([PDC_B64, "QQ==", ""]),
            },
            optional={
                name: json_values | st.sampled_from(["2017-01-01T00:00:00Z", "QUJDREVGR0g="])
                for name in ("expires-on", "nonce", "last-renewal-date", "idevid-issuer",
                             "domain-cert-revocation-checks")
            },
        ),
    ),
)  # fmt: skip
rpc_documents = st.builds(
    lambda member, value: _dump({member: value}),
    st.sampled_from(["ietf-sztp-bootstrap-server:input", "ietf-sztp-bootstrap-server:output"]),
    schema_shaped(
        RPC_NAMES,
        st.sampled_from(
            [[None], "bootstrap-complete", "verbose", "QQ==", "AAAAAAAAAAAAAAAAAAAAAA=="]
        ),
    ),
)


def _xml_element(names: list[str]) -> st.SearchStrategy[str]:
    """Small XML fragments built from the schema's element names, text and namespaces."""
    text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=10).map(
        escape
    ) | st.sampled_from(["QQ==", "8443", "sztp-info:sha-256", "p:sha-256", "merge", "a.example"])
    leaf = st.builds(
        lambda name, decl, body: f"<{name}{decl}>{body}</{name}>",
        st.sampled_from(names),
        st.sampled_from(
            ["", f' xmlns="{CONVEYED_NS}"', ' xmlns:p="urn:x"', ' xmlns="urn:other"', ' a="1"']
        ),
        text,
    )
    return st.recursive(
        leaf,
        lambda inner: st.builds(
            lambda name, children: f"<{name}>{''.join(children)}</{name}>",
            st.sampled_from(names),
            st.lists(inner, max_size=4),
        ),
        max_leaves=15,
    )


conveyed_xml_documents = st.builds(
    lambda root, body, prefix: (
        f'<{prefix}{root} xmlns="{CONVEYED_NS}" xmlns:sztp-info="{CONVEYED_NS}">{body}'
        f"</{prefix}{root}>"
    ).encode(),
    st.sampled_from(["redirect-information", "onboarding-information", "boot-image"]),
    st.lists(_xml_element(CONVEYED_NAMES[:-2]), max_size=4).map("".join),
    st.sampled_from(["", "sztp-info:"]),
)
output_xml_documents = st.builds(
    lambda body: f'<output xmlns="{SERVER_NS}">{body}</output>'.encode(),
    st.lists(_xml_element(RPC_NAMES[:-1]), max_size=4).map("".join),
)


# ---------------------------------------------------------------------------------------------
# Parsers never fail with anything but DataError


@FUZZ
@given(data=st.binary(max_size=300) | conveyed_documents | conveyed_xml_documents)
@pytest.mark.parametrize("encoding", ["json", "xml", None])
def test_r051_parse_conveyed_information_total(data: bytes, encoding: Any) -> None:
    """R-051..R-055 / D15: conveyed information parsing returns or raises DataError."""
    _returns_or_data_error(lambda: parse_conveyed_information(data, encoding))


@FUZZ
@given(data=st.binary(max_size=300) | voucher_documents)
def test_r134_parse_voucher_total(data: bytes) -> None:
    """R-134..R-137: voucher parsing returns or raises DataError."""
    _returns_or_data_error(lambda: parse_voucher(data))


@FUZZ
@given(data=st.binary(max_size=300) | rpc_documents)
def test_r089_parse_output_json_total(data: bytes) -> None:
    """R-089: get-bootstrapping-data output (JSON) parsing returns or raises DataError."""
    _returns_or_data_error(lambda: parse_get_bootstrapping_data_output(data))


@FUZZ
@given(
    data=st.binary(max_size=300) | output_xml_documents,
    media_type=st.sampled_from(
        ["application/yang-data+xml", "application/yang-data+xml; charset=utf-8", "text/xml"]
    ),
)
def test_r089_parse_output_xml_total(data: bytes, media_type: str) -> None:
    """R-089: get-bootstrapping-data output (XML) parsing returns or raises DataError."""
    _returns_or_data_error(lambda: parse_get_bootstrapping_data_output(data, media_type))


@FUZZ
@given(data=st.binary(max_size=300) | rpc_documents)
def test_r084_parse_input_total(data: bytes) -> None:
    """R-084 / R-087: get-bootstrapping-data input parsing returns or raises DataError."""
    _returns_or_data_error(lambda: parse_get_bootstrapping_data_input(data))


@FUZZ
@given(data=st.binary(max_size=300) | rpc_documents)
def test_r082_parse_report_progress_total(data: bytes) -> None:
    """R-082: report-progress input parsing returns or raises DataError."""
    _returns_or_data_error(lambda: parse_report_progress_input(data))


@FUZZ
@given(text=st.text(max_size=60) | st.text("ABCabc019+/=-_ \n\t\r", max_size=60))
def test_r055_decode_base64_total(text: str) -> None:
    """R-055 / D13: base64 decoding returns or raises DataError."""
    _returns_or_data_error(lambda: decode_base64(text, "leaf"))


@FUZZ
@given(data=st.binary(max_size=80))
def test_r055_base64_round_trip(data: bytes) -> None:
    """R-055: decode(encode(x)) == x, also with the padding dropped and line breaks added."""
    text = encode_base64(data)
    assert decode_base64(text, "leaf") == data
    assert decode_base64(text.rstrip("="), "leaf") == data
    assert decode_base64("\n".join(text[i : i + 7] for i in range(0, len(text), 7)), "x") == data


@FUZZ
@given(text=st.text(max_size=40) | st.text("0123456789abcdefABCDEF:g ", max_size=40))
def test_r054_decode_hex_string_total(text: str) -> None:
    """R-054 / D13: hex-string decoding returns or raises DataError."""
    _returns_or_data_error(lambda: decode_hex_string(text, "hash-value"))


@FUZZ
@given(data=st.binary(min_size=1, max_size=40), colons=st.booleans(), upper=st.booleans())
def test_r054_hex_string_round_trip(data: bytes, colons: bool, upper: bool) -> None:
    """R-054 / D13: any octets written as hex, with or without colons, in any case, decode back."""
    text = data.hex(":") if colons else data.hex()
    assert decode_hex_string(text.upper() if upper else text, "x") == data


@FUZZ
@given(
    text=st.text(max_size=40)
    | st.from_regex(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})",
        fullmatch=True,
    )
)
def test_r134_parse_datetime_total(text: str) -> None:
    """R-134: date-and-time parsing returns an aware UTC datetime or raises DataError."""
    try:
        value = parse_datetime(text, "created-on")
    except DataError:
        return
    assert value.tzinfo is dt.UTC


@FUZZ
@given(
    value=st.datetimes(
        timezones=st.integers(min_value=-1439, max_value=1439).map(
            lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
        )
    )
)
def test_r134_datetime_round_trip(value: dt.datetime) -> None:
    """R-134: format_datetime then parse_datetime gives the same instant."""
    try:
        text = format_datetime(value)
    except OverflowError:  # the instant in UTC falls outside years 1..9999
        return
    assert parse_datetime(text, "x") == value


# ---------------------------------------------------------------------------------------------
# Valid conveyed information round-trips

labels = st.from_regex(r"[a-z0-9]|[a-z0-9_][a-z0-9_-]{0,8}[a-z0-9]", fullmatch=True)
hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    # A name of digits and dots only is read as an IPv4 address.
    st.lists(labels, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda name: not set(name) <= set("0123456789.")),
)
servers = st.builds(
    BootstrapServer,
    address=hosts,
    port=st.integers(min_value=0, max_value=65535),
    trust_anchor=st.none() | st.binary(max_size=40),
)
redirects = st.builds(
    RedirectInformation,
    st.lists(servers, min_size=1, max_size=4, unique_by=lambda s: s.key).map(tuple),
)
uris = st.from_regex(r"(https?|ftp|tftp|file):[!-~]{0,30}", fullmatch=True)
verifications = st.one_of(
    st.builds(
        ImageVerification,
        st.sampled_from(["sha-256", SHA_256]),
        st.binary(min_size=32, max_size=32),
    ),
    st.builds(
        ImageVerification,
        st.sampled_from(["sha-512", "example-hash:sha-512", "x:sha3-256"]),
        st.binary(min_size=1, max_size=64),
    ),
)  # fmt: skip


def _texts(xml_safe: bool) -> st.SearchStrategy[str]:
    if not xml_safe:
        return st.text(st.characters(codec="utf-8"), max_size=20)
    characters = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co"))
    return st.text(characters, max_size=20).map(str.strip)


@st.composite
def boot_images(draw: st.DrawFn, xml_safe: bool = False) -> BootImage:
    download = tuple(draw(st.lists(uris, max_size=3)))
    checks: tuple[ImageVerification, ...] = ()
    if download:
        checks = tuple(
            draw(st.lists(verifications, max_size=3, unique_by=lambda v: v.hash_algorithm))
        )
    text = _texts(xml_safe)
    return BootImage(draw(st.none() | text), draw(st.none() | text), download, checks)


@st.composite
def onboardings(draw: st.DrawFn, xml_safe: bool = False) -> OnboardingInformation:
    handling = draw(st.none() | st.sampled_from(ConfigurationHandling))
    configuration = None if handling is None else draw(st.binary(max_size=60))
    return OnboardingInformation(
        boot_image=draw(st.none() | boot_images(xml_safe)),
        configuration_handling=handling,
        pre_configuration_script=draw(st.none() | st.binary(max_size=60)),
        configuration=configuration,
        post_configuration_script=draw(st.none() | st.binary(max_size=60)),
    )


@FUZZ
@given(value=redirects | onboardings(), ensure_ascii=st.booleans(), sniff=st.booleans())
def test_r051_conveyed_information_json_round_trip(
    value: ConveyedInformation, ensure_ascii: bool, sniff: bool
) -> None:
    """R-051..R-054: parse(to_json(x)) == x for any valid conveyed information."""
    text = json.dumps(conveyed_information_to_json(value), ensure_ascii=ensure_ascii)
    assert parse_conveyed_information(text.encode(), None if sniff else "json") == value


def _leaf(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


def _to_xml(value: ConveyedInformation) -> bytes:
    """A test-side XML writer, independent of the parser, for the XML round trip."""
    parts: list[str] = []
    if isinstance(value, RedirectInformation):
        root = "redirect-information"
        for server in value.bootstrap_servers:
            inner = _leaf("address", server.address) + _leaf("port", str(server.port))
            if server.trust_anchor is not None:
                inner += _leaf("trust-anchor", encode_base64(server.trust_anchor))
            parts.append(f"<bootstrap-server>{inner}</bootstrap-server>")
    else:
        root = "onboarding-information"
        image = value.boot_image
        if image is not None:
            inner = ""
            if image.os_name is not None:
                inner += _leaf("os-name", image.os_name)
            if image.os_version is not None:
                inner += _leaf("os-version", image.os_version)
            inner += "".join(_leaf("download-uri", uri) for uri in image.download_uris)
            for check in image.image_verifications:
                module, _, name = check.hash_algorithm.partition(":")
                namespace = (
                    CONVEYED_NS
                    if module == "ietf-sztp-conveyed-info"
                    else f"urn:ietf:params:xml:ns:yang:{module}"
                )
                inner += (
                    f'<image-verification xmlns:h="{namespace}">'
                    f"{_leaf('hash-algorithm', 'h:' + name)}"
                    f"{_leaf('hash-value', check.hash_value.hex(':'))}</image-verification>"
                )
            parts.append(f"<boot-image>{inner}</boot-image>")
        if value.configuration_handling is not None:
            parts.append(_leaf("configuration-handling", value.configuration_handling.value))
        for name, data in (
            ("pre-configuration-script", value.pre_configuration_script),
            ("configuration", value.configuration),
            ("post-configuration-script", value.post_configuration_script),
        ):
            if data is not None:
                parts.append(_leaf(name, encode_base64(data)))
    return f'<{root} xmlns="{CONVEYED_NS}">{"".join(parts)}</{root}>'.encode()


@FUZZ
@given(value=redirects | onboardings(xml_safe=True))
def test_r051_conveyed_information_xml_matches_json(value: ConveyedInformation) -> None:
    """R-051 / D15: the XML encoding of valid conveyed information parses to the same object."""
    assert parse_conveyed_information(_to_xml(value)) == value


@FUZZ
@given(progress_type=st.sampled_from(ProgressType), message=st.none() | _texts(False))
def test_r082_report_progress_round_trip(progress_type: ProgressType, message: str | None) -> None:
    """R-082: any progress type and message survive to_json and parsing."""
    from sztp_client.model.rpc import ReportProgressInput

    report = ReportProgressInput(progress_type, message)
    assert parse_report_progress_input(report.to_json()) == report
