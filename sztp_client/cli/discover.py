"""``sztp-client discover [--json] [--config FILE]``: run discovery only, and say what each
source yields.

Every kind of ``discovery.order`` is asked in order, as a run would on one pass, but no
bootstrap server is contacted and nothing is verified, installed or written: the only traffic
is the DHCP and DNS queries discovery itself makes, and media are mounted read-only and
unmounted again.  Exit 0 when some source yielded a server or artifacts, 69 when none did (an
option whose entries were all invalid counts as nothing), 78 for a configuration that cannot
work.  The JSON document is described in docs/discovery.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sztp_client.certificate_files import load_certificates
from sztp_client.cli.help import EXIT_CODES, HelpFormatter, paragraph
from sztp_client.config import DEFAULT_CONFIG, ClientConfig, load_config
from sztp_client.context import serial_number, well_known_servers
from sztp_client.discovery import sources, wiring
from sztp_client.errors import EXIT_UNAVAILABLE, SZTPError

#: the version of the JSON document ``discover --json`` prints
DISCOVER_VERSION = 1


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "discover",
        help="run discovery only and show what each source yields",
        description=paragraph(
            "Ask every source of discovery.order (removable media, DHCPv4, DHCPv6, mDNS and "
            "DNS TXT, mDNS and DNS SRV, the configured servers) what it yields, as a run "
            "would, and print it.  Contacts no bootstrap server and verifies nothing: the only "
            "traffic is the DHCP and DNS queries discovery makes; media are mounted read-only "
            "and unmounted again.  Exit 0 when some source yielded a bootstrap server or "
            "artifacts, 69 when none did."
        ),
        epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the versioned JSON document (docs/discovery.md) instead of the summary",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help=f"the configuration file (default: {DEFAULT_CONFIG})",
    )
    parser.set_defaults(handler=discover)


def discover(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config or DEFAULT_CONFIG, required=args.config is not None)
        kinds = _sources(config)
    except SZTPError as exc:
        print(f"sztp-client: {exc.message}", file=sys.stderr)
        return exc.exit_code
    entries: list[dict[str, Any]] = []
    found = False
    for source in kinds:
        try:
            if source.detect():
                source.fetch()
            findings = source.findings
            found = found or any(f.found for f in findings)
            entries += [_entry(f) for f in findings]
            if not findings:
                entries.append(_nothing(source.kind, source.summary))
        finally:
            source.release()
    if args.json:
        document = {"version": DISCOVER_VERSION, "sources": entries}
        print(json.dumps(document, indent=2))
    else:
        for entry in entries:
            print(_line(entry))
        if not found:
            print("sztp-client: no source yielded a bootstrap server or artifacts", file=sys.stderr)
    return 0 if found else EXIT_UNAVAILABLE


def _sources(config: ClientConfig) -> list[wiring.KindSource]:
    idevid = None
    if config.identity.certificate is not None:
        idevid = load_certificates([config.identity.certificate], "identity.certificate")[0]
    serial = serial_number(config.device.serial_number, idevid)
    endpoints = well_known_servers(config)
    anchors = load_certificates(
        config.trust.bootstrap_server_trust_anchors, "trust.bootstrap-server-trust-anchors"
    )
    context = wiring.discovery_context(config, serial)
    return wiring.build_sources(context, wiring.ConfiguredServers(tuple(endpoints), anchors))


def _entry(finding: sources.Finding) -> dict[str, Any]:
    entry = wiring.record(finding)
    if entry["error"] is None and not finding.found:
        entry["error"] = "; ".join(finding.rejected) or "nothing found"
    return entry


def _nothing(kind: str, why: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "origin": None,
        "bootstrap-servers": [],
        "artifacts": [],
        "rejected": [],
        "error": why,
    }


def _line(entry: dict[str, Any]) -> str:
    where = f"{entry['kind']} {entry['origin']}" if entry["origin"] else entry["kind"]
    yielded = [*entry["bootstrap-servers"], *entry["artifacts"]]
    text = ", ".join(yielded) if yielded else f"nothing: {entry['error']}"
    refused = "".join(f"\n    refused: {why}" for why in entry["rejected"] if yielded)
    return f"{where}: {text}{refused}"


__all__ = ["DISCOVER_VERSION", "discover", "register"]
