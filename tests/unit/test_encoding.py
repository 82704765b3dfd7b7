"""Value encodings: base64 and hex (D13), date-and-time, strict JSON and safe XML (D15)."""

from __future__ import annotations

import datetime as dt

import pytest

from sztp_client.encoding.json import YangJSONObject, load_json
from sztp_client.encoding.xml import load_xml, load_xml_with_namespaces, xml_to_json_tree
from sztp_client.encoding.xml_schema import XMLIdentity, XMLKind, XMLSchemaNode
from sztp_client.encoding.yang_types import (
    decode_base64,
    decode_hex_string,
    encode_base64,
    format_datetime,
    parse_datetime,
)
from sztp_client.errors import DataError, EncodingError, ModelError

UTC = dt.UTC

# ---------------------------------------------------------------------------------------------
# base64 (R-054, R-055, D13)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", b""),
        ("QQ==", b"A"),
        ("QUI=", b"AB"),
        ("QUJD", b"ABC"),
        ("+/+/", b"\xfb\xff\xbf"),
    ],
)
def test_r055_base64_standard_alphabet_with_padding(text: str, expected: bytes) -> None:
    """R-055: standard base64 with padding decodes."""
    assert decode_base64(text, "leaf") == expected


@pytest.mark.parametrize(("text", "expected"), [("QQ", b"A"), ("QUI", b"AB")])
def test_r055_base64_padding_is_optional(text: str, expected: bytes) -> None:
    """R-055 / D13: missing padding is accepted."""
    assert decode_base64(text, "leaf") == expected


def test_r055_base64_line_breaks_and_spaces_are_removed() -> None:
    """R-055 / D13: the same value with and without line breaks decodes identically."""
    data = bytes(range(256)) * 3
    flat = encode_base64(data)
    wrapped = "\n".join(flat[i : i + 64] for i in range(0, len(flat), 64))
    assert decode_base64(wrapped, "leaf") == data
    assert decode_base64("  QU\r\nJD \t", "leaf") == b"ABC"
    assert decode_base64("QQ =\n=", "leaf") == b"A"


@pytest.mark.parametrize(
    "text",
    [
        "QUJD-_",  # URL-safe alphabet
        "QU JD!",
        "QUJD\x00",
        "QU=JD",  # padding inside
        "Q",  # one character cannot carry an octet
        "QUJDQ",
        "QQ=",  # wrong amount of padding
        "QUI==",
        "QUJD=",
        "====",
        "QQ===",
        "QUJD\u00e9",
        "QUJD\v",
    ],
)
def test_r055_base64_other_characters_refused(text: str) -> None:
    """R-055 / D13: any other character, or wrong padding, is a ModelError naming the field."""
    with pytest.raises(ModelError) as info:
        decode_base64(text, "onboarding-information/configuration")
    assert info.value.field == "onboarding-information/configuration"


def test_r055_base64_encode_round_trip() -> None:
    """R-055: encode_base64 writes padded standard base64 that decodes back."""
    for size in range(10):
        data = bytes(range(size))
        text = encode_base64(data)
        assert len(text) % 4 == 0
        assert decode_base64(text, "x") == data


# ---------------------------------------------------------------------------------------------
# yang:hex-string (R-054, D13)

HASH = bytes.fromhex("baeccfa56782b41077c667a622ab7d5004a78b8f0edb028bf47555fbc113b233")


@pytest.mark.parametrize(
    "text",
    [
        "ba:ec:cf:a5:67:82:b4:10:77:c6:67:a6:22:ab:7d:50:04:a7:8b:8f:0e:db:02:8b:f4:75:55:fb:c1:13:b2:33",
        "BA:EC:CF:A5:67:82:B4:10:77:C6:67:A6:22:AB:7D:50:04:A7:8B:8F:0E:DB:02:8B:F4:75:55:FB:C1:13:B2:33",
        "baeccfa56782b41077c667a622ab7d5004a78b8f0edb028bf47555fbc113b233",
        "BAECCFA56782B41077C667A622AB7D5004A78B8F0EDB028BF47555FBC113B233",
    ],
)
def test_r054_hex_string_colons_or_not_any_case(text: str) -> None:
    """R-054 / D13: colon-separated or not, upper or lower case, all decode to the same octets."""
    assert decode_hex_string(text, "hash-value") == HASH


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        "abc",
        "ab:c",
        "ab:cd:",
        ":ab",
        "ab::cd",
        "ab:cdef",
        "zz",
        "ab cd",
        " ab",
        "ab-cd",
        "\u0660\u0661",  # Arabic-Indic digits
    ],
)
def test_r054_hex_string_malformed_refused(text: str) -> None:
    """R-054 / D13: empty, odd, mixed separators or non-hex characters are a ModelError."""
    with pytest.raises(ModelError) as info:
        decode_hex_string(text, "x/hash-value")
    assert info.value.field == "x/hash-value"


# ---------------------------------------------------------------------------------------------
# yang:date-and-time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-10-07T19:31:42Z", dt.datetime(2016, 10, 7, 19, 31, 42, tzinfo=UTC)),
        ("2016-10-07T19:31:42.5Z", dt.datetime(2016, 10, 7, 19, 31, 42, 500000, tzinfo=UTC)),
        (
            "2016-10-07T19:31:42.123456789Z",
            dt.datetime(2016, 10, 7, 19, 31, 42, 123456, tzinfo=UTC),
        ),
        ("2016-10-07T21:31:42+02:00", dt.datetime(2016, 10, 7, 19, 31, 42, tzinfo=UTC)),
        ("2016-10-07T14:01:42-05:30", dt.datetime(2016, 10, 7, 19, 31, 42, tzinfo=UTC)),
        ("2016-10-07T19:31:42-00:00", dt.datetime(2016, 10, 7, 19, 31, 42, tzinfo=UTC)),
        ("1990-12-31T23:59:60Z", dt.datetime(1991, 1, 1, tzinfo=UTC)),
    ],
)
def test_r134_date_and_time_parsed_to_utc(text: str, expected: dt.datetime) -> None:
    """R-134: RFC 3339 date-and-time with Z, ±hh:mm or -00:00, fractions and leap seconds."""
    value = parse_datetime(text, "created-on")
    assert value == expected
    assert value.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2016-10-07",
        "2016-10-07T19:31:42",  # no offset
        "2016-10-07 19:31:42Z",
        "2016-10-07t19:31:42z",
        "2016-10-07T19:31Z",
        "2016-10-07T19:31:42.Z",
        "2016-10-07T19:31:42+0200",
        "2016-10-07T19:31:42+24:00",
        "2016-10-07T19:31:42+02:60",
        "2016-13-07T19:31:42Z",
        "2016-02-30T19:31:42Z",
        "2016-10-07T24:00:00Z",
        "2016-10-07T19:60:00Z",
        "2016-10-07T19:31:60Z",  # leap second not at minute 59
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "\uff12\uff10\uff11\uff16-10-07T19:31:42Z",  # full-width digits
        " 2016-10-07T19:31:42Z",
        "2016-10-07T19:31:42Z\n",
    ],
)
def test_r134_date_and_time_malformed_refused(text: str) -> None:
    """R-134: anything but a yang:date-and-time is a ModelError naming the field."""
    with pytest.raises(ModelError) as info:
        parse_datetime(text, "expires-on")
    assert info.value.field == "expires-on"


def test_r134_format_datetime_round_trip() -> None:
    """R-134: format_datetime writes RFC 3339 UTC with Z, and parses back to the same instant."""
    plain = dt.datetime(2016, 10, 7, 19, 31, 42, tzinfo=UTC)
    assert format_datetime(plain) == "2016-10-07T19:31:42Z"
    fractional = dt.datetime(2016, 10, 7, 19, 31, 42, 500000, tzinfo=UTC)
    assert format_datetime(fractional) == "2016-10-07T19:31:42.5Z"
    other_zone = dt.datetime(2016, 10, 7, 21, 31, 42, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_datetime(other_zone) == "2016-10-07T19:31:42Z"
    early = dt.datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert format_datetime(early) == "0005-01-02T03:04:05.000006Z"
    for value in (plain, fractional, other_zone, early):
        assert parse_datetime(format_datetime(value), "x") == value


def test_r134_format_datetime_refuses_naive() -> None:
    """R-134: a naive datetime has no defined instant; formatting it is a programming error."""
    with pytest.raises(ValueError, match="timezone-aware"):
        format_datetime(dt.datetime(2020, 1, 1))


def test_r134_one_formatter_at_each_precision() -> None:
    """The status document keeps six fraction digits, the device state whole seconds."""
    value = dt.datetime(2016, 10, 7, 19, 31, 42, 500000, tzinfo=dt.UTC)
    assert format_datetime(value, "microseconds") == "2016-10-07T19:31:42.500000Z"
    assert format_datetime(value, "seconds") == "2016-10-07T19:31:42Z"
    whole = value.replace(microsecond=0)
    assert format_datetime(whole, "microseconds") == "2016-10-07T19:31:42.000000Z"


# ---------------------------------------------------------------------------------------------
# JSON (D15)


def test_d15_json_valid_document() -> None:
    """R-051 / D15: a plain JSON document loads."""
    assert load_json(b' {"a": [1, 2.5, "x", true, null]} \n', "doc") == {
        "a": [1, 2.5, "x", True, None]
    }
    assert load_json('{"\u00e9": "\U0001f600"}'.encode(), "doc") == {"\u00e9": "\U0001f600"}
    assert load_json(b'"\\ud83d\\ude00"', "doc") == "\U0001f600"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a": 1, "a": 2}', "more than once"),
        (b'{"x": {"a": 1, "a": 1}}', "more than once"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "UTF-8"),  # an encoded surrogate
        (b'"\\ud800"', "surrogate"),
        (b'{"\\udc00": 1}', "surrogate"),
        (b"[NaN]", "NaN"),
        (b"[Infinity]", "Infinity"),
        (b"[-Infinity]", "Infinity"),
        (b"[1e400]", "too large"),
        (b"{} {}", "Extra data"),
        (b"{}x", "Extra data"),
        (b"", "Expecting value"),
        (b"{'a': 1}", "property name"),
        (b'{"a": 1,}', "property name"),
        (b'["a\x01"]', "control character"),
        (b"[" + b"1" * 5000 + b"]", "digits"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
    ],
)
def test_d15_json_strict_refusals(data: bytes, reason: str) -> None:
    """D15: duplicates, BOM, bad UTF-8, NaN/Infinity, trailing data, deep nesting are refused."""
    with pytest.raises(EncodingError, match=reason) as info:
        load_json(data, "test document")
    assert "test document" in str(info.value)


# ---------------------------------------------------------------------------------------------
# XML (D15)


def test_d15_xml_plain_document_loads() -> None:
    """D15: a plain namespaced document loads."""
    root = load_xml(b'<?xml version="1.0"?><a xmlns="urn:x"><b>t</b><!-- c --></a>', "doc")
    assert root.tag == "{urn:x}a"
    assert root[0].text == "t"


@pytest.mark.parametrize(
    "data",
    [
        b'<!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>',
        b"<!DOCTYPE a><a/>",
        b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>',
        b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>',
        b'<!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1/x">%p;]><a/>',
        b'<!DOCTYPE a [<!ENTITY a "x"><!ENTITY b "&a;&a;&a;&a;&a;">]><a>&b;</a>',
        b"<a>&undefined;</a>",
        b"<a>",
        b"<a></b>",
        b"",
        b"not xml",
        b"<a/><b/>",
        b'<?xml version="1.0" encoding="no-such-encoding"?><a/>',
        b"<a>\xff</a>",
        b"<p:a/>",
    ],
)
def test_d15_xml_dtd_entities_and_malformed_refused(data: bytes) -> None:
    """D15: DTDs, entity declarations, external references and malformed XML → EncodingError."""
    for load in (load_xml, lambda d, w: load_xml_with_namespaces(d, w)[0]):
        with pytest.raises(EncodingError, match="test xml"):
            load(data, "test xml")


def test_d15_xml_namespace_scopes() -> None:
    """R-054 / D15: the prefixes in scope at each element are reported (identityref QNames)."""
    root, scopes = load_xml_with_namespaces(
        b'<a xmlns="urn:d" xmlns:p="urn:p"><b xmlns:p="urn:q"><c/></b><d xmlns=""/></a>', "doc"
    )
    b, d = list(root)
    c = b[0]
    assert scopes[root]["p"] == "urn:p"
    assert scopes[root][""] == "urn:d"
    assert scopes[c]["p"] == "urn:q"
    assert scopes[c][""] == "urn:d"
    assert scopes[d][""] == ""
    assert scopes[d]["p"] == "urn:p"


_SCHEMA = {
    "leaf": XMLSchemaNode(XMLKind.LEAF),
    "many": XMLSchemaNode(XMLKind.LEAF_LIST),
    "id": XMLSchemaNode(XMLKind.IDENTITYREF),
    "box": XMLSchemaNode(XMLKind.CONTAINER, {"leaf": XMLSchemaNode(XMLKind.LEAF)}),
    "row": XMLSchemaNode(XMLKind.LIST, {"leaf": XMLSchemaNode(XMLKind.LEAF)}),
}


def _tree(body: str) -> dict[str, object]:
    root, scopes = load_xml_with_namespaces(
        f'<top xmlns="urn:ietf:params:xml:ns:yang:m" xmlns:o="urn:other">{body}</top>'.encode(),
        "doc",
    )
    return xml_to_json_tree(
        root,
        schema=_SCHEMA,
        namespace="urn:ietf:params:xml:ns:yang:m",
        module="m",
        path="top",
        scopes=scopes,
    )


def test_r051_xml_tree_shape() -> None:
    """R-051: XML children become the JSON shape: leaves, leaf-lists, containers and lists."""
    tree = _tree(
        "<leaf> a </leaf><many>1</many><many>2</many><box><leaf>b</leaf></box>"
        "<row><leaf>c</leaf></row><row/><id>o:x</id>"
    )
    assert tree == {
        "leaf": "a",
        "many": ["1", "2"],
        "box": {"leaf": "b"},
        "row": [{"leaf": "c"}, {}],
        "id": "{urn:other}x",
    }
    assert isinstance(tree["id"], XMLIdentity)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("<unknown/>", "top/unknown"),
        ('<leaf xmlns="urn:other">x</leaf>', "top/leaf"),
        ("<leaf>a</leaf><leaf>b</leaf>", "top/leaf"),
        ("<leaf><x/></leaf>", "top/leaf"),
        ("text<leaf>a</leaf>", "top"),
        ("<leaf>a</leaf>tail", "top"),
        ("<box>text</box>", "top/box"),
        ("<id>nope:x</id>", "top/id"),
        ("<id>1x</id>", "top/id"),
        ("<id>a:b:c</id>", "top/id"),
    ],
)
def test_r051_xml_tree_refusals(body: str, field: str) -> None:
    """R-051: unknown or foreign elements, repeats, mixed content, bad QNames → ModelError."""
    with pytest.raises(ModelError) as info:
        _tree(body)
    assert info.value.field == field


def test_r054_xml_identity_resolution() -> None:
    """R-054: identityref QNames resolve through prefixes; unprefixed uses the default namespace."""
    assert _tree("<id>x</id>")["id"] == "m:x"
    root, scopes = load_xml_with_namespaces(b'<m:top xmlns:m="urn:m"><m:id>y</m:id></m:top>', "doc")
    tree = xml_to_json_tree(
        root,
        schema=_SCHEMA,
        namespace="urn:m",
        module="m",
        path="top",
        scopes=scopes,
    )
    assert tree["id"] == "m:y"  # no default namespace: the module's own
    assert (
        _tree('<id xmlns:s="urn:ietf:params:xml:ns:yang:other-mod">s:z</id>')["id"] == "other-mod:z"
    )


# ---------------------------------------------------------------------------------------------
# YangJSONObject


def test_r051_json_object_members() -> None:
    """R-051: members read by type; own-module qualified names accepted; unknown ones refused."""
    obj = YangJSONObject(
        {"m:a": "x", "n": 5, "s": "7", "b": True, "e": [None], "other:z": 1},
        "top",
        "m",
    )
    assert obj.string("a") == "x"
    assert obj.uint("n") == 5
    assert obj.uint("s") == 7
    assert obj.boolean("b") is True
    assert obj.empty("e") is True
    assert obj.string("missing") is None
    obj.finish(ignore_other_modules=True)
    with pytest.raises(ModelError) as info:
        obj.finish()
    assert info.value.field == "top/other:z"


@pytest.mark.parametrize(
    ("value", "call", "field"),
    [
        ([], lambda o: o, "top"),
        ({"a": 1, "m:a": 2}, lambda o: o, "top/a"),
        ({"a": 1}, lambda o: o.string("a"), "top/a"),
        ({"a": None}, lambda o: o.string("a"), "top/a"),
        ({}, lambda o: o.required_string("a"), "top/a"),
        ({"a": True}, lambda o: o.uint("a"), "top/a"),
        ({"a": -1}, lambda o: o.uint("a"), "top/a"),
        ({"a": "+1"}, lambda o: o.uint("a"), "top/a"),
        ({"a": 1.0}, lambda o: o.uint("a"), "top/a"),
        ({"a": "true"}, lambda o: o.boolean("a"), "top/a"),
        ({"a": "yes"}, lambda o: o.boolean("a", lenient=True), "top/a"),
        ({"a": None}, lambda o: o.empty("a"), "top/a"),
        ({"a": []}, lambda o: o.empty("a"), "top/a"),
        ({"a": {}}, lambda o: o.array("a"), "top/a"),
        ({"a": []}, lambda o: o.container("a"), "top/a"),
        ({"a": "!"}, lambda o: o.binary("a"), "top/a"),
        ({"x": 1}, lambda o: o.finish(), "top/x"),
    ],
)
def test_r051_json_object_type_errors(value: object, call: object, field: str) -> None:
    """R-051: a wrong JSON type, a missing mandatory member or an unknown member → ModelError."""
    with pytest.raises(ModelError) as info:
        obj = YangJSONObject(value, "top", "m")
        call(obj)  # type: ignore[operator]
    assert info.value.field == field
    assert isinstance(info.value, DataError)
