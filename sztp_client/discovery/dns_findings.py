"""What one DNS answer gives, as a :class:`~sztp_client.discovery.sources.Finding` (R-105..R-108).

TXT records become the artifacts of their ``ci``/``oc``/``ov`` values, SRV records the
servers ``https://<target>:<port>`` in RFC 2782's order; the record data is decoded by
:mod:`.dns_records`.  An answer without the records asked for says why (no such name, an
error code, no records); what cannot be used is the finding's ``rejected``.
"""

from __future__ import annotations

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.SRV

from sztp_client.discovery.dns_query import DnsBounds, answer_records
from sztp_client.discovery.dns_records import RandomInt, SrvRecord, assemble_txt, order_srv
from sztp_client.discovery.errors import DiscoveryError
from sztp_client.discovery.sources import Finding, SourceArtifacts
from sztp_client.errors import SizeLimitError
from sztp_client.model.server_uri import parse_server_uri
from sztp_client.protocol.session_events import ServerCandidate


def txt_finding(
    kind: str, answer: dns.message.Message, name: str, origin: str, bounds: DnsBounds
) -> Finding:
    """The artifacts of the TXT records at ``name`` in ``answer``, found at ``origin``."""
    records = [
        tuple(rdata.strings)
        for rdata in answer_records(answer, name, dns.rdatatype.TXT)
        if isinstance(rdata, dns.rdtypes.ANY.TXT.TXT)
    ]
    if not records:
        return Finding(kind, origin, error=no_records(answer, "TXT"))
    try:
        found = assemble_txt(
            name,
            records,
            max_records=bounds.max_txt_records,
            max_record_bytes=bounds.max_record_bytes,
        )
    except (DiscoveryError, SizeLimitError) as exc:
        return Finding(kind, origin, rejected=(str(exc),))
    ignored = tuple(f"the key {key!r} is not an SZTP key: ignored" for key in found.ignored)
    if found.conveyed_information is None:
        return Finding(
            kind,
            origin,
            rejected=(*ignored, f"{len(records)} TXT record(s) without a 'ci' value"),
        )
    artifacts = SourceArtifacts(
        found.conveyed_information, found.owner_certificate, found.ownership_voucher
    )
    return Finding(kind, origin, artifacts=artifacts, rejected=ignored)


def srv_finding(
    kind: str,
    answer: dns.message.Message,
    name: str,
    origin: str,
    *,
    bounds: DnsBounds,
    choose: RandomInt,
) -> Finding:
    """The servers of the SRV records at ``name`` in ``answer``, in the order to try them."""
    records = [
        SrvRecord(rdata.priority, rdata.weight, rdata.port, rdata.target.to_text())
        for rdata in answer_records(answer, name, dns.rdatatype.SRV)
        if isinstance(rdata, dns.rdtypes.IN.SRV.SRV)
    ]
    if not records:
        return Finding(kind, origin, error=no_records(answer, "SRV"))
    try:
        servers = order_srv(records, choose=choose, max_records=bounds.max_srv_records)
    except DiscoveryError as exc:
        return Finding(kind, origin, rejected=(str(exc),))
    candidates = tuple(ServerCandidate(parse_server_uri(uri)) for uri in servers.uris)
    return Finding(kind, origin, servers=candidates, rejected=servers.ignored)


def no_records(answer: dns.message.Message, kind: str) -> str:
    """Why ``answer`` holds no ``kind`` records, in a few words."""
    rcode = answer.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return "no such name"
    if rcode != dns.rcode.NOERROR:
        return f"the server answered {dns.rcode.to_text(rcode)}"
    return f"no {kind} records"
