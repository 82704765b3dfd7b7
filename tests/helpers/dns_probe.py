"""Run the DNS discovery sources inside the device's network namespace and print what they
yielded as JSON (the discovery tests start it with ``ip netns exec``).

Argument: a JSON object with the keyword arguments of
:func:`sztp_client.discovery.dns.dns_sources` (``serial_number`` among them), plus
``"bounds"`` (keyword arguments of ``DnsBounds``) and ``"only"`` (source names to run).
"""

from __future__ import annotations

import hashlib
import json
import sys

from sztp_client.discovery.dns import DnsBounds, SourceArtifacts, dns_sources
from sztp_client.protocol.session_events import ServerCandidate


def main() -> None:
    args = json.loads(sys.argv[1])
    only = args.pop("only", None)
    bounds = DnsBounds(**args.pop("bounds", {}))
    serial = args.pop("serial_number")
    results = []
    for source in dns_sources(serial, bounds=bounds, **args):
        if only is not None and source.name not in only:
            continue
        entry: dict[str, object] = {"name": source.name, "present": source.detect()}
        if entry["present"]:
            items = source.fetch()
            entry["servers"] = [
                f"https://{c.endpoint.host}:{c.endpoint.port}"
                for c in items
                if isinstance(c, ServerCandidate)
            ]
            entry["artifacts"] = [
                {
                    "origin": a.origin,
                    "kind": str(a.source_kind),
                    "ignored": list(a.ignored),
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
                if isinstance(a, SourceArtifacts)
            ]
            entry["report"] = [
                {"origin": r.origin, "outcome": r.outcome, "yielded": r.yielded}
                for r in source.report
            ]
        results.append(entry)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
