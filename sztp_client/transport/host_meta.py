"""RESTCONF root discovery (RFC 8040 §3.1, R-083, D9): the ``restconf`` link of a server's
``/.well-known/host-meta`` XRD document.  The request is the RESTCONF client's; this module
reads the reply, and loads the XML parser only then (a URI that names the root needs none).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urljoin, urlsplit

from sztp_client.encoding.xml_schema import split_tag
from sztp_client.errors import EncodingError
from sztp_client.model.server_uri import DEFAULT_PORT, URI_PATH, ServerEndpoint
from sztp_client.transport.http import shown

__all__ = [
    "DEFAULT_RESTCONF_ROOT",
    "HOST_META_PATH",
    "XRD_MEDIA_TYPE",
    "restconf_link",
]

DEFAULT_RESTCONF_ROOT: Final = "/restconf"
HOST_META_PATH: Final = "/.well-known/host-meta"

XRD_MEDIA_TYPE: Final = "application/xrd+xml"
XRD_NAMESPACE: Final = "http://docs.oasis-open.org/ns/xri/xrd-1.0"


def restconf_link(data: bytes, endpoint: ServerEndpoint) -> str:
    """The RESTCONF root path an XRD document links to (no trailing slash).

    The link must be on the server's own origin (https, the same host and port) and a plain
    path; anything else, a document that is not an XRD, or none such link raises
    :class:`EncodingError` (the caller then falls back to ``/restconf``).
    """
    from sztp_client.encoding.xml import load_xml  # noqa: PLC0415 - only when host-meta is read

    document = load_xml(data, "host-meta")
    if split_tag(document.tag)[1] != "XRD":
        raise EncodingError("host-meta is not an XRD document")
    for link in document:
        if not isinstance(link.tag, str) or split_tag(link.tag) not in (
            (XRD_NAMESPACE, "Link"),
            ("", "Link"),
        ):
            continue
        if link.get("rel") != "restconf" or link.get("href") is None:
            continue
        base = f"https://{endpoint.authority}{HOST_META_PATH}"
        href = shown(link.get("href", "").strip())
        try:
            target = urlsplit(urljoin(base, href))
            same_origin = (
                target.scheme.lower() == "https"
                and (target.hostname or "").lower() == endpoint.host.lower()
                and (target.port or DEFAULT_PORT) == endpoint.port
            )
        except ValueError:
            raise EncodingError(f"host-meta restconf link {href!r} is not a URI") from None
        if not same_origin:
            raise EncodingError(f"host-meta restconf link {href!r} is on another origin")
        path = target.path.rstrip("/")
        if target.query or target.fragment or not re.fullmatch(URI_PATH, path):
            raise EncodingError(f"host-meta restconf link {href!r} is not a usable path")
        return path
    raise EncodingError("host-meta has no restconf link")
