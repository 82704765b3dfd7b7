"""DNS record data for discovery: names (R-105, R-108), domains (D5), TXT assembly (R-106,
R-107, D6) and SRV ordering (R-108, RFC 2782)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest

from sztp_client.discovery.dns_records import (
    MAX_TXT_RECORDS,
    SrvRecord,
    assemble_txt,
    normalise_domain,
    order_srv,
    resolv_conf_domains,
    search_domains,
    srv_name,
    txt_name,
)
from sztp_client.discovery.errors import DnsRecordError, NothingUsableError
from sztp_client.errors import DataError, SizeLimitError

NAME = "SN123._sztp.example.com."


def strings(data: bytes, size: int = 255) -> tuple[bytes, ...]:
    """``data`` cut into character-strings of at most ``size`` octets, as DNS stores it."""
    return tuple(data[i : i + size] for i in range(0, len(data), size)) or (b"",)


def scripted(*draws: int) -> Iterator[int]:
    yield from draws


def chooser(*draws: int) -> tuple[list[tuple[int, int]], Callable[[int, int], int]]:
    """A random source that returns ``draws`` in turn and records what it was asked."""
    asked: list[tuple[int, int]] = []
    source = scripted(*draws)

    def choose(low: int, high: int) -> int:
        asked.append((low, high))
        return next(source)

    return asked, choose


# ---------------------------------------------------------------------------------------------
# names and domains


def test_r105_device_specific_txt_name() -> None:
    """R-105: TXT at ``<serial-number>._sztp.<domain>.``; mDNS uses ``local``."""
    assert txt_name("SN123", "example.com") == NAME
    assert txt_name("SN123", "Example.COM.") == NAME
    assert txt_name("SN123") == "SN123._sztp.local."


@pytest.mark.parametrize("serial", ["", "a.b", "a b", "a\\b", "x" * 64, "sn\u00e9"])
def test_r105_serial_number_that_is_no_dns_label_refused(serial: str) -> None:
    """R-105: a serial number that cannot be one DNS label is a typed error, no query."""
    with pytest.raises(DnsRecordError):
        txt_name(serial, "example.com")


def test_r108_device_independent_srv_name() -> None:
    """R-108: SRV at ``_sztp._tcp.<domain>.``; mDNS uses ``local``."""
    assert srv_name("example.com") == "_sztp._tcp.example.com."
    assert srv_name() == "_sztp._tcp.local."


@pytest.mark.parametrize("text", ["", ".", "a..b", "-a.example", "a b", "x" * 64 + ".example"])
def test_d5_unusable_domains_refused(text: str) -> None:
    """D5: a domain that is no DNS name is refused, typed."""
    with pytest.raises(DnsRecordError):
        normalise_domain(text)


def test_d5_resolv_conf_last_search_or_domain_line_counts() -> None:
    """D5, resolv(5): the search and domain lines give domains; the last such line wins."""
    text = "nameserver 192.0.2.53\ndomain old.example\nsearch Lab.Example corp.example. # c\n"
    assert resolv_conf_domains(text) == ("lab.example", "corp.example")
    assert resolv_conf_domains("search a.example\ndomain b.example c.example\n") == ("b.example",)
    assert resolv_conf_domains("; nothing\n#search x.example\n") == ()


def test_d5_domain_order_lease_then_resolv_conf_then_configured() -> None:
    """D5: the lease's domains, then resolv.conf's, then the configured; each once."""
    assert search_domains(
        ["lab.example", "bad..name"],
        ["corp.example", "LAB.example."],
        ["extra.example", "corp.example"],
    ) == ("lab.example", "corp.example", "extra.example")
    assert len(search_domains([f"d{n}.example" for n in range(100)], max_domains=5)) == 5


# ---------------------------------------------------------------------------------------------
# TXT


def test_r106_three_records_give_ci_oc_ov_binary() -> None:
    """R-106: ``ci``, ``oc`` and ``ov`` values are raw binary artifacts, '=' inside kept."""
    ci, oc, ov = b"\x30\x82\x00=\xff\x00ci", b"\x30\x01oc=x", b"\x30\x02ov"
    result = assemble_txt(NAME, [(b"ci=" + ci,), (b"oc=" + oc,), (b"ov=" + ov,)])
    assert (result.conveyed_information, result.owner_certificate, result.ownership_voucher) == (
        ci,
        oc,
        ov,
    )
    assert not result.empty and result.ignored == ()


def test_r107_value_split_over_character_strings_is_reassembled() -> None:
    """R-107, D6: a 5 KB value in 255-octet character-strings, split inside the key too."""
    value = bytes(random.Random(7).randrange(256) for _ in range(5000))
    record = strings(b"ci=" + value)
    assert len(record) == 20
    assert assemble_txt(NAME, [record]).conveyed_information == value
    assert assemble_txt(NAME, [(b"c", b"i", b"=", value)]).conveyed_information == value


def test_r106_unknown_keys_ignored_and_keys_case_insensitive() -> None:
    """R-106: ``xx=1`` and boolean attributes are ignored; ``CI`` is ``ci`` (RFC 6763 §6.4)."""
    result = assemble_txt(NAME, [(b"xx=1",), (b"flag",), (b"CI=abc",), (b"=orphan",), (b"",)])
    assert result.conveyed_information == b"abc"
    assert result.ignored == ("xx", "flag")


def test_r106_no_ci_gives_nothing() -> None:
    """R-106: without ``ci`` the name gives nothing to process."""
    result = assemble_txt(NAME, [(b"oc=x",)])
    assert result.empty and result.owner_certificate == b"x"
    assert assemble_txt(NAME, []).empty


def test_d6_key_in_two_records_is_an_error_for_the_name() -> None:
    """D6: record order is not defined, so a key in two RRs makes the name unusable."""
    with pytest.raises(DnsRecordError, match="'ci' appears in two TXT records at SN123") as caught:
        assemble_txt(NAME, [(b"ci=a",), (b"ov=b",), (b"Ci=c",)])
    assert isinstance(caught.value, DataError)


@pytest.mark.parametrize("record", [(b"ci",), (b"ov=",)])
def test_d6_sztp_key_without_value_refused(record: tuple[bytes, ...]) -> None:
    """D6: an SZTP key with no value is an error for the name."""
    with pytest.raises(DnsRecordError, match="has no value"):
        assemble_txt(NAME, [record])


def test_d19_txt_bounds() -> None:
    """D19, R-110: a record over its bound and too many records are refused, typed."""
    with pytest.raises(SizeLimitError):
        assemble_txt(NAME, [strings(b"ci=" + b"x" * 1000)], max_record_bytes=999)
    with pytest.raises(DnsRecordError, match="over the limit"):
        assemble_txt(NAME, [(b"x=1",)] * (MAX_TXT_RECORDS + 1))


# ---------------------------------------------------------------------------------------------
# SRV


def test_r108_priorities_order_the_servers() -> None:
    """R-108 test idea: priorities 0, 1, 2, 2 → sztp1, sztp2, then {sztp3, sztp4}."""
    records = [
        (2, 10, 443, "sztp3.example.com."),
        (1, 0, 443, "sztp2.example.com."),
        (2, 10, 8443, "sztp4.example.com."),
        (0, 0, 443, "sztp1.example.com."),
    ]
    seen = set()
    for seed in range(20):
        result = order_srv(records, choose=random.Random(seed).randint)
        assert result.uris[:2] == ("https://sztp1.example.com:443", "https://sztp2.example.com:443")
        seen.add(result.uris[2:])
    assert seen == {
        ("https://sztp3.example.com:443", "https://sztp4.example.com:8443"),
        ("https://sztp4.example.com:8443", "https://sztp3.example.com:443"),
    }


def test_r108_rfc2782_example_record_form() -> None:
    """R-108: ``_sztp._tcp.example.com. IN SRV 0 0 443 sztp1.example.com.`` → its URI."""
    _, choose = chooser(0)
    result = order_srv([SrvRecord(0, 0, 443, "sztp1.example.com.")], choose=choose)
    assert result.uris == ("https://sztp1.example.com:443",) and result.ignored == ()


def test_rfc2782_selection_by_running_sum() -> None:
    """R-108, RFC 2782: weight-0 records first, then a draw from 0..sum picks the first record
    whose running sum reaches it; the chosen one is removed and the draw repeated."""
    records = [(0, 3, 1, "c.example"), (0, 0, 1, "a.example"), (0, 1, 1, "b.example")]
    expected_first = {0: "a", 1: "c", 2: "c", 3: "c", 4: "b"}
    for draw, first in expected_first.items():
        asked, choose = chooser(draw, 1, 0)
        result = order_srv(records, choose=choose)
        assert result.uris[0] == f"https://{first}.example:1"
        assert asked[0] == (0, 4)
        # with the weight-0 record gone the draw starts at 1 (the weights stay proportional)
        if first != "a":
            assert asked[1][0] == 0
        else:
            assert asked[1] == (1, 4)
    # draws 0 each time: the weight-0 record first, then the given order of the others
    _, choose = chooser(0, 0, 0)
    assert order_srv(records, choose=choose).uris == (
        "https://a.example:1",
        "https://c.example:1",
        "https://b.example:1",
    )


def test_rfc2782_all_weights_zero_keep_the_given_order() -> None:
    """R-108, RFC 2782: with every weight 0 the sum is 0 and the order given is kept."""
    records = [(5, 0, 443, f"s{n}.example") for n in range(4)]
    result = order_srv(records, choose=random.Random(1).randint)
    assert result.uris == tuple(f"https://s{n}.example:443" for n in range(4))


def test_rfc2782_weights_share_the_first_place() -> None:
    """R-108, RFC 2782: weights 1 and 3 put the heavier record first about 3 times in 4
    (seeded, so the count is exact on every run)."""
    records = [(0, 1, 443, "light.example"), (0, 3, 443, "heavy.example")]
    rng = random.Random(2026)
    heavy = sum(
        order_srv(records, choose=rng.randint).uris[0] == "https://heavy.example:443"
        for _ in range(4000)
    )
    assert 2800 < heavy < 3200


def test_rfc2782_weight_zero_rarely_first_among_weighted() -> None:
    """R-108, RFC 2782: a weight-0 record is first only when the draw is 0."""
    records = [(0, 0, 443, "zero.example"), (0, 100, 443, "big.example")]
    rng = random.Random(5)
    zero_first = sum(
        order_srv(records, choose=rng.randint).uris[0] == "https://zero.example:443"
        for _ in range(2000)
    )
    assert zero_first < 60


def test_srv_target_dot_means_no_service() -> None:
    """R-108, RFC 2782: a target "." says the service is decidedly not available."""
    result = order_srv([(0, 0, 0, ".")], choose=random.Random(0).randint)
    assert result.no_service and result.uris == ()
    with pytest.raises(NothingUsableError, match="no service"):
        result.require_usable("_sztp._tcp.example.com.")


def test_srv_unusable_records_left_out_with_reasons() -> None:
    """R-108: IPv6 literals (targets are names), port 0, bad names, out-of-range fields and
    repeats are left out, each with its reason; the rest is used."""
    records = [
        (0, 0, 443, "2001:db8::1"),
        (0, 0, 0, "zero-port.example."),
        (0, 0, 443, "bad_name.example."),
        (0, 70000, 443, "big.example."),
        (0, 0, 443, "ok.example."),
        (1, 0, 443, "ok.example"),
        (2, 0, 443, "."),
    ]
    result = order_srv(records, choose=random.Random(0).randint)
    assert result.uris == ("https://ok.example:443",)
    assert not result.no_service
    reasons = "\n".join(result.ignored)
    for expected in ("not an IPv6", "port 0", "not a valid host name", "16-bit", "listed twice"):
        assert expected in reasons
    assert "target '.'" in reasons


def test_srv_nothing_usable_is_typed() -> None:
    """R-108: SRV records of which none is usable give a typed nothing-usable outcome."""
    result = order_srv([(0, 0, 443, "bad_name.example")], choose=random.Random(0).randint)
    with pytest.raises(NothingUsableError) as caught:
        result.require_usable("_sztp._tcp.example.com.")
    assert caught.value.reasons == result.ignored


def test_srv_record_count_bounded() -> None:
    """D19: more SRV records than the bound are refused, typed."""
    with pytest.raises(DnsRecordError):
        order_srv([(0, 0, 443, "a.example")] * 65, choose=random.Random(0).randint)


def test_r108_a_target_that_would_move_the_port_into_a_path_is_left_out() -> None:
    """R-108: "a/" would make https://a/:8443, a URI with port 443 and path "/:8443"; such a
    target is not a host name and is left out, never tried on another port."""
    result = order_srv([(0, 0, 8443, "a/"), (0, 0, 8443, "b.example.")], choose=lambda a, b: a)
    assert result.uris == ("https://b.example:8443",)
    assert any("not a valid host name" in reason for reason in result.ignored)
