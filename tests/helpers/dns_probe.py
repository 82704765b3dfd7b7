"""Run the DNS discovery sources inside the device's network namespace and print what they
yielded as JSON (the discovery tests start it with ``ip netns exec``).

Argument: a JSON object with the keyword arguments of
:func:`sztp_client.discovery.dns_sources.dns_sources` (``serial_number`` among them), plus
``"bounds"`` (keyword arguments of ``DnsBounds``), ``"only"`` (source names to run) and
``"discover"`` (use ``discover()``'s findings instead of ``fetch()``); with ``"resolve"`` (host
names) it prints what ``local_names_resolver`` gives for each instead.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable

from sztp_client.discovery.dns_query import DnsBounds
from sztp_client.discovery.dns_sources import dns_sources
from sztp_client.discovery.mdns_resolver import local_names_resolver
from sztp_client.errors import ConnectError
from sztp_client.protocol.session_events import DeliveredData, ServerCandidate
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import Artifacts


def _addresses(resolver: Callable[[str, int], list[str]], host: str) -> list[str] | str:
    try:
        return resolver(host, 443)
    except ConnectError as exc:
        return exc.message


def main() -> None:
    args = json.loads(sys.argv[1])
    only = args.pop("only", None)
    use_discover = args.pop("discover", False)
    resolve = args.pop("resolve", None)
    if resolve is not None:
        resolver = local_names_resolver(
            lambda host, port: [f"fallback:{host}"],
            interfaces=args.get("interfaces"),
            ipv4=args.get("mdns_ipv4", True),
            bounds=DnsBounds(**args.get("bounds", {})),
        )
        print(json.dumps({host: _addresses(resolver, host) for host in resolve}))
        return
    bounds = DnsBounds(**args.pop("bounds", {}))
    serial = args.pop("serial_number")
    results = []
    for source in dns_sources(serial, bounds=bounds, **args):
        if only is not None and source.name not in only:
            continue
        entry: dict[str, object] = {"name": source.name, "present": source.detect()}
        if entry["present"]:
            items = source.discover() if use_discover else source.fetch()
            if use_discover:
                items = [
                    *(server for finding in items for server in finding.servers),
                    *(
                        DeliveredData(
                            Artifacts(
                                f.artifacts.conveyed_information,
                                f.artifacts.owner_certificate,
                                f.artifacts.ownership_voucher,
                            ),
                            SourceKind.DNS,
                            f.origin,
                        )
                        for f in items
                        if f.artifacts is not None
                    ),
                ]
            entry["servers"] = [
                f"https://{c.endpoint.host}:{c.endpoint.port}"
                for c in items
                if isinstance(c, ServerCandidate)
            ]
            entry["artifacts"] = [
                {
                    "origin": a.origin,
                    "kind": str(a.source),
                    **{
                        key: None if value is None else hashlib.sha256(value).hexdigest()
                        for key, value in (
                            ("ci", a.artifacts.conveyed_information),
                            ("oc", a.artifacts.owner_certificate),
                            ("ov", a.artifacts.ownership_voucher),
                        )
                    },
                }
                for a in items
                if isinstance(a, DeliveredData)
            ]
            entry["report"] = [
                {
                    "kind": f.kind,
                    "origin": f.origin,
                    "error": f.error,
                    "rejected": list(f.rejected),
                    "found": f.found,
                }
                for f in source.report
            ]
            entry["summary"] = source.summary
        results.append(entry)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
