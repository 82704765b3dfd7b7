"""The shape of XML instance data as the parsers declare it (RFC 7950 §9), the value an
identityref read from XML becomes, and :func:`split_tag`.  No XML parser is imported here: a
parser module declares its schema at import and loads :mod:`sztp_client.encoding.xml` only when
XML arrives."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import msgspec

__all__ = ["XMLIdentity", "XMLKind", "XMLSchemaNode", "split_tag"]


class XMLKind(enum.Enum):
    """How a schema node is represented in the tree that
    :func:`~sztp_client.encoding.xml.xml_to_json_tree` builds."""

    LEAF = "leaf"  # stripped text → str
    IDENTITYREF = "identityref"  # QName text → XMLIdentity
    LEAF_LIST = "leaf-list"  # repeated elements → list[str]
    CONTAINER = "container"  # → dict
    LIST = "list"  # repeated elements → list[dict]


class XMLSchemaNode(msgspec.Struct, frozen=True):
    """One node of the schema that :func:`~sztp_client.encoding.xml.xml_to_json_tree`
    follows."""

    kind: XMLKind
    children: Mapping[str, XMLSchemaNode] = msgspec.field(default_factory=dict)


class XMLIdentity(str):
    """An identityref read from XML and already resolved through the namespace prefixes.

    Its value is ``module:identity`` when the namespace is known or follows the IETF
    ``urn:ietf:params:xml:ns:yang:<module>`` convention, else ``{namespace}identity``.
    """

    __slots__ = ()


def split_tag(tag: str) -> tuple[str, str]:
    """``{namespace}local`` → ``(namespace, local)``; no namespace gives ``""``."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag
