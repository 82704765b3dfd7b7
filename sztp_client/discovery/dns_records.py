"""DNS record data for SZTP discovery (RFC 8572 §4.2; R-103, R-105..R-108, D5, D6).

* Names: the device-specific TXT records live at ``<serial-number>._sztp.<domain>.``, the
  device-independent SRV records at ``_sztp._tcp.<domain>.``, with ``local`` as the domain for
  multicast DNS (R-105, R-108): :func:`txt_name`, :func:`srv_name`.
* Domains (D5): those of the DHCP lease, then resolv.conf's ``search`` and ``domain`` lines,
  then the configured ones, without duplicates: :func:`resolv_conf_domains`,
  :func:`search_domains`, :func:`normalise_domain`.
* TXT (R-106, R-107, D6): :func:`assemble_txt` takes the records found at one name, each as
  its sequence of character-strings, and returns the binary ``ci``/``oc``/``ov`` values.
* SRV (R-108): :func:`order_srv` orders SRV records as RFC 2782 says (priority ascending, a
  weighted random order within a priority) and turns each into ``https://<target>:<port>``.

The functions take plain values (tuples of bytes, :class:`SrvRecord` or 4-tuples) rather than
a DNS library's types, so that they stay pure and independent of how the records were
fetched; with dnspython, pass ``rdata.strings`` of each TXT rdata and ``(rdata.priority,
rdata.weight, rdata.port, rdata.target.to_text())`` of each SRV rdata.  The randomness of the
SRV order comes from a function passed in, so that tests are deterministic.

Hand-written: RFC 8572 leaves the TXT assembly open (D6 decides it), and RFC 2782's selection
algorithm is short; DNS libraries resolve records but do not order SRV targets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Final

import msgspec

from sztp_client.discovery.errors import DnsRecordError, NothingUsableError
from sztp_client.errors import ModelError, SizeLimitError
from sztp_client.model.server_uri import parse_server_uri

MDNS_DOMAIN: Final = "local"
TXT_KEYS: Final = ("ci", "oc", "ov")
MAX_TXT_RECORDS: Final = 16
"""Default bound of TXT records at one name (SZTP needs three)."""
MAX_RECORD_BYTES: Final = 65535
"""Default bound of one TXT record's data: the largest RDATA DNS can carry (R-110)."""
MAX_SRV_RECORDS: Final = 64
"""Default bound of SRV records at one name."""
MAX_DOMAINS: Final = 32
"""Default bound of the search domains kept (resolv.conf allows 6; leases and configuration
add a few)."""

_LABEL: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_SERIAL_LABEL: Final = re.compile(r"[!-~]{1,63}")  # printable ASCII without space
_SHOWN: Final = 80


# ---------------------------------------------------------------------------------------------
# names and domains


def normalise_domain(text: str) -> str:
    """A search domain in lower case without its trailing dot; :class:`DnsRecordError` when it
    is not a DNS name of letters, digits, '-' and '_' (at most 253 octets, labels at most 63)."""
    name = text.rstrip(".") if text.endswith(".") and not text.endswith("..") else text
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise DnsRecordError(f"{_show(text)} is not a usable DNS domain")
    return name.lower()


def txt_name(serial_number: str, domain: str = MDNS_DOMAIN) -> str:
    """``<serial-number>._sztp.<domain>.`` (R-105): the serial number must be one DNS label of
    printable ASCII without '.', '\\' or spaces, at most 63 octets (:class:`DnsRecordError`)."""
    if not _SERIAL_LABEL.fullmatch(serial_number) or any(c in serial_number for c in ".\\"):
        raise DnsRecordError(
            f"the serial number {_show(serial_number)} cannot be a DNS label "
            "(printable ASCII without '.', '\\\\' or spaces, at most 63 octets)"
        )
    return f"{serial_number}._sztp.{normalise_domain(domain)}."


def srv_name(domain: str = MDNS_DOMAIN) -> str:
    """``_sztp._tcp.<domain>.`` (R-108)."""
    return f"_sztp._tcp.{normalise_domain(domain)}."


def resolv_conf_domains(text: str) -> tuple[str, ...]:
    """The domains of resolv.conf's ``domain`` and ``search`` lines, in file order.

    resolv(5): the last of these lines wins, so only that line's domains are returned; unusable
    names are left out.  Comments start with '#' or ';'.
    """
    chosen: list[str] = []
    for line in text.splitlines():
        fields = re.split(r"[#;]", line, maxsplit=1)[0].split()
        if fields and fields[0] in ("domain", "search"):
            chosen = fields[1:] if fields[0] == "search" else fields[1:2]
    return _unique(chosen, MAX_DOMAINS)


def search_domains(
    lease: Iterable[str] = (),
    resolv_conf: Iterable[str] = (),
    configured: Iterable[str] = (),
    *,
    max_domains: int = MAX_DOMAINS,
) -> tuple[str, ...]:
    """D5's domain order: the lease's, then resolv.conf's, then the configured ones; each once,
    normalised, unusable names left out, at most ``max_domains``."""
    return _unique([*lease, *resolv_conf, *configured], max_domains)


def _unique(candidates: Iterable[str], limit: int) -> tuple[str, ...]:
    found: list[str] = []
    for candidate in candidates:
        try:
            domain = normalise_domain(candidate)
        except DnsRecordError:
            continue
        if domain not in found:
            found.append(domain)
            if len(found) >= limit:
                break
    return tuple(found)


# ---------------------------------------------------------------------------------------------
# TXT


class TxtArtifacts(msgspec.Struct, frozen=True):
    """The SZTP artifacts found in the TXT records at one name (R-106).

    Values are the raw binary artifacts (CMS, or the voucher as stored), ``None`` when the key
    is absent; ``ignored`` names the keys that are not SZTP's.
    """

    conveyed_information: bytes | None = None
    owner_certificate: bytes | None = None
    ownership_voucher: bytes | None = None
    ignored: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when no ``ci`` value was found: the name gave nothing to process."""
        return self.conveyed_information is None


def assemble_txt(
    name: str,
    records: Sequence[Sequence[bytes]],
    *,
    max_records: int = MAX_TXT_RECORDS,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> TxtArtifacts:
    """The ``ci``, ``oc`` and ``ov`` values of the TXT records at ``name`` (R-106, R-107, D6).

    Each record is the sequence of its character-strings.  D6: the character-strings of one
    record are concatenated, then split at the first '='; the key is compared without regard to
    case (RFC 6763 §6.4); unknown keys and records with an empty key are ignored.  Refused with
    :class:`DnsRecordError`: an SZTP key in two records at the name (record order is not
    defined, so neither can be chosen), an SZTP key without a value, more than ``max_records``
    records.  Over ``max_record_bytes`` in one record: :class:`~sztp_client.errors.SizeLimitError`.
    """
    if len(records) > max_records:
        raise DnsRecordError(
            f"{len(records)} TXT records at {name}, over the limit of {max_records}"
        )
    values: dict[str, bytes] = {}
    ignored: list[str] = []
    for record in records:
        size = sum(len(part) for part in record)
        if size > max_record_bytes:
            raise SizeLimitError(f"a TXT record at {name}", size, max_record_bytes)
        data = b"".join(record)
        key_octets, equals, value = data.partition(b"=")
        if not key_octets:
            continue  # RFC 6763 §6.4: a string beginning with '=' is silently ignored
        key = key_octets.decode("ascii", "backslashreplace").lower()
        if key not in TXT_KEYS:
            ignored.append(key if len(key) <= _SHOWN else key[: _SHOWN - 3] + "...")
            continue
        if key in values:
            raise DnsRecordError(
                f"the key {key!r} appears in two TXT records at {name}; "
                "which one counts is not defined, so the name is not used"
            )
        if not equals or not value:
            raise DnsRecordError(f"the key {key!r} in a TXT record at {name} has no value")
        values[key] = value
    return TxtArtifacts(values.get("ci"), values.get("oc"), values.get("ov"), tuple(ignored))


# ---------------------------------------------------------------------------------------------
# SRV


class SrvRecord(msgspec.Struct, frozen=True):
    """One SRV record (RFC 2782): the target is a DNS name, ``"."`` meaning no service."""

    priority: int
    weight: int
    port: int
    target: str


class SrvServers(msgspec.Struct, frozen=True):
    """Bootstrap servers from SRV records, in the order to try (R-108).

    ``no_service`` is true when the name says the service is decidedly not available
    (a single record with target "."); ``ignored`` says why records were left out.
    """

    uris: tuple[str, ...]
    ignored: tuple[str, ...] = ()
    no_service: bool = False

    def require_usable(self, name: str) -> SrvServers:
        """Return ``self``, or raise :class:`NothingUsableError` when no server remains."""
        if not self.uris:
            reasons = self.ignored or (
                ("the target '.' says there is no service",) if self.no_service else ()
            )
            raise NothingUsableError(f"the SRV records at {name} name no usable server", reasons)
        return self


RandomInt = Callable[[int, int], int]
"""``choose(low, high)`` returns an integer from ``low`` to ``high`` inclusive, as
:meth:`random.Random.randint` does."""


def order_srv(
    records: Sequence[SrvRecord | tuple[int, int, int, str]],
    *,
    choose: RandomInt,
    max_records: int = MAX_SRV_RECORDS,
) -> SrvServers:
    """Order SRV records as RFC 2782 says and turn each into ``https://<target>:<port>``.

    Records are taken in ascending priority.  Within one priority, RFC 2782's selection is
    repeated until none is left: the records with weight 0 first, then the others in the order
    given; a number from 0 to the sum of the weights is drawn with ``choose``, and the first
    record whose running sum of weights reaches it is next.  Records of weight 0 are thus chosen
    only when the draw is 0, or once nothing else remains; with all weights 0 the given order is
    kept.  One refinement keeps the weights proportional: when no weight-0 record remains the
    draw starts at 1, since RFC 2782's draw of 0 would otherwise add one chance to the first
    weighted record.

    The target loses its trailing dot.  Left out, with a reason: a target "." (RFC 2782: no
    service), a field out of range, port 0, a target that is not a host name (an IPv6 literal
    is not a DNS name), and a server already listed.  More than ``max_records`` records:
    :class:`DnsRecordError`.
    """
    if len(records) > max_records:
        raise DnsRecordError(f"{len(records)} SRV records, over the limit of {max_records}")
    valid: list[tuple[SrvRecord, str]] = []
    ignored: list[str] = []
    dots = 0
    for item in records:
        record = item if isinstance(item, SrvRecord) else SrvRecord(*item)
        if record.target in (".", ""):
            dots += 1
            continue
        uri, reason = _srv_uri(record)
        if reason is None:
            valid.append((record, uri))
        else:
            ignored.append(f"{_show(record.target)} port {record.port}: {reason}")
    if dots:
        ignored.append(f"{dots} record(s) with target '.' (no service) left out")
    ordered: list[str] = []
    for priority in sorted({record.priority for record, _ in valid}):
        group = [pair for pair in valid if pair[0].priority == priority]
        for uri in _weighted_order(group, choose):
            if uri in ordered:
                ignored.append(f"{uri}: listed twice, tried once")
            else:
                ordered.append(uri)
    no_service = dots > 0 and not valid and len(records) == dots
    return SrvServers(tuple(ordered), tuple(ignored), no_service)


def _srv_uri(record: SrvRecord) -> tuple[str, str | None]:
    for field_name, value in (
        ("priority", record.priority),
        ("weight", record.weight),
        ("port", record.port),
    ):
        if not 0 <= value <= 65535:
            return "", f"the {field_name} {value} is not a 16-bit number"
    if record.port == 0:
        return "", "port 0 is no service port"
    target = record.target[:-1] if record.target.endswith(".") else record.target
    if ":" in target or "[" in target:
        return "", "an SRV target is a DNS name, not an IPv6 address"
    uri = f"https://{target}:{record.port}"
    try:
        endpoint = parse_server_uri(uri)
    except ModelError:
        return "", "the target is not a valid host name"
    if endpoint.port != record.port or endpoint.root is not None:
        # a "/" (or similar) in the target would move the port into a path
        return "", "the target is not a valid host name"
    return uri, None


def _weighted_order(group: Sequence[tuple[SrvRecord, str]], choose: RandomInt) -> list[str]:
    pending = [pair for pair in group if pair[0].weight == 0]
    pending += [pair for pair in group if pair[0].weight != 0]
    order: list[str] = []
    while pending:
        total = sum(record.weight for record, _ in pending)
        # RFC 2782 draws from 0 to the sum inclusive, and a draw of 0 takes the first record:
        # without a weight-0 record that favours the first weighted one, so 0 is drawn only
        # when a weight-0 record is there to take it
        low = 0 if total == 0 or pending[0][0].weight == 0 else 1
        draw = min(max(choose(low, total), low), total)
        running = 0
        for index, (record, uri) in enumerate(pending):
            running += record.weight
            if running >= draw:
                order.append(uri)
                del pending[index]
                break
    return order


def _show(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")
