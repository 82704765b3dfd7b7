"""The SZTP redirect options of DHCPv4 (143) and DHCPv6 (136): R-097..R-101, D9."""

from __future__ import annotations

import pytest

from sztp_client.discovery.dhcp_option import (
    MAX_ENTRIES,
    OPTION_V4_SZTP_REDIRECT,
    OPTION_V6_SZTP_REDIRECT,
    concatenate_v4_instances,
    decode_bootstrap_server_list,
    decode_v4,
    decode_v6,
    from_dhclient_value,
    from_udhcpc_hex,
    unescape_dhclient_string,
    v4_option_instances,
    v6_option_instances,
)
from sztp_client.discovery.errors import DhcpOptionError, NothingUsableError
from sztp_client.errors import DataError, SizeLimitError
from sztp_client.model.server_uri import ServerEndpoint

URI_1 = b"https://sztp1.example.com"
URI_2 = b"https://192.0.2.10:8443"
# RFC 8572 §8.1 and §8.2: the examples' option bytes, code and length included
RFC_V4_OPTION = bytes([0x8F, 0x34]) + b"\x00\x19" + URI_1 + b"\x00\x17" + URI_2
RFC_V6_OPTION = bytes([0x00, 0x88, 0x00, 0x34]) + b"\x00\x19" + URI_1 + b"\x00\x17" + URI_2
GBD = "/restconf/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"


def entry(uri: bytes | str) -> bytes:
    raw = uri.encode() if isinstance(uri, str) else uri
    return len(raw).to_bytes(2, "big") + raw


def server_list(*uris: bytes | str) -> bytes:
    return b"".join(entry(uri) for uri in uris)


def test_rfc8572_v4_example_option_bytes() -> None:
    """R-097: the §8.1 example option (code 143, length 52) yields both URIs in order."""
    instances = v4_option_instances(RFC_V4_OPTION + b"\xff")
    assert instances == (RFC_V4_OPTION[2:],)
    result = decode_v4(instances)
    assert result.uris == ("https://sztp1.example.com", "https://192.0.2.10:8443")
    assert result.endpoints == (
        ServerEndpoint("sztp1.example.com", 443, None),
        ServerEndpoint("192.0.2.10", 8443, None),
    )
    assert result.ignored == ()
    assert not result.discarded
    assert result.require_usable() is result


def test_rfc8572_v6_example_option_bytes() -> None:
    """R-098: the §8.2 example option (code 136, 2-octet length 52) yields both URIs."""
    assert OPTION_V6_SZTP_REDIRECT == 0x88 and OPTION_V4_SZTP_REDIRECT == 0x8F
    payloads = v6_option_instances(b"\x00\x17\x00\x00" + RFC_V6_OPTION)
    assert payloads == (RFC_V6_OPTION[4:],)
    assert decode_v6(payloads[0]).uris == ("https://sztp1.example.com", "https://192.0.2.10:8443")


def test_r099_only_https_host_port_entries_are_kept() -> None:
    """R-099 test idea: http, ftp and bad path entries are ignored; https://ok:8443 is used."""
    data = server_list(
        "http://x",
        "ftp://z",
        "https://y/a/../b",
        "https://y/restconf/operations/ietf-sztp-bootstrap-server:report-progress",
        "https://user@y",
        "https://y?q=1",
        "https://ok:8443",
    )
    result = decode_bootstrap_server_list(data)
    assert result.uris == ("https://ok:8443",)
    assert [entry.index for entry in result.ignored] == [0, 1, 2, 3, 4, 5]
    assert "https" in result.ignored[0].reason and result.ignored[0].uri == "http://x"
    assert "'..'" in result.ignored[2].reason
    assert "user information" in result.ignored[4].reason
    assert "query" in result.ignored[5].reason


def test_d9_restconf_root_and_operation_paths_are_accepted() -> None:
    """D9: a path that is the RESTCONF root or the get-bootstrapping-data RPC is accepted."""
    result = decode_bootstrap_server_list(
        server_list("https://a.example/restconf", f"https://[2001:db8::1]:8443{GBD}")
    )
    assert result.endpoints == (
        ServerEndpoint("a.example", 443, "/restconf"),
        ServerEndpoint("2001:db8::1", 8443, "/restconf"),
    )


def test_r100_overrunning_length_is_ignored_and_ends_the_list() -> None:
    """R-100: an entry whose uri-length runs past the option is invalid; the entries before it
    are kept, nothing after it can be framed."""
    data = server_list(URI_1) + b"\x01\x00" + URI_2
    result = decode_bootstrap_server_list(data)
    assert result.uris == ("https://sztp1.example.com",)
    (ignored,) = result.ignored
    assert ignored.index == 1 and ignored.offset == 27
    assert "uri-length 256 overruns the option (23 octets left)" in ignored.reason


def test_r100_length_field_cut_short() -> None:
    """R-100: one octet left after the last entry is a cut length field, ignored."""
    result = decode_bootstrap_server_list(server_list(URI_1) + b"\x00")
    assert result.uris == ("https://sztp1.example.com",)
    assert "cut short" in result.ignored[0].reason


def test_r100_option_with_no_valid_entry_is_discarded() -> None:
    """R-100: all entries invalid, the option is discarded; the caller gets every reason."""
    result = decode_bootstrap_server_list(server_list("http://a.example", "https://b.example/x?y"))
    assert result.discarded and result.uris == () and result.endpoints == ()
    assert len(result.reasons) == 2
    with pytest.raises(NothingUsableError) as caught:
        result.require_usable("DHCPv4 option 143 on eth0")
    assert isinstance(caught.value, DataError)
    assert caught.value.reasons == result.reasons
    assert "DHCPv4 option 143 on eth0 holds no valid bootstrap server URI" in str(caught.value)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00", b"\x00\x05abc"])
def test_r100_empty_or_broken_lists_are_discarded(data: bytes) -> None:
    """R-100: an empty list, an empty URI and a truncated entry give nothing usable."""
    result = decode_bootstrap_server_list(data)
    assert result.discarded
    with pytest.raises(NothingUsableError):
        result.require_usable()


def test_r100_empty_and_non_ascii_entries_are_ignored() -> None:
    """R-100: an empty URI and one with non-ASCII octets are invalid; the next is read."""
    data = entry(b"") + entry("https://bücher.example".encode()) + entry(URI_2)
    result = decode_bootstrap_server_list(data)
    assert result.uris == ("https://192.0.2.10:8443",)
    assert result.ignored[0].reason == "the URI is empty"
    assert "not ASCII" in result.ignored[1].reason
    assert result.ignored[1].uri == "https://b\\xc3\\xbccher.example"


def test_r101_rfc3396_uri_straddling_the_split_is_decoded() -> None:
    """R-101: a 400-octet list sent as two option 143 instances (255 + 145 octets), one URI
    straddling the split, with another option between the instances: all URIs decoded."""
    uris = [f"https://server{n:02d}.bootstrap.example:{8000 + n}" for n in range(8)]
    data = server_list(*uris)
    data += entry("https://" + "x" * (400 - len(data) - 18) + ".example")
    assert len(data) == 400
    first, second = data[:255], data[255:]
    # the split falls inside a URI, not between entries
    offsets = [0]
    for uri in uris:
        offsets.append(offsets[-1] + 2 + len(uri))
    assert 255 not in offsets
    area = bytes([143, 255]) + first + bytes([1, 4, 255, 255, 255, 0]) + bytes([143, 145]) + second
    instances = v4_option_instances(area + b"\xff")
    assert instances == (first, second)
    result = decode_v4(instances)
    assert result.uris[:8] == tuple(uris)
    assert len(result.uris) == 9 and result.ignored == ()


def test_r101_instances_in_options_then_file_then_sname() -> None:
    """R-101, RFC 3396 §6: with option overload the instances are joined in the order options
    field, file field, sname field; pads are skipped, 255 ends an area."""
    data = server_list(URI_1, URI_2)
    options = b"\x00\x00" + bytes([143, 10]) + data[:10] + b"\xff" + bytes([143, 1, 0])
    file_field = bytes([143, 20]) + data[10:30] + b"\xff" + b"\x00" * 20
    sname = bytes([143, len(data) - 30]) + data[30:] + b"\xff"
    instances = v4_option_instances(options, file_field, sname)
    assert b"".join(instances) == data
    assert decode_v4(instances).uris == (URI_1.decode(), URI_2.decode())


def test_r101_whole_list_given_as_one_value() -> None:
    """R-101: a lease hands over the option already joined; ``decode_v4`` takes it as is."""
    assert decode_v4(server_list(URI_1)).uris == (URI_1.decode(),)


def test_v4_instance_over_255_octets_refused() -> None:
    """R-101: an instance longer than a DHCPv4 option can be is not an option instance."""
    with pytest.raises(DhcpOptionError, match="at most 255"):
        concatenate_v4_instances([b"x" * 256])


@pytest.mark.parametrize("area", [bytes([143]), bytes([143, 5, 0, 1]), bytes([1, 4, 0])])
def test_v4_options_area_overrun_refused(area: bytes) -> None:
    """R-100: a DHCPv4 option area whose last option overruns it is refused, typed."""
    with pytest.raises(DhcpOptionError):
        v4_option_instances(area)


@pytest.mark.parametrize("options", [b"\x00\x88\x00", b"\x00\x88\x00\x05abc"])
def test_v6_options_overrun_refused(options: bytes) -> None:
    """R-098: a DHCPv6 option overrunning the message is refused, typed."""
    with pytest.raises(DhcpOptionError):
        v6_option_instances(options)


def test_size_bound_of_the_list() -> None:
    """D19: a list over its bound is refused before it is decoded."""
    with pytest.raises(SizeLimitError):
        decode_bootstrap_server_list(server_list(URI_1), max_bytes=10)
    with pytest.raises(SizeLimitError):
        concatenate_v4_instances([b"a" * 255] * 3, max_bytes=600)


def test_entries_after_the_bound_are_ignored_with_one_reason() -> None:
    """D19: at most ``max_entries`` entries are decoded, the rest noted once."""
    result = decode_bootstrap_server_list(server_list(*[URI_1] * (MAX_ENTRIES + 5)))
    assert len(result.uris) == MAX_ENTRIES
    assert len(result.ignored) == 1 and "over the limit of 64 entries" in result.ignored[0].reason


def test_dhclient_colon_hex_without_leading_zeros() -> None:
    """R-097: dhclient's lease and hook notation ``0:19:68:74:...`` is read as hex."""
    data = server_list(URI_1)
    text = ":".join(f"{octet:x}" for octet in data)
    assert text.startswith("0:19:68:74:74:70:73")
    assert from_dhclient_value(text) == data
    assert from_dhclient_value(text.upper()) == data


def test_dhclient_quoted_string_with_octal_escapes() -> None:
    """R-097: the quoted-string notation with ``\\ooo`` escapes, and dhclient's other escapes."""
    assert from_dhclient_value('"\\000\\031https://sztp1.example.com"') == entry(URI_1)
    assert unescape_dhclient_string(r"a\"b\\c\$d\x41\t\n\7z") == b'a"b\\c$dA\t\n\x07z'
    # the bare form of the hook environment is the same string without quotes
    assert from_dhclient_value("\\000\\027https://192.0.2.10:8443") == entry(URI_2)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('"\\000\\031https', "unterminated"),
        ("abc\\", "lone backslash"),
        ("\\777", "not an octet"),
        ("caf\u0113", "not an octet"),
    ],
)
def test_dhclient_value_malformed(text: str, error: str) -> None:
    """R-100: a value that is not dhclient's notation is a typed error."""
    with pytest.raises(DhcpOptionError, match=error):
        from_dhclient_value(text)


def test_udhcpc_opt143_hex() -> None:
    """R-097: busybox udhcpc hands its script ``opt143`` as plain hex."""
    data = server_list(URI_1, URI_2)
    assert from_udhcpc_hex(data.hex() + "\n") == data
    assert from_udhcpc_hex(data.hex().upper()) == data
    assert decode_v4(from_udhcpc_hex(data.hex())).uris == (URI_1.decode(), URI_2.decode())


@pytest.mark.parametrize("text", ["abc", "0g", "00 19", "0:19"])
def test_udhcpc_value_malformed(text: str) -> None:
    """R-100: anything but an even number of hex digits is a typed error."""
    with pytest.raises(DhcpOptionError):
        from_udhcpc_hex(text)


def test_udhcpc_and_dhclient_values_are_size_bounded() -> None:
    """D19: the notations are bounded like the option itself."""
    with pytest.raises(SizeLimitError):
        from_udhcpc_hex("00" * 11, max_bytes=10)
    with pytest.raises(SizeLimitError):
        from_dhclient_value(":".join(["0"] * 11), max_bytes=10)
