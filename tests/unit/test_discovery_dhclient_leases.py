"""ISC dhclient lease files: the SZTP option and the DNS domains of the lease in force
(R-097, R-098, R-100, R-101, R-105, D5)."""

from __future__ import annotations

import pytest

from sztp_client.discovery.dhclient_leases import (
    DhcpFamily,
    LeaseOptionNames,
    parse_lease_file,
)
from sztp_client.errors import SizeLimitError


def entry(uri: str) -> bytes:
    return len(uri).to_bytes(2, "big") + uri.encode()


def colon_hex(data: bytes) -> str:
    """dhclient's notation: colon-separated hex without leading zeros."""
    return ":".join(f"{octet:x}" for octet in data)


URI_A = "https://sztp1.example.com"
URI_B = "https://192.0.2.10:8443"
OPTION = entry(URI_A) + entry(URI_B)


def v4_lease(interface: str, option: str | None, *, extra: str = "") -> str:
    sztp = f"  option sztp-redirect-urls {option};\n" if option is not None else ""
    return (
        "lease {\n"
        f'  interface "{interface}";\n'
        "  fixed-address 192.0.2.50;\n"
        "  option subnet-mask 255.255.255.0;\n"
        f"{sztp}"
        "  option dhcp-lease-time 3600;\n"
        "  option routers 192.0.2.1;\n"
        "  option dhcp-message-type 5;\n"
        "  option domain-name-servers 192.0.2.1,192.0.2.2;\n"
        "  option dhcp-server-identifier 192.0.2.1;\n"
        f"{extra}"
        "  renew 2 2026/12/01 21:17:40;\n"
        "  rebind 2 2026/12/01 21:43:27;\n"
        "  expire 2 2026/12/01 21:50:57;\n"
        "}\n"
    )


V6_FILE = (
    'default-duid "\\000\\001\\000\\001,\\227\\276\\032\\002B\\300\\250\\001\\002";\n'
    "lease6 {\n"
    '  interface "veth-dev";\n'
    "  ia-na 6e:4a:2c:1d {\n"
    "    starts 1764623000;\n"
    "    renew 1800;\n"
    "    rebind 2880;\n"
    "    iaaddr 2001:db8::100 {\n"
    "      starts 1764623000;\n"
    "      preferred-life 4500;\n"
    "      max-life 7200;\n"
    "    }\n"
    "  }\n"
    "  option dhcp6.client-id 0:1:0:1:2c:97:be:1a:2:42:c0:a8:1:2;\n"
    "  option dhcp6.server-id 0:1:0:1:2c:97:be:1a:2:42:c0:a8:1:1;\n"
    "  option dhcp6.name-servers 2001:db8::1;\n"
    '  option dhcp6.domain-search "lab.example.", "corp.example.";\n'
    f"  option dhcp6.sztp-redirect-urls {colon_hex(OPTION)};\n"
    "}\n"
)


def test_v4_lease_gives_the_option_and_the_domains() -> None:
    """R-097, D5: the SZTP option in dhclient's colon-hex and the domains of options 15 then
    119, without duplicates or trailing dots."""
    text = v4_lease(
        "veth-dev",
        colon_hex(OPTION),
        extra='  option domain-name "lab.example";\n'
        '  option domain-search "lab.example.", "corp.example.";\n',
    )
    leases = parse_lease_file(text.encode())
    assert leases.warnings == ()
    (lease,) = leases.current()
    assert lease.family is DhcpFamily.V4 and lease.interface == "veth-dev"
    assert lease.sztp_redirect == OPTION
    assert lease.domains == ("lab.example", "corp.example")
    servers = lease.bootstrap_servers()
    assert servers is not None and servers.uris == (URI_A, URI_B)


def test_v6_lease6_with_nested_blocks() -> None:
    """R-098, D5: a ``lease6`` block with ia-na/iaaddr blocks; option 24's domains."""
    (lease,) = parse_lease_file(V6_FILE.encode()).current()
    assert lease.family is DhcpFamily.V6 and lease.interface == "veth-dev"
    assert lease.domains == ("lab.example", "corp.example")
    servers = lease.bootstrap_servers()
    assert servers is not None and servers.uris == (URI_A, URI_B)


def test_the_last_block_for_an_interface_counts() -> None:
    """R-097: leases are appended; the last block of each interface is the one in force."""
    old = entry("https://old.example")
    text = (
        v4_lease("eth0", colon_hex(old))
        + v4_lease("eth1", colon_hex(entry("https://other.example")))
        + v4_lease("eth0", colon_hex(OPTION))
        + V6_FILE.replace("veth-dev", "eth0")
    )
    leases = parse_lease_file(text.encode())
    assert len(leases.leases) == 4
    current = leases.current()
    assert [(lease.interface, lease.family) for lease in current] == [
        ("eth1", DhcpFamily.V4),
        ("eth0", DhcpFamily.V4),
        ("eth0", DhcpFamily.V6),
    ]
    (v4,) = leases.current_for("eth0", DhcpFamily.V4)
    assert v4.sztp_redirect == OPTION and v4.block == 2
    assert len(leases.current_for("eth0")) == 2
    assert leases.current_for("eth9") == ()


def test_quoted_string_value_with_octal_escapes() -> None:
    """R-097: dhclient writes a printable value as a quoted string with escapes."""
    value = '"\\000\\031https://sztp1.example.com"'
    (lease,) = parse_lease_file(v4_lease("eth0", value).encode()).leases
    assert lease.sztp_redirect == entry(URI_A)


def test_a_lease_without_the_option() -> None:
    """R-097: a lease without the option yields no servers (not an empty list)."""
    (lease,) = parse_lease_file(v4_lease("eth0", None).encode()).leases
    assert lease.sztp_redirect is None and lease.bootstrap_servers() is None


def test_option_names_are_configurable() -> None:
    """R-097: the option is found under the name declared in dhclient.conf."""
    text = v4_lease("eth0", None, extra=f"  option my-sztp {colon_hex(OPTION)};\n")
    assert parse_lease_file(text.encode()).leases[0].sztp_redirect is None
    names = LeaseOptionNames(sztp_v4=("my-sztp",))
    assert parse_lease_file(text.encode(), names=names).leases[0].sztp_redirect == OPTION


def test_undeclared_option_is_found_as_unknown_143() -> None:
    """R-097: without a declaration dhclient names the option ``unknown-143``."""
    text = v4_lease("eth0", None, extra=f"  option unknown-143 {colon_hex(OPTION)};\n")
    assert parse_lease_file(text.encode()).leases[0].sztp_redirect == OPTION


def test_all_invalid_entries_discard_the_option() -> None:
    """R-100: a lease whose option holds only invalid URIs yields a discarded list."""
    (lease,) = parse_lease_file(v4_lease("eth0", colon_hex(entry("http://x"))).encode()).leases
    servers = lease.bootstrap_servers()
    assert servers is not None and servers.discarded


@pytest.mark.parametrize("value", ["zz:top", "1:2 3:4", '"abc\\777"', "0:19, 0:1"])
def test_unreadable_option_value_is_a_problem_of_its_lease(value: str) -> None:
    """R-100: an option value that is not dhclient's notation is recorded, not raised."""
    (lease,) = parse_lease_file(v4_lease("eth0", value).encode()).leases
    assert lease.sztp_redirect is None
    assert lease.problems and lease.problems[0].startswith("option sztp-redirect-urls:")


def test_oversized_option_value_is_a_problem_of_its_lease() -> None:
    """D19: an option value larger than any DHCP option can be is recorded, not used."""
    (lease,) = parse_lease_file(v4_lease("eth0", colon_hex(b"\x01" * 70000)).encode()).leases
    assert lease.sztp_redirect is None and "over the limit" in lease.problems[0]


def test_domain_name_with_several_names_and_bad_ones() -> None:
    """D5: option 15 may hold several space-separated names; unusable names are noted."""
    text = v4_lease("eth0", None, extra='  option domain-name "a.example b.example bad..name";\n')
    (lease,) = parse_lease_file(text.encode()).leases
    assert lease.domains == ("a.example", "b.example")
    assert "bad..name" in lease.problems[0]


def test_file_cut_short_keeps_the_complete_leases() -> None:
    """A lease file cut in the middle of a block (a crash while dhclient wrote it): the earlier
    complete blocks count, the cut one is dropped with a warning."""
    whole = v4_lease("eth0", colon_hex(OPTION))
    for cut in (len(whole) // 2, whole.index('"eth0"') + 3):
        text = whole + v4_lease("eth0", colon_hex(entry("https://new.example")))[:cut]
        leases = parse_lease_file(text.encode())
        (lease,) = leases.current()
        assert lease.sztp_redirect == OPTION
        assert leases.warnings


@pytest.mark.parametrize(
    "garbage",
    [
        "}}}} lease { interface",
        "lease { lease { lease {",
        '"unterminated',
        "lease;" * 10,
        "\x00\xff\xfe binary {;};",
        "lease6 { option ; option dhcp6.sztp-redirect-urls ; }",
        "lease { interface eth0; option; }",
        "{" * 100 + "}" * 100,
        "lease " + "{" * 50 + "}" * 50,
        "# only a comment",
        "",
    ],
)
def test_garbage_never_raises(garbage: str) -> None:
    """Whatever the file holds, the parser returns (possibly nothing) rather than crashing."""
    result = parse_lease_file(garbage.encode("latin-1"))
    for lease in result.leases:
        assert lease.sztp_redirect is None


def test_too_deep_nesting_drops_the_lease_and_keeps_the_next() -> None:
    """Blocks nested deeper than the bound drop their lease; the next lease is read."""
    deep = "lease { " + "x { " * 20 + "} " * 20 + "}\n"
    leases = parse_lease_file((deep + v4_lease("eth0", colon_hex(OPTION))).encode())
    (lease,) = leases.leases
    assert lease.sztp_redirect == OPTION
    assert any("nested deeper" in warning for warning in leases.warnings)


def test_lease_file_size_bound() -> None:
    """D19: a lease file over its bound is refused before it is parsed."""
    with pytest.raises(SizeLimitError):
        parse_lease_file(b"#" * 101, max_bytes=100)
