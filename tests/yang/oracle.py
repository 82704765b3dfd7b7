"""An independent YANG oracle: documents checked against the published modules with yangson.

Nothing here uses the project's parsers or encoders (no ``sztp_client`` import): JSON is read
with the standard library (duplicate members refused, as RFC 7951 requires of a document),
XML with ElementTree, and each document is handed to yangson, which checks it against the
modules as published (types, ranges, patterns, mandatory nodes, ``must`` and ``when``).  The
SZTP modules are carried in tests/yang/modules; the IETF modules they import come from the
pyang distribution (see tests/yang/README.md).

``rc:yang-data`` (RFC 8040 §8) templates, which the conveyed information and the voucher use,
are not data nodes that yangson builds by itself: :func:`_yang_data_schema` builds a schema
root from the template's body with yangson's own statement handlers, and documents are then
validated against it like any instance data.
"""

from __future__ import annotations

import functools
import io
import json
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path
from typing import Any

from yangson import DataModel
from yangson.enumerations import ContentType, ValidationScope
from yangson.exceptions import YangsonException
from yangson.instance import RootNode
from yangson.schemadata import SchemaContext
from yangson.schemanode import SchemaTreeNode

HERE = Path(__file__).parent
MODULES = HERE / "modules"
LIBRARY = HERE / "yang-library.json"

BOOTSTRAP_SERVER = "ietf-sztp-bootstrap-server"
CONVEYED_INFO = ("ietf-sztp-conveyed-info", "2019-04-30")
VOUCHER = ("ietf-voucher", "2018-05-09")
GET_BOOTSTRAPPING_DATA = f"{BOOTSTRAP_SERVER}:get-bootstrapping-data"
REPORT_PROGRESS = f"{BOOTSTRAP_SERVER}:report-progress"


class Invalid(AssertionError):
    """The document does not satisfy the published YANG modules (yangson's reason inside)."""


def pyang_modules() -> Path:
    """The directory of IETF modules inside the installed pyang distribution."""
    distribution = metadata.distribution("pyang")
    for file in distribution.files or ():
        if file.name == "ietf-restconf.yang" and file.parent.name == "ietf":
            return Path(str(distribution.locate_file(file))).parent
    raise RuntimeError("pyang's share/yang/modules/ietf was not found")


@functools.cache
def data_model() -> DataModel:
    return DataModel.from_file(str(LIBRARY), [str(MODULES), str(pyang_modules())])


@functools.cache
def _yang_data_schema(module: tuple[str, str], name: str) -> SchemaTreeNode:
    """A schema root whose children are the body of ``rc:yang-data name`` in ``module``."""
    model = data_model()
    schema_data = model.schema_data
    statement = schema_data.modules[module].statement
    for sub in statement.substatements:
        if sub.keyword == "yang-data" and sub.prefix and sub.argument == name:
            prefix_module = schema_data.modules[module].prefix_map[sub.prefix][0]
            if prefix_module != "ietf-restconf":
                continue
            root = SchemaTreeNode(schema_data)
            root._ctype = ContentType.all
            context = SchemaContext(schema_data, schema_data.namespace(module), module)
            root._handle_substatements(sub, context)
            root._post_process()
            root._make_schema_patterns()
            return root
    raise LookupError(f"no rc:yang-data {name!r} in {module[0]}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Invalid(f"member {key!r} appears twice")
        result[key] = value
    return result


# RFC 7950 §9.4: a string holds no C0 control character but tab, LF and CR (yangson does not
# check this; XML parsers refuse them by themselves)
_NOT_IN_STRINGS = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\r"}


def _legal_strings(value: Any, path: str = "") -> None:
    if isinstance(value, str):
        if any(c in _NOT_IN_STRINGS for c in value):
            raise Invalid(f"{path or '/'}: a string holds a control character")
    elif isinstance(value, dict):
        for key, member in value.items():
            _legal_strings(member, f"{path}/{key}")
    elif isinstance(value, list):
        for index, member in enumerate(value):
            _legal_strings(member, f"{path}[{index}]")


def _json(data: bytes) -> Any:
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid(f"not JSON: {exc}") from exc
    _legal_strings(document)
    return document


def _xml(data: bytes) -> ET.Element:
    """The document's root element.  yangson reads an identityref's prefix from an
    ``xmlns:prefix`` attribute of the element itself, which ElementTree does not keep: every
    element gets the namespace declarations in scope as such attributes."""
    scopes: list[dict[str, str]] = [{}]
    pending: dict[str, str] = {}
    root: ET.Element | None = None
    try:
        for event, item in ET.iterparse(io.BytesIO(data), events=("start-ns", "start", "end")):
            if event == "start-ns":
                prefix, uri = item
                pending[prefix] = uri
            elif event == "start":
                scope = {**scopes[-1], **pending}
                pending = {}
                scopes.append(scope)
                for prefix, uri in scope.items():
                    if prefix:
                        item.set(f"xmlns:{prefix}", uri)
                if root is None:
                    root = item
            else:
                scopes.pop()
    except ET.ParseError as exc:
        raise Invalid(f"not XML: {exc}") from exc
    if root is None:
        raise Invalid("not XML: no root element")
    return root


def _reason(exc: YangsonException) -> str:
    try:
        return str(exc)
    except TypeError:  # a few of yangson's exceptions cannot print themselves
        return f"{type(exc).__name__}{exc.args!r}"


def _validate(instance: RootNode) -> dict[str, Any]:
    instance.validate(ValidationScope.all, ContentType.all)
    value: dict[str, Any] = instance.raw_value()
    return value


def _check_rpc(operation: str, part: str, data: bytes, encoding: str) -> dict[str, Any]:
    model = data_model()
    try:
        if encoding == "xml":
            root = _xml(data)
            expected = f"{{urn:ietf:params:xml:ns:yang:{BOOTSTRAP_SERVER}}}{part}"
            if root.tag != expected:
                raise Invalid(f"the root element is {root.tag}, not {expected}")
            return _validate(model.from_xml(root, subschema=operation))
        document = _json(data)
        if not isinstance(document, dict) or list(document) != [f"{BOOTSTRAP_SERVER}:{part}"]:
            raise Invalid(f"the document must hold exactly {BOOTSTRAP_SERVER}:{part}")
        return _validate(model.from_raw(document, subschema=operation))
    except YangsonException as exc:
        raise Invalid(f"{operation} {part}: {_reason(exc)}") from exc


def check_get_bootstrapping_data_input(data: bytes, encoding: str = "json") -> dict[str, Any]:
    """Validate a get-bootstrapping-data request body; return it as RFC 7951 raw data."""
    return _check_rpc(GET_BOOTSTRAPPING_DATA, "input", data, encoding)


def check_get_bootstrapping_data_output(data: bytes, encoding: str = "json") -> dict[str, Any]:
    """Validate a get-bootstrapping-data reply body."""
    return _check_rpc(GET_BOOTSTRAPPING_DATA, "output", data, encoding)


def check_report_progress_input(data: bytes, encoding: str = "json") -> dict[str, Any]:
    """Validate a report-progress request body."""
    return _check_rpc(REPORT_PROGRESS, "input", data, encoding)


def _check_yang_data(
    module: tuple[str, str], name: str, data: bytes, encoding: str
) -> dict[str, Any]:
    schema = _yang_data_schema(module, name)
    model = data_model()
    try:
        if encoding == "xml":
            wrapper = ET.Element("document")  # the template's top-level nodes as children
            wrapper.append(_xml(data))
            cooked = schema.from_xml(wrapper)
        else:
            document = _json(data)
            if not isinstance(document, dict) or len(document) != 1:
                raise Invalid("the document must hold exactly one top-level member")
            cooked = schema.from_raw(document)
        return _validate(RootNode(cooked, schema, model.schema_data, cooked.timestamp))
    except YangsonException as exc:
        raise Invalid(f"{module[0]} {name}: {_reason(exc)}") from exc


def check_conveyed_information(data: bytes, encoding: str = "json") -> dict[str, Any]:
    """Validate conveyed information (redirect- or onboarding-information), JSON or XML."""
    return _check_yang_data(CONVEYED_INFO, "conveyed-information", data, encoding)


def check_voucher(data: bytes) -> dict[str, Any]:
    """Validate an RFC 8366 voucher (JSON)."""
    return _check_yang_data(VOUCHER, "voucher-artifact", data, "json")
