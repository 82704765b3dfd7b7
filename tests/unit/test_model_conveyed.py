"""Conveyed information (RFC 8572 §6): redirect and onboarding information in JSON and XML."""

from __future__ import annotations

import json
from typing import Literal

import pytest

from sztp_client.encoding.yang_types import decode_base64
from sztp_client.errors import EncodingError, ModelError
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

NS = "urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info"
RI = "ietf-sztp-conveyed-info:redirect-information"
OI = "ietf-sztp-conveyed-info:onboarding-information"
HASH_TEXT = (
    "ba:ec:cf:a5:67:82:b4:10:77:c6:67:a6:22:ab:7d:50:04:a7:"
    "8b:8f:0e:db:02:8b:f4:75:55:fb:c1:13:b2:33"
)
HASH = bytes.fromhex(HASH_TEXT.replace(":", ""))
PLACEHOLDER = decode_base64("base64encodedvalue==", "x")
ONB = "onboarding-information"
IMAGE = f"{ONB}/boot-image"

# RFC 8572 §6.2, the redirect information example.
RFC_REDIRECT_JSON = b"""
{
  "ietf-sztp-conveyed-info:redirect-information" : {
    "bootstrap-server" : [
      {
        "address" : "sztp1.example.com",
        "port" : 8443,
        "trust-anchor" : "base64encodedvalue=="
      },
      {
        "address" : "sztp2.example.com",
        "port" : 8443,
        "trust-anchor" : "base64encodedvalue=="
      },
      {
        "address" : "sztp3.example.com",
        "port" : 8443,
        "trust-anchor" : "base64encodedvalue=="
      }
    ]
  }
}
"""

RFC_REDIRECT_XML = b"""<?xml version="1.0" encoding="utf-8"?>
<redirect-information
    xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info">
  <bootstrap-server>
    <address>sztp1.example.com</address>
    <port>8443</port>
    <trust-anchor>base64encodedvalue==</trust-anchor>
  </bootstrap-server>
  <bootstrap-server>
    <address>sztp2.example.com</address>
    <port>8443</port>
    <trust-anchor>base64encodedvalue==</trust-anchor>
  </bootstrap-server>
  <bootstrap-server>
    <address>sztp3.example.com</address>
    <port>8443</port>
    <trust-anchor>base64encodedvalue==</trust-anchor>
  </bootstrap-server>
</redirect-information>
"""

# RFC 8572 §6.2, the onboarding information example.
RFC_ONBOARDING_JSON = b"""
{
  "ietf-sztp-conveyed-info:onboarding-information" : {
    "boot-image" : {
      "os-name" : "VendorOS",
      "os-version" : "17.2R1.6",
      "download-uri" : [ "http://some/path/to/raw/file" ],
      "image-verification" : [
        {
          "hash-algorithm" : "ietf-sztp-conveyed-info:sha-256",
          "hash-value" :
            "ba:ec:cf:a5:67:82:b4:10:77:c6:67:a6:22:ab:7d:50:04:a7:8b:8f:0e:db:02:8b:f4:75:55:fb:c1:13:b2:33"
        }
      ]
    },
    "configuration-handling" : "merge",
    "pre-configuration-script" : "base64encodedvalue==",
    "configuration" : "base64encodedvalue==",
    "post-configuration-script" : "base64encodedvalue=="
  }
}
"""

RFC_ONBOARDING_XML = b"""<?xml version="1.0" encoding="utf-8"?>
<onboarding-information
    xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info"
    xmlns:sztp-info="urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info">
  <boot-image>
    <os-name>VendorOS</os-name>
    <os-version>17.2R1.6</os-version>
    <download-uri>http://some/path/to/raw/file</download-uri>
    <image-verification>
      <hash-algorithm>sztp-info:sha-256</hash-algorithm>
      <hash-value>ba:ec:cf:a5:67:82:b4:10:77:c6:67:a6:22:ab:7d:50:04:a7:8b:8f:0e:db:02:8b:f4:75:55:fb:c1:13:b2:33</hash-value>
    </image-verification>
  </boot-image>
  <configuration-handling>merge</configuration-handling>
  <pre-configuration-script>base64encodedvalue==</pre-configuration-script>
  <configuration>base64encodedvalue==</configuration>
  <post-configuration-script>base64encodedvalue==</post-configuration-script>
</onboarding-information>
"""

EXPECTED_REDIRECT = RedirectInformation(
    tuple(BootstrapServer(f"sztp{i}.example.com", 8443, PLACEHOLDER) for i in (1, 2, 3))
)
EXPECTED_ONBOARDING = OnboardingInformation(
    boot_image=BootImage(
        "VendorOS",
        "17.2R1.6",
        ("http://some/path/to/raw/file",),
        (ImageVerification(SHA_256, HASH),),
    ),
    configuration_handling=ConfigurationHandling.MERGE,
    pre_configuration_script=PLACEHOLDER,
    configuration=PLACEHOLDER,
    post_configuration_script=PLACEHOLDER,
)


def _json(body: object, member: str = OI) -> bytes:
    return json.dumps({member: body}).encode()


def _onboarding_xml(body: str, extra: str = "") -> bytes:
    return f'<onboarding-information xmlns="{NS}" {extra}>{body}</onboarding-information>'.encode()


def _redirect_xml(body: str) -> bytes:
    return f'<redirect-information xmlns="{NS}">{body}</redirect-information>'.encode()


def _model_error(data: bytes, encoding: Literal["json", "xml"] | None = None) -> str:
    with pytest.raises(ModelError) as info:
        parse_conveyed_information(data, encoding)
    return info.value.field


def _image(**members: object) -> dict[str, object]:
    return {"boot-image": {"download-uri": ["https://h/i.img"], **members}}


# ---------------------------------------------------------------------------------------------
# the choice, the encodings


@pytest.mark.parametrize("encoding", ["json", None])
def test_r051_rfc_redirect_example_json(encoding: Literal["json"] | None) -> None:
    """R-051 / R-052: RFC 8572 §6.2 redirect example (JSON) parses, with and without sniffing."""
    assert parse_conveyed_information(RFC_REDIRECT_JSON, encoding) == EXPECTED_REDIRECT


@pytest.mark.parametrize("encoding", ["xml", None])
def test_r051_rfc_redirect_example_xml(encoding: Literal["xml"] | None) -> None:
    """R-051 / R-052: the same redirect information in XML parses to the same object."""
    assert parse_conveyed_information(RFC_REDIRECT_XML, encoding) == EXPECTED_REDIRECT


@pytest.mark.parametrize("encoding", ["json", None])
def test_r051_rfc_onboarding_example_json(encoding: Literal["json"] | None) -> None:
    """R-051 / R-053 / R-054: RFC 8572 §6.2 onboarding example (JSON) parses."""
    assert parse_conveyed_information(RFC_ONBOARDING_JSON, encoding) == EXPECTED_ONBOARDING


@pytest.mark.parametrize("encoding", ["xml", None])
def test_r051_rfc_onboarding_example_xml(encoding: Literal["xml"] | None) -> None:
    """R-051 / R-054: the onboarding example in XML, hash-algorithm a prefixed QName."""
    assert parse_conveyed_information(RFC_ONBOARDING_XML, encoding) == EXPECTED_ONBOARDING


@pytest.mark.parametrize("data", [RFC_REDIRECT_JSON, RFC_ONBOARDING_JSON])
def test_r051_json_round_trip_of_rfc_examples(data: bytes) -> None:
    """R-051: to_json gives the RFC 7951 form, which parses back to an equal object."""
    parsed = parse_conveyed_information(data)
    document = conveyed_information_to_json(parsed)
    assert parse_conveyed_information(json.dumps(document).encode()) == parsed
    # The RFC's placeholder has non-zero trailing bits; it is written back in canonical form.
    canonical = data.replace(b"base64encodedvalue==", b"base64encodedvaluQ==")
    assert document == json.loads(canonical)


def test_r051_to_json_omits_absent_leaves() -> None:
    """R-051: absent optional leaves are left out; port is always a number."""
    document = conveyed_information_to_json(
        RedirectInformation((BootstrapServer("sztp.example.com"),))
    )
    assert document == {RI: {"bootstrap-server": [{"address": "sztp.example.com", "port": 443}]}}
    assert conveyed_information_to_json(OnboardingInformation()) == {OI: {}}


@pytest.mark.parametrize(
    "document",
    [
        {},
        {RI: {"bootstrap-server": [{"address": "a.example"}]}, OI: {}},
        {"redirect-information": {"bootstrap-server": [{"address": "a.example"}]}},
        {"ietf-sztp-conveyed-info:other-information": {}},
        {OI: {}, "extra": 1},
        [],
        "text",
    ],
)
def test_r051_exactly_one_choice_in_json(document: object) -> None:
    """R-051: neither, both, an unqualified or unknown top member, or a non-object → ModelError."""
    assert _model_error(json.dumps(document).encode(), "json") == "conveyed-information"


def test_r051_top_level_json_array_is_sniffed_as_neither() -> None:
    """R-043 / D15: sniffing only knows '{' and '<'; anything else is an EncodingError."""
    for data in (b"[]", b"", b"   ", b"\x00{}", b"onboarding"):
        with pytest.raises(EncodingError):
            parse_conveyed_information(data)


def test_r043_sniffing_skips_blanks_and_a_bom() -> None:
    """R-043 / D15: leading blanks (and a UTF-8 BOM before XML) do not confuse sniffing."""
    assert parse_conveyed_information(b" \r\n\t" + RFC_REDIRECT_JSON) == EXPECTED_REDIRECT
    assert parse_conveyed_information(b"\xef\xbb\xbf" + RFC_REDIRECT_XML) == EXPECTED_REDIRECT
    with pytest.raises(EncodingError, match="byte-order mark"):
        parse_conveyed_information(b"\xef\xbb\xbf" + RFC_REDIRECT_JSON)


def test_r043_explicit_encoding_is_not_second_guessed() -> None:
    """R-042: JSON content declared as XML (and the reverse) is an EncodingError."""
    with pytest.raises(EncodingError):
        parse_conveyed_information(RFC_REDIRECT_JSON, "xml")
    with pytest.raises(EncodingError):
        parse_conveyed_information(RFC_REDIRECT_XML, "json")


@pytest.mark.parametrize(
    "data",
    [
        b'<redirect-information xmlns="urn:other"><bootstrap-server><address>a.example'
        b"</address></bootstrap-server></redirect-information>",
        b"<redirect-information><bootstrap-server><address>a.example</address>"
        b"</bootstrap-server></redirect-information>",
        f'<conveyed-information xmlns="{NS}"/>'.encode(),
        f'<boot-image xmlns="{NS}"/>'.encode(),
    ],
)
def test_r051_xml_root_must_be_one_of_the_choices(data: bytes) -> None:
    """R-051: the XML root must be redirect- or onboarding-information in the module namespace."""
    assert _model_error(data, "xml") == "conveyed-information"


def test_d15_json_duplicate_keys_refused() -> None:
    """D15: a duplicate JSON member (a second, different onboarding) is refused, not merged."""
    data = (
        b'{"ietf-sztp-conveyed-info:onboarding-information": {"configuration-handling": "merge",'
        b' "configuration": "QQ==", "configuration": "Qg=="}}'
    )
    with pytest.raises(EncodingError, match="more than once"):
        parse_conveyed_information(data)


@pytest.mark.parametrize(
    "data",
    [
        b'<!DOCTYPE onboarding-information [<!ENTITY e "merge">]>'
        + _onboarding_xml("<configuration-handling>&e;</configuration-handling>"),
        b"<!DOCTYPE redirect-information>" + _redirect_xml("<bootstrap-server/>"),
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        + _redirect_xml("<bootstrap-server><address>&x;</address></bootstrap-server>"),
    ],
)
def test_d15_xml_dtd_and_entities_refused(data: bytes) -> None:
    """D15: conveyed information in XML with a DTD or an entity is an EncodingError."""
    for encoding in ("xml", None):
        with pytest.raises(EncodingError):
            parse_conveyed_information(data, encoding)


def test_d15_deep_json_nesting_refused() -> None:
    """D15: hostile nesting is an EncodingError, not a crash."""
    data = b'{"' + OI.encode() + b'": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(EncodingError, match="nested too deeply"):
        parse_conveyed_information(data)


def test_r051_deep_xml_nesting_refused_as_unknown() -> None:
    """R-051: a deep XML tree stops at the first unknown element."""
    data = _onboarding_xml("<x>" * 50_000 + "</x>" * 50_000)
    assert _model_error(data, "xml") == "onboarding-information/x"


# ---------------------------------------------------------------------------------------------
# redirect information


def test_r052_port_defaults_to_443_and_ipv6_literal_honoured() -> None:
    """R-052: missing port → 443; IPv4 and IPv6 literals (no brackets) accepted."""
    data = _json(
        {"bootstrap-server": [{"address": "2001:db8::1"}, {"address": "192.0.2.7", "port": 1}]},
        RI,
    )
    parsed = parse_conveyed_information(data)
    assert parsed == RedirectInformation(
        (BootstrapServer("2001:db8::1", 443), BootstrapServer("192.0.2.7", 1))
    )


@pytest.mark.parametrize(
    ("port", "expected"), [("8443", 8443), (0, 0), (65535, 65535), ("00443", 443)]
)
def test_r052_port_number_or_digit_string(port: object, expected: int) -> None:
    """R-052: port as a JSON number or, leniently, a digit string; YANG's 0..65535 range."""
    data = _json({"bootstrap-server": [{"address": "a.example", "port": port}]}, RI)
    parsed = parse_conveyed_information(data)
    assert isinstance(parsed, RedirectInformation)
    assert parsed.bootstrap_servers[0].port == expected


@pytest.mark.parametrize("port", [65536, -1, "-1", "+1", "", "0x1bb", 443.0, True, None, [443]])
def test_r052_bad_port_refused(port: object) -> None:
    """R-052: a port out of range or of the wrong type → ModelError on the port leaf."""
    data = _json({"bootstrap-server": [{"address": "a.example", "port": port}]}, RI)
    assert _model_error(data) == "redirect-information/bootstrap-server/port"


@pytest.mark.parametrize(
    "document",
    [{"bootstrap-server": []}, {}],
)
def test_r052_empty_server_list_refused(document: object) -> None:
    """R-052: min-elements 1: an empty or missing bootstrap-server list → ModelError."""
    assert _model_error(_json(document, RI)) == "redirect-information/bootstrap-server"
    assert _model_error(_redirect_xml(""), "xml") == "redirect-information/bootstrap-server"


@pytest.mark.parametrize(
    "addresses",
    [
        ["a.example", "a.example"],
        ["a.example", "A.EXAMPLE."],
        ["2001:db8::1", "2001:DB8:0::1"],
        ["192.0.2.1", "192.0.2.1"],
    ],
)
def test_r052_duplicate_address_key_refused(addresses: list[str]) -> None:
    """R-052: the list key address is unique (compared in canonical form) → ModelError."""
    data = _json({"bootstrap-server": [{"address": a} for a in addresses]}, RI)
    assert _model_error(data) == "redirect-information/bootstrap-server/address"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "a b.example",
        "[2001:db8::1]",
        "host/path",
        "https://a.example",
        "999.1.1.1",
        "1.2.3",
        "2001:db8:::1",
        "-bad.example",
        "bad-.example",
        "a..example",
        ".",
        "x" * 64 + ".example",
        ("a." * 127) + "ab",
        "b\u00fccher.example",
        "a.example\n",
    ],
)
def test_r052_bad_address_refused(address: str) -> None:
    """R-052: an address that is neither an IP address nor a DNS name → ModelError."""
    data = _json({"bootstrap-server": [{"address": address}]}, RI)
    assert _model_error(data) == "redirect-information/bootstrap-server/address"


@pytest.mark.parametrize(
    "address", ["sztp.example.com", "sztp.example.com.", "_srv.example", "fe80::1%eth0", "x"]
)
def test_r052_good_addresses_accepted(address: str) -> None:
    """R-052: DNS names (trailing dot, underscore), scoped IPv6 and single labels are hosts."""
    assert BootstrapServer(address).address == address


@pytest.mark.parametrize(
    ("server", "field"),
    [
        ({}, "redirect-information/bootstrap-server/address"),
        ({"address": 5}, "redirect-information/bootstrap-server/address"),
        ({"address": "a.example", "portt": 1}, "redirect-information/bootstrap-server/portt"),
        (
            {"address": "a.example", "trust-anchor": "!!"},
            "redirect-information/bootstrap-server/trust-anchor",
        ),
        (
            {"address": "a.example", "trust-anchor": 1},
            "redirect-information/bootstrap-server/trust-anchor",
        ),
        ("a.example", "redirect-information/bootstrap-server"),
    ],
)
def test_r052_server_entry_errors(server: object, field: str) -> None:
    """R-052: missing address, unknown member, bad trust-anchor, wrong type → ModelError."""
    assert _model_error(_json({"bootstrap-server": [server]}, RI)) == field


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"bootstrap-server": {"address": "a.example"}}, "redirect-information/bootstrap-server"),
        ({"bootstrap-server": [], "extra": 1}, "redirect-information/extra"),
        ([], "redirect-information"),
    ],
)
def test_r052_redirect_shape_errors(document: object, field: str) -> None:
    """R-052: the list must be a JSON array; unknown members are refused (signed data)."""
    assert _model_error(_json(document, RI)) == field


def test_r052_trust_anchor_with_line_breaks() -> None:
    """R-055: a base64 trust anchor with line breaks decodes (XML text is often wrapped)."""
    data = _redirect_xml(
        "<bootstrap-server><address> a.example </address>"
        "<trust-anchor>\n  base64enco\n  dedvalue==\n</trust-anchor></bootstrap-server>"
    )
    assert parse_conveyed_information(data) == RedirectInformation(
        (BootstrapServer("a.example", 443, PLACEHOLDER),)
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("<bootstrap-server><address>a.example</address><port>x</port></bootstrap-server>",
         "redirect-information/bootstrap-server/port"),
        ("<bootstrap-server><address>a.example</address><port>1</port><port>2</port>"
         "</bootstrap-server>", "redirect-information/bootstrap-server/port"),
        ("<bootstrap-server><address>a.example</address><bogus/></bootstrap-server>",
         "redirect-information/bootstrap-server/bogus"),
        ('<bootstrap-server><address>a.example</address><port xmlns="urn:x">1</port>'
         "</bootstrap-server>", "redirect-information/bootstrap-server/port"),
        ("<bootstrap-server><port>1</port></bootstrap-server>",
         "redirect-information/bootstrap-server/address"),
        ("<bootstrap-server><address>a.example</address></bootstrap-server>"
         "<bootstrap-server><address>a.example</address></bootstrap-server>",
         "redirect-information/bootstrap-server/address"),
    ],
)  # fmt: skip
def test_r052_xml_redirect_errors(body: str, field: str) -> None:
    """R-052: the same constraints hold for XML; unknown or foreign elements → ModelError."""
    assert _model_error(_redirect_xml(body), "xml") == field


def test_r052_constructor_checks() -> None:
    """R-052: the dataclasses enforce the constraints themselves."""
    with pytest.raises(ModelError) as info:
        RedirectInformation(())
    assert info.value.field == "redirect-information/bootstrap-server"
    with pytest.raises(ModelError) as info:
        BootstrapServer("a.example", 70000)
    assert info.value.field == "redirect-information/bootstrap-server/port"
    servers = [BootstrapServer("a.example")]
    assert RedirectInformation(servers).bootstrap_servers == (BootstrapServer("a.example"),)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# onboarding information constraints


def test_r053_empty_onboarding_information_is_valid() -> None:
    """R-053: every onboarding leaf is optional; an empty boot-image is an empty BootImage."""
    assert parse_conveyed_information(_json({})) == OnboardingInformation()
    assert parse_conveyed_information(_json({"boot-image": {}})) == OnboardingInformation(
        BootImage()
    )
    assert parse_conveyed_information(_onboarding_xml("<boot-image/>")) == OnboardingInformation(
        BootImage()
    )


def test_r053_image_verification_requires_download_uri() -> None:
    """R-053: image-verification without download-uri → ModelError (must '../download-uri')."""
    document = {
        "boot-image": {
            "image-verification": [{"hash-algorithm": "sha-256", "hash-value": HASH_TEXT}]
        }
    }
    assert _model_error(_json(document)) == "onboarding-information/boot-image/image-verification"
    xml = _onboarding_xml(
        "<boot-image><image-verification><hash-algorithm>sha-256</hash-algorithm>"
        f"<hash-value>{HASH_TEXT}</hash-value></image-verification></boot-image>"
    )
    assert _model_error(xml) == "onboarding-information/boot-image/image-verification"


def test_r053_download_uri_without_verification_is_fine() -> None:
    """R-053: download-uri alone is allowed (the image step decides what to do)."""
    parsed = parse_conveyed_information(_json(_image()))
    assert parsed == OnboardingInformation(BootImage(download_uris=("https://h/i.img",)))


def test_r053_configuration_without_handling_refused() -> None:
    """R-053: configuration without configuration-handling is refused."""
    assert _model_error(_json({"configuration": "QQ=="})) == "onboarding-information/configuration"
    xml = _onboarding_xml("<configuration>QQ==</configuration>")
    assert _model_error(xml) == "onboarding-information/configuration"


def test_r053_handling_without_configuration_refused() -> None:
    """R-053: configuration-handling without configuration is refused."""
    field = _model_error(_json({"configuration-handling": "replace"}))
    assert field == "onboarding-information/configuration-handling"


@pytest.mark.parametrize("handling", ["MERGE", "patch", "", 1, None])
def test_r053_unknown_configuration_handling_refused(handling: object) -> None:
    """R-053: configuration-handling is the enumeration merge | replace."""
    field = _model_error(_json({"configuration-handling": handling, "configuration": "QQ=="}))
    assert field == "onboarding-information/configuration-handling"


def test_r053_replace_with_configuration_parses() -> None:
    """R-053: configuration and configuration-handling together are accepted."""
    parsed = parse_conveyed_information(
        _json({"configuration-handling": "replace", "configuration": "PGNvbmZpZy8+"})
    )
    assert parsed == OnboardingInformation(
        configuration_handling=ConfigurationHandling.REPLACE, configuration=b"<config/>"
    )


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"boot-image": []}, "onboarding-information/boot-image"),
        ({"boot-image": {"os-name": 1}}, "onboarding-information/boot-image/os-name"),
        ({"boot-image": {"os-version": None}}, "onboarding-information/boot-image/os-version"),
        ({"boot-image": {"download-uri": "https://h/i"}}, f"{IMAGE}/download-uri"),
        ({"boot-image": {"download-uri": [1]}}, f"{IMAGE}/download-uri"),
        ({"boot-image": {"download-uri": ["no scheme"]}}, f"{IMAGE}/download-uri"),
        ({"boot-image": {"download-uri": [""]}}, f"{IMAGE}/download-uri"),
        ({"boot-image": {"download-uri": ["https://h/a b"]}}, f"{IMAGE}/download-uri"),
        ({"boot-image": {"os_name": "x"}}, "onboarding-information/boot-image/os_name"),
        ({"pre-configuration-script": "%%%"}, "onboarding-information/pre-configuration-script"),
        ({"post-configuration-script": 12}, "onboarding-information/post-configuration-script"),
        ({"configuration-handling": "merge", "configuration": "Q"}, f"{ONB}/configuration"),
        ({"pre-configuration-scripts": "QQ=="}, "onboarding-information/pre-configuration-scripts"),
        ({"other-module:x": 1}, "onboarding-information/other-module:x"),
    ],
)  # fmt: skip
def test_r053_onboarding_type_and_unknown_member_errors(document: object, field: str) -> None:
    """R-053 / R-054: wrong JSON types, bad base64, unknown members → ModelError naming the path."""
    assert _model_error(_json(document)) == field


def test_r053_own_module_qualified_member_names_accepted() -> None:
    """R-051: a member qualified with the module's own name is read as the simple name."""
    parsed = parse_conveyed_information(
        _json({"ietf-sztp-conveyed-info:boot-image": {"ietf-sztp-conveyed-info:os-name": "X"}})
    )
    assert parsed == OnboardingInformation(BootImage(os_name="X"))
    document: dict[str, object] = {"boot-image": {}, "ietf-sztp-conveyed-info:boot-image": {}}
    assert _model_error(_json(document)) == "onboarding-information/boot-image"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("<boot-image/><boot-image/>", "onboarding-information/boot-image"),
        ("<boot-image><os-name>a</os-name><os-name>b</os-name></boot-image>",
         "onboarding-information/boot-image/os-name"),
        ("<boot-image><os-name><b/></os-name></boot-image>",
         "onboarding-information/boot-image/os-name"),
        ("<boot-image>VendorOS</boot-image>", "onboarding-information/boot-image"),
        ("<configuration-handling>merge</configuration-handling>",
         "onboarding-information/configuration-handling"),
        ("<configuration-handling>merge</configuration-handling><configuration>!</configuration>",
         "onboarding-information/configuration"),
        ("<script>QQ==</script>", "onboarding-information/script"),
    ],
)  # fmt: skip
def test_r053_xml_onboarding_errors(body: str, field: str) -> None:
    """R-053: XML repeats, mixed content, unknown elements and constraint violations."""
    assert _model_error(_onboarding_xml(body), "xml") == field


def test_r053_xml_leaf_list_and_whitespace() -> None:
    """R-053: repeated download-uri elements keep their order; leaf text is stripped."""
    parsed = parse_conveyed_information(
        _onboarding_xml(
            "<boot-image><download-uri> https://a/1 </download-uri>"
            "<os-version>\n 1.0 \n</os-version>"
            "<download-uri>https://b/2</download-uri></boot-image>"
            "<configuration-handling> replace </configuration-handling>"
            "<configuration>\n  PGNv\n  bmZpZy8+\n</configuration>"
        )
    )
    assert parsed == OnboardingInformation(
        BootImage(os_version="1.0", download_uris=("https://a/1", "https://b/2")),
        ConfigurationHandling.REPLACE,
        configuration=b"<config/>",
    )


def test_r053_constructor_checks() -> None:
    """R-053: the dataclasses enforce the musts themselves."""
    with pytest.raises(ModelError) as info:
        OnboardingInformation(configuration=b"x")
    assert info.value.field == "onboarding-information/configuration"
    with pytest.raises(ModelError) as info:
        OnboardingInformation(configuration_handling=ConfigurationHandling.MERGE)
    assert info.value.field == "onboarding-information/configuration-handling"
    with pytest.raises(ModelError) as info:
        BootImage(image_verifications=(ImageVerification("sha-256", HASH),))
    assert info.value.field == "onboarding-information/boot-image/image-verification"
    handled = OnboardingInformation(configuration_handling="merge", configuration=b"x")  # type: ignore[arg-type]
    assert handled.configuration_handling is ConfigurationHandling.MERGE


# ---------------------------------------------------------------------------------------------
# image verification


@pytest.mark.parametrize("algorithm", ["sha-256", "ietf-sztp-conveyed-info:sha-256"])
def test_r054_hash_algorithm_normalised(algorithm: str) -> None:
    """R-054: JSON identityref qualified or not → ietf-sztp-conveyed-info:sha-256."""
    document = _image(
        **{"image-verification": [{"hash-algorithm": algorithm, "hash-value": HASH_TEXT}]}
    )
    parsed = parse_conveyed_information(_json(document))
    assert isinstance(parsed, OnboardingInformation)
    assert parsed.boot_image is not None
    assert parsed.boot_image.image_verifications == (ImageVerification(SHA_256, HASH),)
    assert parsed.boot_image.image_verifications[0].hash_algorithm == SHA_256


@pytest.mark.parametrize(
    "value", [HASH_TEXT.upper(), HASH_TEXT.replace(":", ""), HASH_TEXT.replace(":", "").upper()]
)
def test_r054_hash_value_case_and_colons(value: str) -> None:
    """R-054 / D13: uppercase hex and hex without colons are accepted (D13 wins over R-054 [I])."""
    document = _image(
        **{"image-verification": [{"hash-algorithm": "sha-256", "hash-value": value}]}
    )
    parsed = parse_conveyed_information(_json(document))
    assert isinstance(parsed, OnboardingInformation)
    assert parsed.boot_image is not None
    assert parsed.boot_image.image_verifications[0].hash_value == HASH


VERIFICATION = "onboarding-information/boot-image/image-verification"
V = VERIFICATION


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ([{"hash-algorithm": "sha-256", "hash-value": HASH_TEXT[:-3]}], f"{V}/hash-value"),
        ([{"hash-algorithm": "sha-256", "hash-value": HASH_TEXT + ":00"}], f"{V}/hash-value"),
        ([{"hash-algorithm": "sha-256", "hash-value": "xyz"}], f"{V}/hash-value"),
        ([{"hash-algorithm": "sha-256", "hash-value": ""}], f"{V}/hash-value"),
        ([{"hash-algorithm": "sha-256"}], f"{V}/hash-value"),
        ([{"hash-value": HASH_TEXT}], f"{V}/hash-algorithm"),
        ([{"hash-algorithm": "sha 256", "hash-value": HASH_TEXT}], f"{V}/hash-algorithm"),
        ([{"hash-algorithm": "a:b:c", "hash-value": HASH_TEXT}], f"{V}/hash-algorithm"),
        ([{"hash-algorithm": "{urn:x}sha", "hash-value": HASH_TEXT}], f"{V}/hash-algorithm"),
        ([{"hash-algorithm": 256, "hash-value": HASH_TEXT}], f"{V}/hash-algorithm"),
        ([{"hash-algorithm": "sha-256", "hash-value": HASH_TEXT},
          {"hash-algorithm": "ietf-sztp-conveyed-info:sha-256", "hash-value": HASH_TEXT}],
         f"{V}/hash-algorithm"),
        ([{"hash-algorithm": "sha-256", "hash-value": HASH_TEXT, "salt": "x"}], f"{V}/salt"),
        (["sha-256"], VERIFICATION),
    ],
)  # fmt: skip
def test_r054_image_verification_errors(entries: list[object], field: str) -> None:
    """R-054: sha-256 needs 32 octets; bad hex, missing leaves, bad identity, duplicate key."""
    assert _model_error(_json(_image(**{"image-verification": entries}))) == field


def test_r056_unknown_hash_algorithm_is_kept() -> None:
    """R-056 / D13: an unknown identity is kept for the image step to judge (not a parse error)."""
    document = _image(
        **{
            "image-verification": [
                {"hash-algorithm": "x:sha-512", "hash-value": "00" * 64},
                {"hash-algorithm": "sha3-256", "hash-value": "01"},
            ]
        }
    )
    parsed = parse_conveyed_information(_json(document))
    assert isinstance(parsed, OnboardingInformation)
    assert parsed.boot_image is not None
    assert [v.hash_algorithm for v in parsed.boot_image.image_verifications] == [
        "x:sha-512",
        "ietf-sztp-conveyed-info:sha3-256",
    ]
    assert (
        parse_conveyed_information(json.dumps(conveyed_information_to_json(parsed)).encode())
        == parsed
    )


@pytest.mark.parametrize(
    ("declaration", "text", "expected"),
    [
        ("", "sha-256", SHA_256),
        ("", "  sha-256\n", SHA_256),
        (f'xmlns:s="{NS}"', "s:sha-256", SHA_256),
        ('xmlns:h="urn:ietf:params:xml:ns:yang:example-hash"', "h:sha-512", "example-hash:sha-512"),
        ('xmlns:h="http://example.com/hash"', "h:sha-512", "{http://example.com/hash}sha-512"),
    ],
)
def test_r054_xml_hash_algorithm_qname(declaration: str, text: str, expected: str) -> None:
    """R-054 / R-056: XML identityrefs resolve through the element's namespace declarations."""
    value = "00" * 32 if expected == SHA_256 else "01"
    xml = _onboarding_xml(
        "<boot-image><download-uri>https://h/i</download-uri>"
        f"<image-verification {declaration}><hash-algorithm>{text}</hash-algorithm>"
        f"<hash-value>{value}</hash-value></image-verification></boot-image>"
    )
    parsed = parse_conveyed_information(xml)
    assert isinstance(parsed, OnboardingInformation)
    assert parsed.boot_image is not None
    verification = parsed.boot_image.image_verifications[0]
    assert verification.hash_algorithm == expected
    assert type(verification.hash_algorithm) is str


def test_r054_xml_default_namespace_prefix_elsewhere() -> None:
    """R-054: elements may use a prefix while the identity is unprefixed (module namespace)."""
    xml = (
        f'<c:onboarding-information xmlns:c="{NS}"><c:boot-image>'
        "<c:download-uri>https://h/i</c:download-uri><c:image-verification>"
        f"<c:hash-algorithm>c:sha-256</c:hash-algorithm><c:hash-value>{HASH_TEXT}</c:hash-value>"
        "</c:image-verification></c:boot-image></c:onboarding-information>"
    ).encode()
    parsed = parse_conveyed_information(xml)
    assert parsed == OnboardingInformation(
        BootImage(
            download_uris=("https://h/i",), image_verifications=(ImageVerification(SHA_256, HASH),)
        )
    )


@pytest.mark.parametrize("text", ["undeclared:sha-256", "a b", "", ":x"])
def test_r054_xml_bad_hash_algorithm_refused(text: str) -> None:
    """R-054: an undeclared prefix or a malformed QName → ModelError on hash-algorithm."""
    xml = _onboarding_xml(
        "<boot-image><download-uri>https://h/i</download-uri><image-verification>"
        f"<hash-algorithm>{text}</hash-algorithm><hash-value>{HASH_TEXT}</hash-value>"
        "</image-verification></boot-image>"
    )
    assert _model_error(xml, "xml") == f"{V}/hash-algorithm"


def test_r054_constructor_normalises_identity() -> None:
    """R-054: ImageVerification qualifies a bare identity with the module name."""
    assert ImageVerification("sha-256", HASH).hash_algorithm == SHA_256
    with pytest.raises(ModelError) as info:
        ImageVerification(SHA_256, b"\x00" * 20)
    assert info.value.field == f"{V}/hash-value"
    with pytest.raises(ModelError) as info:
        ImageVerification("bad name", HASH)
    assert info.value.field == f"{V}/hash-algorithm"


def test_r054_round_trip_of_every_kind() -> None:
    """R-054: to_json writes binary as base64 and hashes as colon hex; parse gives it back."""
    values: list[ConveyedInformation] = [
        EXPECTED_REDIRECT,
        EXPECTED_ONBOARDING,
        RedirectInformation((BootstrapServer("2001:db8::5", 0, b""),)),
        OnboardingInformation(pre_configuration_script=b"\x00\xff", post_configuration_script=b""),
    ]
    for value in values:
        document = conveyed_information_to_json(value)
        assert parse_conveyed_information(json.dumps(document).encode(), "json") == value
