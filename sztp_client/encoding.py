"""Value encodings shared by the data-model parsers.

Pure helpers, no I/O:

* YANG built-in and common types as they appear on the wire: ``binary`` (base64, D13),
  ``yang:hex-string`` (D13), ``yang:date-and-time`` (RFC 3339);
* strict JSON and XML loading (D15): JSON must be UTF-8 without a byte-order mark, without
  duplicate object members, NaN, Infinity or trailing data; XML is parsed with a parser that
  refuses DTDs, entity declarations and external references;
* walking YANG instance data: :class:`YangJSONObject` takes the members of one JSON object
  (RFC 7951) one by one, and :func:`xml_to_json_tree` turns an XML element (RFC 7950 §9 XML
  encoding) into the same shape of Python values so that one parser serves both encodings.

Size bounds are the caller's job (D19).  Deep nesting is refused as an encoding error instead of
exhausting the stack.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import datetime
import enum
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import defusedxml.ElementTree as DefusedET
from defusedxml.common import DefusedXmlException

from sztp_client.errors import EncodingError, ModelError

__all__ = [
    "XMLIdentity",
    "XMLKind",
    "XMLSchemaNode",
    "YangJSONObject",
    "decode_base64",
    "decode_hex_string",
    "encode_base64",
    "format_datetime",
    "json_type_name",
    "load_json",
    "load_xml",
    "load_xml_with_namespaces",
    "parse_datetime",
    "split_tag",
    "xml_to_json_tree",
]

# ---------------------------------------------------------------------------------------------
# binary (base64)

_BASE64_WHITESPACE: Final = str.maketrans("", "", " \t\r\n")
_BASE64_BODY: Final = re.compile(r"[A-Za-z0-9+/]*")
_BASE64_BAD_CHARACTER: Final = re.compile(r"[^A-Za-z0-9+/]")


def decode_base64(text: str, field: str) -> bytes:
    """Decode a YANG ``binary`` value (D13, R-055).

    The standard alphabet only (RFC 4648 §4); spaces, tabs and line breaks anywhere are removed;
    padding is optional but, when given, must be right.  Anything else raises
    :class:`ModelError` naming ``field``.
    """
    compact = text.translate(_BASE64_WHITESPACE)
    body = compact.rstrip("=")
    padding = len(compact) - len(body)
    if not _BASE64_BODY.fullmatch(body):
        bad = _BASE64_BAD_CHARACTER.search(body)
        offset = bad.start() if bad else 0
        character = body[offset]
        described = repr(character) if character.isprintable() else f"U+{ord(character):04X}"
        raise ModelError(
            field,
            f"not base64: character {described} at offset {offset} is not in the standard "
            "base64 alphabet",
        )
    remainder = len(body) % 4
    if remainder == 1:
        raise ModelError(field, "not base64: the length does not fit whole octets")
    if padding > 2 or (padding and (remainder == 0 or remainder + padding != 4)):
        raise ModelError(field, "not base64: wrong number of '=' padding characters")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error as exc:  # pragma: no cover - the checks above make this unreachable
        raise ModelError(field, f"not base64: {exc}") from exc


def encode_base64(data: bytes) -> str:
    """Encode ``data`` as a YANG ``binary`` value: standard base64 with padding, one line."""
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------------------------------------
# yang:hex-string

_HEX_COLONS: Final = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*")
_HEX_PLAIN: Final = re.compile(r"(?:[0-9A-Fa-f]{2})+")


def decode_hex_string(text: str, field: str) -> bytes:
    """Decode a ``yang:hex-string``: octets as two hex digits, any case (D13).

    Colon-separated (``ba:ec:cf``, the YANG form) and unseparated (``baeccf``) are both accepted;
    a mix, an odd number of digits or an empty value raises :class:`ModelError`.
    """
    if not text:
        raise ModelError(field, "empty; a hex string of at least one octet is required")
    if _HEX_COLONS.fullmatch(text):
        return bytes.fromhex(text.replace(":", ""))
    if _HEX_PLAIN.fullmatch(text):
        return bytes.fromhex(text)
    raise ModelError(
        field,
        "not a hex string: expected pairs of hex digits, either all separated by ':' or none",
    )


# ---------------------------------------------------------------------------------------------
# yang:date-and-time

_DATE_AND_TIME: Final = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<offset>Z|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))"
)


def parse_datetime(text: str, field: str) -> datetime.datetime:
    """Parse a ``yang:date-and-time`` (RFC 3339 profile of RFC 6991).

    ``Z`` or a ``±hh:mm`` offset is required; ``-00:00`` (UTC, local offset unknown) is read as
    UTC.  Fractional seconds beyond microseconds are truncated.  A leap second (``:60``) is read
    as the first instant of the next minute.  The result is always in UTC.
    """
    match = _DATE_AND_TIME.fullmatch(text)
    if match is None:
        raise ModelError(
            field,
            "not a date-and-time: expected YYYY-MM-DDThh:mm:ss[.fraction] followed by Z or "
            "an offset like +01:00",
        )
    second = int(match["second"])
    leap = second == 60
    if leap and int(match["minute"]) != 59:
        raise ModelError(field, "not a date-and-time: second 60 only exists at minute 59")
    microsecond = int((match["fraction"] or "")[:6].ljust(6, "0"))
    offset = datetime.timedelta()
    if match["sign"] is not None:
        offset_hour = int(match["offset_hour"])
        offset_minute = int(match["offset_minute"])
        if offset_hour > 23 or offset_minute > 59:
            raise ModelError(field, "not a date-and-time: time zone offset out of range")
        offset = datetime.timedelta(hours=offset_hour, minutes=offset_minute)
        if match["sign"] == "-":
            offset = -offset
    try:
        value = datetime.datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            59 if leap else second,
            microsecond,
            tzinfo=datetime.timezone(offset),
        )
        if leap:
            value += datetime.timedelta(seconds=1)
        return value.astimezone(datetime.UTC)
    except (ValueError, OverflowError) as exc:
        raise ModelError(field, f"not a date-and-time: {exc}") from exc


def format_datetime(dt: datetime.datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with ``Z``; microseconds only when non-zero.

    A naive datetime is a programming error and raises :class:`ValueError`.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("format_datetime needs a timezone-aware datetime")
    utc = dt.astimezone(datetime.UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


# ---------------------------------------------------------------------------------------------
# JSON


class _JSONRefused(ValueError):
    """Raised inside the JSON decoder hooks; turned into EncodingError by load_json."""


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            shown = key if len(key) <= 60 else key[:57] + "..."
            raise _JSONRefused(f"object member {shown!r} appears more than once")
        result[key] = value
    return result


def _refuse_constant(name: str) -> object:
    raise _JSONRefused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JSONRefused("a number is too large to represent")
    return value


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_strings(value: object, what: str) -> None:
    """Refuse strings holding unpaired UTF-16 surrogates (``"\\ud800"``), without recursion."""
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            strings: list[str] = [item]
        elif isinstance(item, dict):
            strings = list(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
            continue
        else:
            continue
        if any(_has_lone_surrogate(s) for s in strings):
            raise EncodingError(f"{what} is not valid JSON: a string holds an unpaired surrogate")


def load_json(data: bytes, what: str) -> object:
    """Parse ``data`` as one strict JSON text (RFC 8259, UTF-8); ``what`` names it in errors.

    Refused with :class:`EncodingError`: a byte-order mark, invalid UTF-8, duplicate object
    members, ``NaN``/``Infinity`` or numbers too large for a float, unpaired surrogates, data
    after the value, and nesting deeper than the interpreter can follow.
    """
    if data.startswith(codecs.BOM_UTF8):
        raise EncodingError(f"{what} is not valid JSON: it starts with a byte-order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError(f"{what} is not valid JSON: invalid UTF-8 at byte {exc.start}") from exc
    try:
        value: object = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except RecursionError as exc:
        raise EncodingError(f"{what} is not valid JSON: nested too deeply") from exc
    except ValueError as exc:
        raise EncodingError(f"{what} is not valid JSON: {exc}") from exc
    _check_strings(value, what)
    return value


def json_type_name(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_ABSENT: Final = object()
_DIGITS: Final = re.compile(r"[0-9]{1,20}")


class YangJSONObject:
    """The members of one JSON object of YANG instance data (RFC 7951), taken one at a time.

    ``path`` names the object in errors; members are named ``prefix + name`` (by default
    ``path + "/"``).  A member name qualified with the object's own ``module``
    (``module:name``) is read as the simple name, which RFC 7951 prescribes inside a module;
    giving both forms is an error.  Every accessor raises :class:`ModelError` naming the member
    when the value has the wrong JSON type.  :meth:`finish` refuses members nobody took.
    """

    __slots__ = ("_members", "_module", "_path", "_prefix", "_taken")

    def __init__(self, value: object, path: str, module: str, prefix: str | None = None) -> None:
        self._path = path
        self._module = module
        self._prefix = f"{path}/" if prefix is None else prefix
        if not isinstance(value, dict):
            raise ModelError(path, f"must be a JSON object, not {json_type_name(value)}")
        members: dict[str, object] = {}
        for key, member in value.items():
            name = str(key)
            qualifier, colon, local = name.partition(":")
            if colon and qualifier == module:
                name = local
            if name in members:
                raise ModelError(
                    self.path_of(name), "given twice, with and without the module name"
                )
            members[name] = member
        self._members = members
        self._taken: set[str] = set()

    @property
    def path(self) -> str:
        return self._path

    def path_of(self, name: str) -> str:
        """The error path of member ``name``."""
        return f"{self._prefix}{name}"

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def _take(self, name: str) -> object:
        self._taken.add(name)
        return self._members.get(name, _ABSENT)

    def _wrong_type(self, name: str, expected: str, value: object) -> ModelError:
        return ModelError(self.path_of(name), f"must be {expected}, not {json_type_name(value)}")

    def string(self, name: str) -> str | None:
        """An optional ``string``-like leaf."""
        value = self._take(name)
        if value is _ABSENT:
            return None
        if not isinstance(value, str):
            raise self._wrong_type(name, "a JSON string", value)
        return value

    def required_string(self, name: str) -> str:
        """A mandatory ``string``-like leaf."""
        value = self.string(name)
        if value is None:
            raise ModelError(self.path_of(name), "missing; it is mandatory")
        return value

    def binary(self, name: str) -> bytes | None:
        """An optional ``binary`` leaf (base64, D13)."""
        value = self.string(name)
        return None if value is None else decode_base64(value, self.path_of(name))

    def required_binary(self, name: str) -> bytes:
        """A mandatory ``binary`` leaf."""
        return decode_base64(self.required_string(name), self.path_of(name))

    def uint(self, name: str) -> int | None:
        """An optional unsigned integer leaf: a JSON number or, leniently, a string of digits.

        The range is the caller's to check.
        """
        value = self._take(name)
        if value is _ABSENT:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str) and _DIGITS.fullmatch(value):
            return int(value)
        raise self._wrong_type(name, "a non-negative integer", value)

    def boolean(self, name: str, *, lenient: bool = False) -> bool | None:
        """An optional ``boolean`` leaf; with ``lenient`` also the strings "true" and "false"."""
        value = self._take(name)
        if value is _ABSENT:
            return None
        if isinstance(value, bool):
            return value
        if lenient and value in ("true", "false"):
            return value == "true"
        raise self._wrong_type(name, "true or false", value)

    def empty(self, name: str) -> bool:
        """A leaf of type ``empty``: present as ``[null]`` (RFC 7951 §6.9) or absent."""
        value = self._take(name)
        if value is _ABSENT:
            return False
        if value != [None]:
            raise ModelError(self.path_of(name), "an empty leaf must be given as [null]")
        return True

    def array(self, name: str) -> list[object]:
        """A list or leaf-list; absent means no entries."""
        value = self._take(name)
        if value is _ABSENT:
            return []
        if not isinstance(value, list):
            raise self._wrong_type(name, "a JSON array", value)
        return value

    def container(self, name: str) -> YangJSONObject | None:
        """An optional container, as another :class:`YangJSONObject`."""
        value = self._take(name)
        if value is _ABSENT:
            return None
        return YangJSONObject(value, self.path_of(name), self._module)

    def finish(self, *, ignore_other_modules: bool = False, ignore_unknown: bool = False) -> None:
        """Refuse members that no accessor took.

        ``ignore_other_modules`` lets members qualified with another module pass (augmentations
        this parser does not read); ``ignore_unknown`` lets every member pass.
        """
        if ignore_unknown:
            return
        unknown = [
            name
            for name in self._members
            if name not in self._taken and not (ignore_other_modules and ":" in name)
        ]
        if unknown:
            shown = ", ".join(repr(n if len(n) <= 60 else n[:57] + "...") for n in unknown[:5])
            raise ModelError(self.path_of(unknown[0]), f"unknown member(s): {shown}")


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


def split_tag(tag: str) -> tuple[str, str]:
    """``{namespace}local`` → ``(namespace, local)``; no namespace gives ``""``."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


class XMLKind(enum.Enum):
    """How a schema node is represented in the tree :func:`xml_to_json_tree` builds."""

    LEAF = "leaf"  # stripped text → str
    IDENTITYREF = "identityref"  # QName text → XMLIdentity
    LEAF_LIST = "leaf-list"  # repeated elements → list[str]
    CONTAINER = "container"  # → dict
    LIST = "list"  # repeated elements → list[dict]


@dataclass(frozen=True, slots=True)
class XMLSchemaNode:
    """One node of the schema that :func:`xml_to_json_tree` follows."""

    kind: XMLKind
    children: Mapping[str, XMLSchemaNode] = field(default_factory=dict)


class XMLIdentity(str):
    """An identityref read from XML and already resolved through the namespace prefixes.

    Its value is ``module:identity`` when the namespace is known or follows the IETF
    ``urn:ietf:params:xml:ns:yang:<module>`` convention, else ``{namespace}identity``.
    """

    __slots__ = ()


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
