"""Entity-free XML (D15) and :func:`xml_to_json_tree` (RFC 7950 §9 XML to the JSON shape).
Pure, no I/O.  Imported where XML is read: the schemas the parsers declare are in the cheap
:mod:`sztp_client.encoding.xml_schema`."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Final

import defusedxml.ElementTree as DefusedET
from defusedxml.common import DefusedXmlException

from sztp_client.encoding.xml_schema import XMLIdentity, XMLKind, XMLSchemaNode, split_tag
from sztp_client.errors import EncodingError, ModelError

# ---------------------------------------------------------------------------------------------
# XML

_XML_NAMESPACE: Final = "http://www.w3.org/XML/1998/namespace"
_IETF_YANG_NAMESPACE: Final = "urn:ietf:params:xml:ns:yang:"


def _xml_error(what: str, exc: BaseException) -> EncodingError:
    if isinstance(exc, DefusedXmlException):
        reason = f"{type(exc).__name__} (DTDs, entities and external references are refused)"
    elif isinstance(exc, RecursionError):
        reason = "nested too deeply"
    else:
        reason = str(exc) or type(exc).__name__
    return EncodingError(f"{what} is not acceptable XML: {reason}")


_XML_FAILURES: Final = (ET.ParseError, ValueError, LookupError, RecursionError, UnicodeError)


def load_xml(data: bytes, what: str) -> ET.Element:
    """Parse ``data`` as XML, refusing DTDs, entities and external references (D15).

    Any failure raises :class:`EncodingError` naming ``what``.
    """
    try:
        return DefusedET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except _XML_FAILURES as exc:
        raise _xml_error(what, exc) from exc


def load_xml_with_namespaces(
    data: bytes, what: str
) -> tuple[ET.Element, Mapping[ET.Element, Mapping[str, str]]]:
    """Like :func:`load_xml`, also returning the namespace prefixes in scope at each element.

    The mapping takes an element of the returned tree to ``{prefix: namespace}``; the default
    namespace has the prefix ``""`` (its value ``""`` when undeclared with ``xmlns=""``).  This is
    what resolving a QName in element content (an identityref, RFC 7950 §9.10.3) needs.
    """
    scopes: dict[ET.Element, Mapping[str, str]] = {}
    stack: list[Mapping[str, str]] = [{"xml": _XML_NAMESPACE}]
    pending: dict[str, str] = {}
    root: ET.Element | None = None
    try:
        events = DefusedET.iterparse(
            io.BytesIO(data),
            events=("start-ns", "start", "end"),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
        for event, item in events:
            if event == "start-ns":
                prefix, uri = item
                pending[prefix or ""] = uri or ""
            elif event == "start":
                scope = {**stack[-1], **pending} if pending else stack[-1]
                pending = {}
                scopes[item] = scope
                stack.append(scope)
                if root is None:
                    root = item
            else:
                stack.pop()
    except _XML_FAILURES as exc:
        raise _xml_error(what, exc) from exc
    if root is None:  # pragma: no cover - the parser reports an empty document itself
        raise EncodingError(f"{what} is not acceptable XML: no root element")
    return root, scopes


_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _resolve_identity(
    text: str,
    scope: Mapping[str, str],
    own_namespace: str,
    own_module: str,
    path: str,
) -> XMLIdentity:
    prefix, colon, local = text.rpartition(":")
    if not _IDENTIFIER.fullmatch(local) or (colon and not _IDENTIFIER.fullmatch(prefix)):
        raise ModelError(path, "not an identity name (expected prefix:name or name)")
    namespace = scope.get(prefix, "") if colon else scope.get("", "") or own_namespace
    if not namespace:
        raise ModelError(path, f"the namespace prefix {prefix!r} is not declared")
    if namespace == own_namespace:
        return XMLIdentity(f"{own_module}:{local}")
    if namespace.startswith(_IETF_YANG_NAMESPACE):
        module = namespace[len(_IETF_YANG_NAMESPACE) :]
        if _IDENTIFIER.fullmatch(module):
            return XMLIdentity(f"{module}:{local}")
    return XMLIdentity(f"{{{namespace}}}{local}")


def _xml_leaf_text(element: ET.Element, path: str) -> str:
    if len(element):
        raise ModelError(path, "a leaf must not contain elements")
    return (element.text or "").strip()


def xml_to_json_tree(
    element: ET.Element,
    *,
    schema: Mapping[str, XMLSchemaNode],
    namespace: str,
    module: str,
    path: str,
    scopes: Mapping[ET.Element, Mapping[str, str]] | None = None,
) -> dict[str, object]:
    """Turn the children of ``element`` into the value :class:`YangJSONObject` reads.

    Children must be in ``namespace`` and named in ``schema``; leaves become their stripped
    text, lists and leaf-lists collect repeated elements into a list, containers recurse.
    Unknown or foreign elements, a non-list element given twice, and text between elements raise
    :class:`ModelError` naming ``path/child``.  Identityrefs need ``scopes`` from
    :func:`load_xml_with_namespaces`.
    """
    result: dict[str, object] = {}
    if (element.text or "").strip():
        raise ModelError(path, "text is not allowed here, only elements")
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):  # pragma: no cover - comments are not kept by the parser
            continue
        child_namespace, local = split_tag(tag)
        child_path = f"{path}/{local}"
        if (child.tail or "").strip():
            raise ModelError(path, "text is not allowed here, only elements")
        if child_namespace != namespace:
            raise ModelError(
                child_path,
                f"element from namespace {child_namespace or '(none)'!r}; expected {namespace!r}",
            )
        node = schema.get(local)
        if node is None:
            raise ModelError(child_path, "unknown element")
        value: object
        if node.kind is XMLKind.LEAF or node.kind is XMLKind.LEAF_LIST:
            value = _xml_leaf_text(child, child_path)
        elif node.kind is XMLKind.IDENTITYREF:
            if scopes is None:  # pragma: no cover - a programming error
                raise ValueError("identityref leaves need the namespace scopes")
            value = _resolve_identity(
                _xml_leaf_text(child, child_path),
                scopes.get(child, {}),
                namespace,
                module,
                child_path,
            )
        else:
            value = xml_to_json_tree(
                child,
                schema=node.children,
                namespace=namespace,
                module=module,
                path=child_path,
                scopes=scopes,
            )
        if node.kind is XMLKind.LIST or node.kind is XMLKind.LEAF_LIST:
            entries = result.setdefault(local, [])
            if isinstance(entries, list):
                entries.append(value)
        elif local in result:
            raise ModelError(child_path, "given more than once")
        else:
            result[local] = value
    return result
