"""The XML encoding of the ``ietf-sztp-bootstrap-server`` RPCs (RFC 7950 §7.14.2: an ``input``
element in the module's namespace): the request bodies of get-bootstrapping-data and
report-progress, and the get-bootstrapping-data ``output`` read into the shape the JSON parser
walks.  Imported only when a server speaks XML (``network.encoding``), so that the JSON path
loads no XML parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sztp_client.encoding.xml import load_xml, xml_to_json_tree
from sztp_client.encoding.xml_schema import XMLKind, XMLSchemaNode, split_tag
from sztp_client.encoding.yang_types import encode_base64
from sztp_client.errors import ModelError
from sztp_client.model.rpc import MODULE, NAMESPACE

if TYPE_CHECKING:
    from sztp_client.model.rpc import GetBootstrappingDataInput, ReportProgressInput

__all__ = ["get_bootstrapping_data_input_xml", "output_tree", "report_progress_input_xml"]


def _escape(value: str) -> str:
    """Character data as XML text: ``&``, ``<`` and ``>`` escaped, and CR as ``&#13;`` so that
    the parser's end-of-line handling keeps it."""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _xml_leaf(name: str, value: str) -> str:
    return f"<{name}>{_escape(value)}</{name}>"


def _xml_document(leaves: list[str]) -> bytes:
    """``<input xmlns="...">`` around already escaped child elements."""
    return (f'<input xmlns="{NAMESPACE}">' + "".join(leaves) + "</input>").encode("utf-8")


def get_bootstrapping_data_input_xml(request: GetBootstrappingDataInput) -> bytes:
    """The get-bootstrapping-data request body, leaves in the module's order."""
    leaves: list[str] = []
    if request.signed_data_preferred:
        leaves.append("<signed-data-preferred/>")
    for name, value in (
        ("hw-model", request.hw_model),
        ("os-name", request.os_name),
        ("os-version", request.os_version),
    ):
        if value is not None:
            leaves.append(_xml_leaf(name, value))
    if request.nonce is not None:
        leaves.append(_xml_leaf("nonce", encode_base64(request.nonce)))
    if request.csr_support or request.p10_csr is not None:
        from sztp_client.model.csr import CSR_NAMESPACE, csr_support_xml  # noqa: PLC0415 - RFC 9646

        if request.csr_support:
            leaves.append(csr_support_xml())
        if request.p10_csr is not None:
            leaves.append(
                f'<p10-csr xmlns="{CSR_NAMESPACE}">{encode_base64(request.p10_csr)}</p10-csr>'
            )
    return _xml_document(leaves)


def report_progress_input_xml(report: ReportProgressInput) -> bytes:
    """The report-progress request body, nodes in the module's order."""
    leaves = [_xml_leaf("progress-type", report.progress_type.value)]
    if report.message is not None:
        leaves.append(_xml_leaf("message", report.message))
    if report.ssh_host_keys:
        keys = "".join(
            "<ssh-host-key>"
            + _xml_leaf("algorithm", key.algorithm)
            + _xml_leaf("key-data", encode_base64(key.key_data))
            + "</ssh-host-key>"
            for key in report.ssh_host_keys
        )
        leaves.append(f"<ssh-host-keys>{keys}</ssh-host-keys>")
    if report.trust_anchor_certs:
        certs = "".join(
            _xml_leaf("trust-anchor-cert", encode_base64(cert))
            for cert in report.trust_anchor_certs
        )
        leaves.append(f"<trust-anchor-certs>{certs}</trust-anchor-certs>")
    return _xml_document(leaves)


_LEAF: Final = XMLSchemaNode(XMLKind.LEAF)
_OUTPUT_SCHEMA: Final = {
    "reporting-level": _LEAF,
    "conveyed-information": _LEAF,
    "owner-certificate": _LEAF,
    "ownership-voucher": _LEAF,
}


def output_tree(data: bytes) -> dict[str, object]:
    """A get-bootstrapping-data ``<output>`` reply as the value the JSON walker reads."""
    root = load_xml(data, "get-bootstrapping-data output")
    namespace, local = split_tag(root.tag)
    if namespace != NAMESPACE or local != "output":
        raise ModelError("output", f"the root element must be output in namespace {NAMESPACE}")
    return xml_to_json_tree(
        root, schema=_OUTPUT_SCHEMA, namespace=NAMESPACE, module=MODULE, path="output"
    )
