"""RESTCONF error documents (RFC 8040 §7.1) in JSON or XML: :func:`parse_error_document` takes
the first error's error-tag, error-message and error-info (anydata as JSON-like values, members
named as in RFC 7951) for :class:`~sztp_client.errors.ServerError` (D8).  Pure, no I/O; the
XML parser is loaded only for an XML error document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec

from sztp_client.encoding.json import load_json
from sztp_client.encoding.xml_schema import split_tag
from sztp_client.errors import DataError, EncodingError

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

__all__ = ["RESTCONF_NAMESPACE", "ErrorDocument", "parse_error_document"]

RESTCONF_NAMESPACE: Final = "urn:ietf:params:xml:ns:yang:ietf-restconf"
_IETF_YANG_NAMESPACE: Final = "urn:ietf:params:xml:ns:yang:"
_ERROR_INFO_DEPTH: Final = 32


class ErrorDocument(msgspec.Struct, frozen=True):
    tag: str | None = None
    message: str | None = None
    info: object = None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _error_from_json(data: bytes) -> ErrorDocument:
    document = load_json(data, "RESTCONF error document")
    errors = document.get("ietf-restconf:errors") if isinstance(document, dict) else None
    entries = errors.get("error") if isinstance(errors, dict) else None
    first = entries[0] if isinstance(entries, list) and entries else entries
    if not isinstance(first, dict):
        raise EncodingError("not a RESTCONF error document")
    return ErrorDocument(
        _text(first.get("error-tag")), _text(first.get("error-message")), first.get("error-info")
    )


def _qualified(tag: str, parent_namespace: str) -> str:
    namespace, local = split_tag(tag)
    if namespace == parent_namespace:
        return local
    if namespace.startswith(_IETF_YANG_NAMESPACE):
        return f"{namespace[len(_IETF_YANG_NAMESPACE) :]}:{local}"
    return f"{{{namespace}}}{local}"


def _xml_value(element: ET.Element, depth: int) -> object:
    """An anydata element as JSON-like values: members named as in RFC 7951 (``module:name``
    where the namespace changes), leaves as their text as written, repeated names as lists."""
    if depth > _ERROR_INFO_DEPTH:
        raise EncodingError("error-info is nested too deeply")
    children = [child for child in element if isinstance(child.tag, str)]
    if not children:
        return (element.text or "").strip()
    namespace, _ = split_tag(element.tag)
    result: dict[str, object] = {}
    for child in children:
        name = _qualified(child.tag, namespace)
        value = _xml_value(child, depth + 1)
        if name not in result:
            result[name] = value
        elif isinstance(existing := result[name], list):
            existing.append(value)
        else:
            result[name] = [existing, value]
    return result


def _error_from_xml(data: bytes) -> ErrorDocument:
    from sztp_client.encoding.xml import load_xml  # noqa: PLC0415 - XML error documents only

    root = load_xml(data, "RESTCONF error document")
    if root.tag != f"{{{RESTCONF_NAMESPACE}}}errors":
        raise EncodingError("not a RESTCONF error document")
    error = root.find(f"{{{RESTCONF_NAMESPACE}}}error")
    if error is None:
        raise EncodingError("not a RESTCONF error document")

    def leaf(name: str) -> str | None:
        found = error.find(f"{{{RESTCONF_NAMESPACE}}}{name}")
        return None if found is None else (found.text or "").strip()

    info_element = error.find(f"{{{RESTCONF_NAMESPACE}}}error-info")
    info = None if info_element is None else _xml_value(info_element, 0)
    return ErrorDocument(leaf("error-tag"), leaf("error-message"), info)


def parse_error_document(data: bytes, media_type: str) -> ErrorDocument | None:
    essence = media_type.partition(";")[0].strip().lower()
    stripped = data.lstrip()
    try:
        if essence.endswith("json") or (not essence and stripped.startswith(b"{")):
            return _error_from_json(data)
        if essence.endswith("xml") or (not essence and stripped.startswith(b"<")):
            return _error_from_xml(data)
    except (DataError, RecursionError):
        return None
    return None
