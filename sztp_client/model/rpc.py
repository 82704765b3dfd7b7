"""RPC data of ``ietf-sztp-bootstrap-server`` (RFC 8572 §7): get-bootstrapping-data and
report-progress.

The client builds the inputs in JSON (RFC 7951) or XML (RFC 7950 §7.14.2: an ``input`` element
in the module's namespace) with :meth:`GetBootstrappingDataInput.to_json` / ``to_xml`` and
:meth:`ReportProgressInput.to_json` / ``to_xml``, and parses the get-bootstrapping-data output
in JSON or XML; the input parsers serve tests.  Binary leaves are decoded octets here; the CMS
inside them is the trust layer's business.  The XML encoding is in
:mod:`sztp_client.model.rpc_xml`, loaded only when XML is sent or received.

Errors name the leaf in ``ModelError.field`` (``conveyed-information``, ``nonce``,
``ssh-host-keys/ssh-host-key/key-data`` ...); the top-level member is ``input`` or ``output``.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from typing import Final

import msgspec

from sztp_client.encoding.json import YangJSONObject, json_type_name, load_json
from sztp_client.encoding.yang_types import decode_base64, encode_base64
from sztp_client.errors import EncodingError, ModelError
from sztp_client.progress import ProgressType

__all__ = [
    "JSON_MEDIA_TYPE",
    "MODULE",
    "NAMESPACE",
    "XML_MEDIA_TYPE",
    "GetBootstrappingDataInput",
    "GetBootstrappingDataOutput",
    "ReportProgressInput",
    "ReportingLevel",
    "SSHHostKey",
    "parse_get_bootstrapping_data_input",
    "parse_get_bootstrapping_data_output",
    "parse_report_progress_input",
    "yang_string",
]

MODULE: Final = "ietf-sztp-bootstrap-server"
NAMESPACE: Final = "urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"
JSON_MEDIA_TYPE: Final = "application/yang-data+json"
XML_MEDIA_TYPE: Final = "application/yang-data+xml"
NONCE_MIN_OCTETS: Final = 16
NONCE_MAX_OCTETS: Final = 32

_INPUT: Final = f"{MODULE}:input"
_OUTPUT: Final = f"{MODULE}:output"


def _dump(document: dict[str, object]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# RFC 7950 §9.4: a string holds Unicode characters, tab, CR and LF, but no other C0 control
# characters, no surrogates and no noncharacters (XML 1.0 refuses the same ones).
@functools.cache
def _not_in_string() -> re.Pattern[str]:
    """Compiled on first use: the class spans seventeen planes (about 1 ms to compile)."""
    return re.compile(
        r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
        + "".join(rf"\U{plane:04X}FFFE\U{plane:04X}FFFF" for plane in range(1, 17))
        + "]"
    )


def yang_string(text: str) -> str:
    """``text`` as a valid YANG string: each character a string may not hold becomes U+FFFD
    (a script's output tail in a progress message may hold terminal escapes)."""
    return _not_in_string().sub("\ufffd", text)


def _top_member(data: bytes, what: str, member: str, label: str) -> object:
    document = load_json(data, what)
    if not isinstance(document, dict):
        raise ModelError(label, f"must be a JSON object, not {json_type_name(document)}")
    if list(document) != [member]:
        raise ModelError(label, f"must be a JSON object with exactly one member, {member!r}")
    return document[member]


class ReportingLevel(enum.StrEnum):
    """``reporting-level``: how much progress the bootstrap server wants to hear."""

    MINIMAL = "minimal"
    VERBOSE = "verbose"


# ---------------------------------------------------------------------------------------------
# get-bootstrapping-data


class GetBootstrappingDataInput(msgspec.Struct, frozen=True):
    """The get-bootstrapping-data input.  ``nonce`` has 16..32 octets when given."""

    signed_data_preferred: bool = False
    hw_model: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    nonce: bytes | None = None
    #: RFC 9646: offer to answer a csr-request (trusted servers only), or carry the
    #: PKCS#10 request (DER) that answers one; the two are mutually exclusive.
    csr_support: bool = False
    p10_csr: bytes | None = None

    def __post_init__(self) -> None:
        if self.csr_support and self.p10_csr is not None:
            raise ModelError("input", "csr-support and p10-csr are mutually exclusive")
        for name in ("hw_model", "os_name", "os_version"):
            value = getattr(self, name)
            if value is not None:
                msgspec.structs.force_setattr(self, name, yang_string(value))
        if self.nonce is not None and not (NONCE_MIN_OCTETS <= len(self.nonce) <= NONCE_MAX_OCTETS):
            raise ModelError(
                "nonce",
                f"{len(self.nonce)} octets; the nonce has {NONCE_MIN_OCTETS}..{NONCE_MAX_OCTETS}",
            )

    def to_json(self) -> bytes:
        """The request body (``application/yang-data+json``)."""
        body: dict[str, object] = {}
        if self.signed_data_preferred:
            body["signed-data-preferred"] = [None]
        for name, value in (
            ("hw-model", self.hw_model),
            ("os-name", self.os_name),
            ("os-version", self.os_version),
        ):
            if value is not None:
                body[name] = value
        if self.nonce is not None:
            body["nonce"] = encode_base64(self.nonce)
        if self.csr_support or self.p10_csr is not None:
            from sztp_client.model.csr import CSR_MODULE, csr_support_json  # noqa: PLC0415

            if self.csr_support:
                body[f"{CSR_MODULE}:csr-support"] = csr_support_json()
            if self.p10_csr is not None:
                body[f"{CSR_MODULE}:p10-csr"] = encode_base64(self.p10_csr)
        return _dump({_INPUT: body})

    def to_xml(self) -> bytes:
        """The request body (``application/yang-data+xml``), leaves in the module's order."""
        from sztp_client.model.rpc_xml import get_bootstrapping_data_input_xml  # noqa: PLC0415

        return get_bootstrapping_data_input_xml(self)


def parse_get_bootstrapping_data_input(data: bytes) -> GetBootstrappingDataInput:
    """Parse a get-bootstrapping-data request body (JSON).

    Members qualified with another module (augmentations such as RFC 9646's
    ``ietf-sztp-csr:csr-support``) are ignored; other unknown members raise
    :class:`ModelError`.
    """
    body = YangJSONObject(
        _top_member(data, "get-bootstrapping-data input", _INPUT, "input"),
        "input",
        MODULE,
        prefix="",
    )
    result = GetBootstrappingDataInput(
        signed_data_preferred=body.empty("signed-data-preferred"),
        hw_model=body.string("hw-model"),
        os_name=body.string("os-name"),
        os_version=body.string("os-version"),
        nonce=body.binary("nonce"),
    )
    body.finish(ignore_other_modules=True)
    return result


class GetBootstrappingDataOutput(msgspec.Struct, frozen=True):
    """The get-bootstrapping-data output; the three artifacts are undecoded CMS DER octets.

    ``owner_certificate`` and ``ownership_voucher`` are given together or not at all.
    """

    conveyed_information: bytes
    owner_certificate: bytes | None = None
    ownership_voucher: bytes | None = None
    reporting_level: ReportingLevel = ReportingLevel.MINIMAL

    def __post_init__(self) -> None:
        try:
            msgspec.structs.force_setattr(
                self, "reporting_level", ReportingLevel(self.reporting_level)
            )
        except ValueError:
            raise ModelError(
                "reporting-level", f"{self.reporting_level!r:.80} is neither minimal nor verbose"
            ) from None
        if self.owner_certificate is not None and self.ownership_voucher is None:
            raise ModelError(
                "owner-certificate", "owner-certificate is only allowed with ownership-voucher"
            )
        if self.ownership_voucher is not None and self.owner_certificate is None:
            raise ModelError(
                "ownership-voucher", "ownership-voucher is only allowed with owner-certificate"
            )


def _output_from(value: object, path: str) -> GetBootstrappingDataOutput:
    body = YangJSONObject(value, path, MODULE, prefix="")
    level_text = body.string("reporting-level")
    level = ReportingLevel.MINIMAL
    if level_text is not None:
        try:
            level = ReportingLevel(level_text)
        except ValueError:
            raise ModelError("reporting-level", "must be 'minimal' or 'verbose'") from None
    result = GetBootstrappingDataOutput(
        conveyed_information=body.required_binary("conveyed-information"),
        owner_certificate=body.binary("owner-certificate"),
        ownership_voucher=body.binary("ownership-voucher"),
        reporting_level=level,
    )
    body.finish()
    return result


def parse_get_bootstrapping_data_output(
    data: bytes, media_type: str = JSON_MEDIA_TYPE
) -> GetBootstrappingDataOutput:
    """Parse a get-bootstrapping-data reply body of the given ``Content-Type``.

    ``application/yang-data+json`` (``{"ietf-sztp-bootstrap-server:output": {...}}``) and
    ``application/yang-data+xml`` (``<output xmlns="urn:...:ietf-sztp-bootstrap-server">``)
    are understood, with or without parameters; any other media type raises
    :class:`EncodingError`.
    """
    essence = media_type.partition(";")[0].strip().lower()
    if essence == JSON_MEDIA_TYPE:
        return _output_from(
            _top_member(data, "get-bootstrapping-data output", _OUTPUT, "output"), "output"
        )
    if essence == XML_MEDIA_TYPE:
        from sztp_client.model.rpc_xml import output_tree  # noqa: PLC0415 - XML servers only

        return _output_from(output_tree(data), "output")
    raise EncodingError(
        f"get-bootstrapping-data reply has media type {media_type!r:.80}; expected "
        f"{JSON_MEDIA_TYPE} or {XML_MEDIA_TYPE}"
    )


# ---------------------------------------------------------------------------------------------
# report-progress


class SSHHostKey(msgspec.Struct, frozen=True):
    """One ``ssh-host-key``: an IANA public key algorithm name and the RFC 4253 key blob."""

    algorithm: str
    key_data: bytes


class ReportProgressInput(msgspec.Struct, frozen=True):
    """The report-progress input (R-082).

    ``ssh_host_keys`` and ``trust_anchor_certs`` (CMS DER octets) are only allowed with
    ``bootstrap-complete`` (the module's ``when``).
    """

    progress_type: ProgressType
    message: str | None = None
    ssh_host_keys: tuple[SSHHostKey, ...] = ()
    trust_anchor_certs: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        try:
            msgspec.structs.force_setattr(self, "progress_type", ProgressType(self.progress_type))
        except ValueError:
            raise ModelError(
                "progress-type", f"{self.progress_type!r:.80} is not a progress type"
            ) from None
        if self.message is not None:
            msgspec.structs.force_setattr(self, "message", yang_string(self.message))
        msgspec.structs.force_setattr(self, "ssh_host_keys", tuple(self.ssh_host_keys))
        msgspec.structs.force_setattr(self, "trust_anchor_certs", tuple(self.trust_anchor_certs))
        complete = self.progress_type is ProgressType.BOOTSTRAP_COMPLETE
        if self.ssh_host_keys and not complete:
            raise ModelError("ssh-host-keys", "only allowed with progress-type bootstrap-complete")
        if self.trust_anchor_certs and not complete:
            raise ModelError(
                "trust-anchor-certs", "only allowed with progress-type bootstrap-complete"
            )

    def to_json(self) -> bytes:
        """The request body (``application/yang-data+json``)."""
        body: dict[str, object] = {"progress-type": self.progress_type.value}
        if self.message is not None:
            body["message"] = self.message
        if self.ssh_host_keys:
            body["ssh-host-keys"] = {
                "ssh-host-key": [
                    {"algorithm": key.algorithm, "key-data": encode_base64(key.key_data)}
                    for key in self.ssh_host_keys
                ]
            }
        if self.trust_anchor_certs:
            body["trust-anchor-certs"] = {
                "trust-anchor-cert": [encode_base64(cert) for cert in self.trust_anchor_certs]
            }
        return _dump({_INPUT: body})

    def to_xml(self) -> bytes:
        """The request body (``application/yang-data+xml``), nodes in the module's order."""
        from sztp_client.model.rpc_xml import report_progress_input_xml  # noqa: PLC0415

        return report_progress_input_xml(self)


def _ssh_host_keys(container: YangJSONObject | None) -> tuple[SSHHostKey, ...]:
    if container is None:
        return ()
    keys: list[SSHHostKey] = []
    for value in container.array("ssh-host-key"):
        entry = YangJSONObject(value, container.path_of("ssh-host-key"), MODULE)
        keys.append(
            SSHHostKey(entry.required_string("algorithm"), entry.required_binary("key-data"))
        )
        entry.finish()
    container.finish()
    return tuple(keys)


def _trust_anchor_certs(container: YangJSONObject | None) -> tuple[bytes, ...]:
    if container is None:
        return ()
    path = container.path_of("trust-anchor-cert")
    certs: list[bytes] = []
    for value in container.array("trust-anchor-cert"):
        if not isinstance(value, str):
            raise ModelError(path, f"entries must be JSON strings, not {json_type_name(value)}")
        certs.append(decode_base64(value, path))
    container.finish()
    return tuple(certs)


def parse_report_progress_input(data: bytes) -> ReportProgressInput:
    """Parse a report-progress request body (JSON).

    An unknown ``progress-type`` raises :class:`ModelError`; members qualified with another
    module are ignored, other unknown members refused.
    """
    body = YangJSONObject(
        _top_member(data, "report-progress input", _INPUT, "input"), "input", MODULE, prefix=""
    )
    type_text = body.required_string("progress-type")
    try:
        progress_type = ProgressType(type_text)
    except ValueError:
        raise ModelError("progress-type", f"{type_text!r:.80} is not a progress type") from None
    message = body.string("message")
    ssh_host_keys = _ssh_host_keys(body.container("ssh-host-keys"))
    trust_anchor_certs = _trust_anchor_certs(body.container("trust-anchor-certs"))
    body.finish(ignore_other_modules=True)
    return ReportProgressInput(progress_type, message, ssh_host_keys, trust_anchor_certs)
