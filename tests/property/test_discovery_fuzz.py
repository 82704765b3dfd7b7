"""Property tests for the discovery parsers (R-097..R-101, R-105..R-108, R-112..R-114, D5..D7).

Whatever the bytes or text, each parser returns a value or raises a ``DataError``; anything
else would be a crash on what a DHCP server, a lease file, a DNS answer or a medium handed
over.  Valid data survives the notations it travels in (a split DHCPv4 option, dhclient's and
udhcpc's text forms, TXT character-strings).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sztp_client.discovery.dhclient_leases import parse_lease_file
from sztp_client.discovery.dhcp_option import (
    decode_bootstrap_server_list,
    decode_v4,
    from_dhclient_value,
    from_udhcpc_hex,
    unescape_dhclient_string,
    v4_option_instances,
    v6_option_instances,
)
from sztp_client.discovery.dns_records import (
    assemble_txt,
    normalise_domain,
    order_srv,
    resolv_conf_domains,
)
from sztp_client.discovery.media_layout import DirEntry, medium_path, read_layout
from sztp_client.errors import DataError
from sztp_client.model.server_uri import parse_server_uri

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
host = (
    st.lists(label, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda name: not all(part.isdigit() for part in name.split(".")))
)
port = st.integers(min_value=1, max_value=65535)
https_uri = st.builds(
    lambda name, number: f"https://{name}" if number is None else f"https://{name}:{number}",
    host,
    st.none() | port,
)


def encode_list(uris: Sequence[str]) -> bytes:
    return b"".join(len(uri).to_bytes(2, "big") + uri.encode() for uri in uris)


def dhclient_escape(data: bytes) -> str:
    """A quoted string as dhclient writes it: printable octets as they are (some escaped with a
    backslash), the others as three-digit octal."""
    out = []
    for octet in data:
        char = chr(octet)
        if 0x20 <= octet < 0x7F:
            out.append("\\" + char if char in "\"'$`\\|&" else char)
        else:
            out.append(f"\\{octet:03o}")
    return '"' + "".join(out) + '"'


# ---------------------------------------------------------------------------------------------
# DHCP option


@FUZZ
@given(st.binary(max_size=600))
def test_r100_any_bytes_decode_without_crashing(data: bytes) -> None:
    """R-100: any option payload decodes; what is accepted is a valid URI, in order."""
    result = decode_bootstrap_server_list(data)
    for uri, endpoint in zip(result.uris, result.endpoints, strict=True):
        assert parse_server_uri(uri) == endpoint
    indexes = [entry.index for entry in result.ignored]
    assert indexes == sorted(set(indexes))
    assert result.discarded == (not result.uris)


@FUZZ
@given(st.lists(https_uri, max_size=12))
def test_r099_valid_lists_round_trip(uris: list[str]) -> None:
    """R-099: a list of valid URIs decodes to exactly those URIs, in order."""
    result = decode_bootstrap_server_list(encode_list(uris))
    assert result.uris == tuple(uris) and result.ignored == ()


@FUZZ
@given(st.lists(https_uri, min_size=1, max_size=20), st.data())
def test_r101_any_split_into_instances_decodes_the_same(
    uris: list[str], data: st.DataObject
) -> None:
    """R-101: however a list is cut into instances of at most 255 octets (URIs straddling the
    cuts), joining them in order gives the same servers; also through an options area."""
    payload = encode_list(uris)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(payload) - 1)), max_size=8)))
    pieces, start = [], 0
    for cut in [*cuts, len(payload)]:
        while cut - start > 255:
            pieces.append(payload[start : start + 255])
            start += 255
        if cut > start:
            pieces.append(payload[start:cut])
            start = cut
    assert b"".join(pieces) == payload
    assert decode_v4(pieces).uris == tuple(uris)
    area = b"".join(bytes([143, len(piece)]) + piece + b"\x00\x03\x01\x07" for piece in pieces)
    assert decode_v4(v4_option_instances(area + b"\xff")).uris == tuple(uris)


@FUZZ
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_option_areas_never_crash(v4_area: bytes, v6_options: bytes) -> None:
    """R-097, R-098: walking any options area returns instances or raises a DataError."""
    for walk in (lambda: v4_option_instances(v4_area), lambda: v6_option_instances(v6_options)):
        with contextlib.suppress(DataError):
            walk()


@FUZZ
@given(st.binary(max_size=300))
def test_dhclient_and_udhcpc_notations_round_trip(data: bytes) -> None:
    """R-097: the option octets survive dhclient's colon-hex and quoted forms and udhcpc's hex."""
    if data:
        assert from_dhclient_value(":".join(f"{octet:x}" for octet in data)) == data
    assert from_dhclient_value(dhclient_escape(data)) == data
    assert unescape_dhclient_string(dhclient_escape(data)[1:-1]) == data
    assert from_udhcpc_hex(data.hex()) == data


@FUZZ
@given(st.text(max_size=200))
def test_dhclient_and_udhcpc_values_never_crash(text: str) -> None:
    """R-100: any text as a dhclient or udhcpc value gives octets or a DataError."""
    for decode in (from_dhclient_value, from_udhcpc_hex):
        with contextlib.suppress(DataError):
            decode(text)


# ---------------------------------------------------------------------------------------------
# lease files

lease_tokens = st.sampled_from(
    [
        "lease",
        "lease6",
        "{",
        "}",
        ";",
        ",",
        '"',
        '"eth0"',
        "interface",
        "option",
        "sztp-redirect-urls",
        "dhcp6.sztp-redirect-urls",
        "domain-search",
        "domain-name",
        '"a.example"',
        "0:19:68",
        "#",
        "\\",
        "\n",
        " ",
        "\x00",
    ]
)


@FUZZ
@given(st.binary(max_size=2000) | st.lists(lease_tokens, max_size=200).map("".join).map(str.encode))
def test_lease_file_garbage_never_crashes(data: bytes) -> None:
    """Whatever a lease file holds, parsing returns leases and warnings, never an exception."""
    result = parse_lease_file(data)
    for lease in result.current():
        lease.domains  # noqa: B018 - reading every field must not fail
        if lease.sztp_redirect is not None:
            lease.bootstrap_servers()


@FUZZ
@given(st.lists(https_uri, min_size=1, max_size=5), st.binary(max_size=500))
def test_complete_lease_survives_any_garbage_after_it(uris: list[str], tail: bytes) -> None:
    """A complete lease block stays readable whatever is appended after it (a cut write)."""
    value = ":".join(f"{octet:x}" for octet in encode_list(uris))
    text = f'lease {{\n  interface "eth0";\n  option sztp-redirect-urls {value};\n}}\n'
    result = parse_lease_file(text.encode() + tail)
    servers = result.leases[0].bootstrap_servers()
    assert servers is not None and servers.uris == tuple(uris)


# ---------------------------------------------------------------------------------------------
# DNS

txt_record = st.lists(st.binary(max_size=300), max_size=6)


@FUZZ
@given(st.lists(txt_record, max_size=8))
def test_txt_records_never_crash(records: list[list[bytes]]) -> None:
    """R-106, D6: any TXT records at a name give artifacts or a DataError."""
    try:
        result = assemble_txt("sn._sztp.example.", records)
    except DataError:
        return
    assert result.empty == (result.conveyed_information is None)


@FUZZ
@given(st.binary(min_size=1, max_size=3000), st.data())
def test_r107_txt_value_split_anywhere_is_reassembled(value: bytes, data: st.DataObject) -> None:
    """R-107, D6: a ci value cut into character-strings at any points is put back together."""
    record = b"ci=" + value
    cuts = sorted(data.draw(st.sets(st.integers(0, len(record)), max_size=20)))
    strings = [record[a:b] for a, b in zip([0, *cuts], [*cuts, len(record)], strict=True)]
    assert assemble_txt("sn._sztp.example.", [strings]).conveyed_information == value


srv_record = st.tuples(
    st.integers(-1, 65536),
    st.integers(-1, 65536),
    st.integers(-1, 65536),
    st.one_of(host.map(lambda name: name + "."), st.text(max_size=30), st.just(".")),
)


@FUZZ
@given(st.lists(srv_record, max_size=20), st.integers(0, 2**32))
def test_r108_srv_order_is_by_priority_and_complete(
    records: list[tuple[int, int, int, str]], seed: int
) -> None:
    """R-108: the order is by ascending priority, each usable server once, none invented."""
    result = order_srv(records, choose=random.Random(seed).randint)
    usable: dict[str, int] = {}
    for priority, weight, number, target in records:
        if not (0 <= priority <= 65535 and 0 <= weight <= 65535 and 1 <= number <= 65535):
            continue
        name = target.removesuffix(".")
        try:
            endpoint = parse_server_uri(f"https://{name}:{number}")
        except DataError:
            continue
        if ":" in name or "[" in name or not name:
            continue
        if endpoint.port != number or endpoint.root is not None:
            continue  # e.g. "a/": the port would land in a path; order_srv leaves it out
        uri = f"https://{name}:{number}"
        usable.setdefault(uri, priority)
        usable[uri] = min(usable[uri], priority)
    assert set(result.uris) == set(usable)
    assert len(result.uris) == len(set(result.uris))
    priorities = [usable[uri] for uri in result.uris]
    assert priorities == sorted(priorities)


@FUZZ
@given(st.text(max_size=300))
def test_domains_never_crash(text: str) -> None:
    """D5: any resolv.conf text gives usable domains; any name normalises or is refused."""
    for domain in resolv_conf_domains(text):
        assert normalise_domain(domain) == domain
    with contextlib.suppress(DataError):
        normalise_domain(text)


# ---------------------------------------------------------------------------------------------
# removable media


@FUZZ
@given(st.text(max_size=200))
def test_r114_file_uri_never_leaves_the_medium(text: str) -> None:
    """R-114, D7: whatever the URI, the path is relative, non-empty and never climbs."""
    for uri in (text, "file:" + text, "file:///" + text):
        try:
            path = medium_path(uri)
        except DataError:
            continue
        assert not path.is_absolute() and path.parts
        assert ".." not in path.parts and "." not in path.parts


names = st.sampled_from(
    [
        *("sztp", "SZTP", "SN1", "sn1", "x", ".."),
        *("conveyed-information.cms", "CONVEYED-INFORMATION.CMS", "owner-certificate.cms"),
        *("ownership-voucher.cms", "ownership-voucher.vcj"),
    ]
)
tree = st.recursive(
    st.just(b""), lambda children: st.dictionaries(names, children, max_size=5), max_leaves=20
)


class TreeReader:
    def __init__(self, root: object) -> None:
        self.root = root

    def list_directory(self, path: PurePosixPath, limit: int) -> Sequence[DirEntry]:
        node = self.root
        for part in path.parts:
            assert isinstance(node, Mapping)
            node = node[part]
        assert isinstance(node, Mapping)
        return [DirEntry(name, isinstance(child, Mapping)) for name, child in node.items()]


@FUZZ
@given(st.dictionaries(names, tree, max_size=5), st.sampled_from(["SN1", "sn1", "other"]))
def test_d7_any_medium_tree_gives_a_layout_none_or_a_typed_error(
    root: dict[str, object], serial: str
) -> None:
    """R-112, D7: any tree gives a layout whose files exist in it, None, or a DataError."""
    try:
        layout = read_layout(TreeReader(root), serial)
    except DataError:
        return
    if layout is None:
        return
    for path in (layout.conveyed_information, layout.owner_certificate, layout.ownership_voucher):
        if path is None:
            continue
        node: object = root
        for part in path.parts:
            assert isinstance(node, Mapping)
            node = node[part]
        assert node == b""
