"""RPC data of ietf-sztp-bootstrap-server (RFC 8572 §7): R-082, R-084, R-086, R-087, R-089."""

from __future__ import annotations

import json

import pytest

from sztp_client.encoding.yang_types import encode_base64
from sztp_client.errors import EncodingError, ModelError
from sztp_client.model.rpc import (
    GetBootstrappingDataInput,
    GetBootstrappingDataOutput,
    ReportingLevel,
    ReportProgressInput,
    SSHHostKey,
    parse_get_bootstrapping_data_input,
    parse_get_bootstrapping_data_output,
    parse_report_progress_input,
)
from sztp_client.progress import ProgressType

NS = "urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"
INPUT = "ietf-sztp-bootstrap-server:input"
OUTPUT = "ietf-sztp-bootstrap-server:output"
CI = b"\x30\x03\x02\x01\x01"
OC = b"\x30\x03\x02\x01\x02"
OV = b"\x30\x03\x02\x01\x03"
XML_TYPE = "application/yang-data+xml"


def _output(**members: object) -> bytes:
    body = {k.replace("_", "-"): v for k, v in members.items()}
    return json.dumps({OUTPUT: body}).encode()


def _output_field(data: bytes, media_type: str = "application/yang-data+json") -> str:
    with pytest.raises(ModelError) as info:
        parse_get_bootstrapping_data_output(data, media_type)
    return info.value.field


# ---------------------------------------------------------------------------------------------
# get-bootstrapping-data output


def test_r089_full_output() -> None:
    """R-089: reporting-level, conveyed-information, owner-certificate and ownership-voucher."""
    data = _output(
        reporting_level="verbose",
        conveyed_information=encode_base64(CI),
        owner_certificate=encode_base64(OC),
        ownership_voucher=encode_base64(OV),
    )
    assert parse_get_bootstrapping_data_output(data) == GetBootstrappingDataOutput(
        CI, OC, OV, ReportingLevel.VERBOSE
    )


def test_r089_minimal_output_defaults_to_minimal_reporting() -> None:
    """R-089: only conveyed-information; reporting-level defaults to minimal."""
    output = parse_get_bootstrapping_data_output(_output(conveyed_information=encode_base64(CI)))
    assert output == GetBootstrappingDataOutput(CI)
    assert output.reporting_level is ReportingLevel.MINIMAL


@pytest.mark.parametrize(
    "media_type",
    [
        "application/yang-data+json",
        "application/yang-data+json; charset=utf-8",
        "Application/YANG-Data+JSON ;charset=UTF-8",
    ],
)
def test_r089_json_media_type_with_parameters(media_type: str) -> None:
    """R-089: the media type may carry parameters and any case."""
    data = _output(conveyed_information=encode_base64(CI))
    assert parse_get_bootstrapping_data_output(data, media_type).conveyed_information == CI


@pytest.mark.parametrize(
    "media_type", ["application/json", "text/plain", "", "application/yang-data+cbor"]
)
def test_r089_unknown_media_type_refused(media_type: str) -> None:
    """R-089: a media type other than yang-data+json/xml is an EncodingError."""
    with pytest.raises(EncodingError, match="media type"):
        parse_get_bootstrapping_data_output(_output(conveyed_information="QQ=="), media_type)


@pytest.mark.parametrize(
    ("members", "field"),
    [
        ({}, "conveyed-information"),
        ({"reporting_level": "verbose"}, "conveyed-information"),
        ({"conveyed_information": "QQ==", "owner_certificate": "QQ=="}, "owner-certificate"),
        ({"conveyed_information": "QQ==", "ownership_voucher": "QQ=="}, "ownership-voucher"),
        ({"conveyed_information": "QQ==", "reporting_level": "loud"}, "reporting-level"),
        ({"conveyed_information": "QQ==", "reporting_level": 1}, "reporting-level"),
        ({"conveyed_information": "Q"}, "conveyed-information"),
        ({"conveyed_information": 5}, "conveyed-information"),
        ({"conveyed_information": "QQ==", "owner_certificate": "%", "ownership_voucher": "QQ=="},
         "owner-certificate"),
        ({"conveyed_information": "QQ==", "conveyed_informaton": "QQ=="}, "conveyed-informaton"),
        ({"conveyed_information": "QQ==", "ietf-sztp-csr:x": 1}, "ietf-sztp-csr:x"),
    ],
)  # fmt: skip
def test_r089_output_constraints(members: dict[str, object], field: str) -> None:
    """R-089: conveyed-information mandatory, OC and OV together, enum, base64, no unknowns."""
    assert _output_field(_output(**members)) == field


@pytest.mark.parametrize(
    "document",
    [{}, {"output": {"conveyed-information": "QQ=="}}, {OUTPUT: {}, "x": 1}, {OUTPUT: []}, []],
)
def test_r089_output_top_level_shape(document: object) -> None:
    """R-089: exactly the member ietf-sztp-bootstrap-server:output holding an object."""
    assert _output_field(json.dumps(document).encode()) == "output"


def test_d15_output_duplicate_keys_refused() -> None:
    """D15: duplicate members in the reply (a second conveyed-information) → EncodingError."""
    data = (
        b'{"ietf-sztp-bootstrap-server:output": {"conveyed-information": "QQ==",'
        b' "conveyed-information": "Qg=="}}'
    )
    with pytest.raises(EncodingError, match="more than once"):
        parse_get_bootstrapping_data_output(data)


def test_r089_xml_output() -> None:
    """R-089: the XML reply parses like the JSON one; base64 may be wrapped."""
    data = (
        f'<output xmlns="{NS}"><reporting-level>verbose</reporting-level>'
        f"<conveyed-information>\n  {encode_base64(CI)}\n</conveyed-information>"
        f"<owner-certificate>{encode_base64(OC)}</owner-certificate>"
        f"<ownership-voucher>{encode_base64(OV)}</ownership-voucher></output>"
    ).encode()
    assert parse_get_bootstrapping_data_output(data, XML_TYPE) == GetBootstrappingDataOutput(
        CI, OC, OV, ReportingLevel.VERBOSE
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("", "conveyed-information"),
        ("<conveyed-information>QQ==</conveyed-information><extra/>", "output/extra"),
        ("<conveyed-information>QQ==</conveyed-information>"
         "<conveyed-information>QQ==</conveyed-information>", "output/conveyed-information"),
        ("<conveyed-information>QQ==</conveyed-information>"
         "<owner-certificate>QQ==</owner-certificate>", "owner-certificate"),
    ],
)  # fmt: skip
def test_r089_xml_output_constraints(body: str, field: str) -> None:
    """R-089: XML unknown or repeated elements and the YANG constraints → ModelError."""
    data = f'<output xmlns="{NS}">{body}</output>'.encode()
    assert _output_field(data, XML_TYPE) == field


@pytest.mark.parametrize(
    "data",
    [
        b'<output xmlns="urn:other"><conveyed-information>QQ==</conveyed-information></output>',
        f'<input xmlns="{NS}"/>'.encode(),
        b"<output><conveyed-information>QQ==</conveyed-information></output>",
    ],
)
def test_r089_xml_output_root(data: bytes) -> None:
    """R-089: the XML root must be output in the module namespace."""
    assert _output_field(data, XML_TYPE) == "output"


def test_d15_xml_output_with_entity_refused() -> None:
    """D15: an XML reply with a DTD or an entity is an EncodingError."""
    data = (
        b'<!DOCTYPE output [<!ENTITY c "QQ==">]><output xmlns="' + NS.encode() + b'">'
        b"<conveyed-information>&c;</conveyed-information></output>"
    )
    with pytest.raises(EncodingError):
        parse_get_bootstrapping_data_output(data, XML_TYPE)


def test_r089_constructor_checks() -> None:
    """R-089: the dataclass enforces the both-or-neither rule and the enumeration."""
    with pytest.raises(ModelError) as info:
        GetBootstrappingDataOutput(CI, owner_certificate=OC)
    assert info.value.field == "owner-certificate"
    with pytest.raises(ModelError) as info:
        GetBootstrappingDataOutput(CI, reporting_level="loud")  # type: ignore[arg-type]
    assert info.value.field == "reporting-level"
    level = GetBootstrappingDataOutput(CI, reporting_level="verbose")  # type: ignore[arg-type]
    assert level.reporting_level is ReportingLevel.VERBOSE


# ---------------------------------------------------------------------------------------------
# get-bootstrapping-data input


def test_r086_signed_data_preferred_as_empty_leaf() -> None:
    """R-086: an untrusted-server request carries "signed-data-preferred": [null] only."""
    body = GetBootstrappingDataInput(signed_data_preferred=True).to_json()
    assert json.loads(body) == {INPUT: {"signed-data-preferred": [None]}}
    assert parse_get_bootstrapping_data_input(body) == GetBootstrappingDataInput(True)


def test_r087_trusted_request_fields() -> None:
    """R-087: hw-model, os-name, os-version and a base64 nonce round-trip."""
    request = GetBootstrappingDataInput(
        hw_model="model-x", os_name="vendor-os", os_version="17.3R2.1", nonce=bytes(range(16))
    )
    body = request.to_json()
    assert json.loads(body) == {
        INPUT: {
            "hw-model": "model-x",
            "os-name": "vendor-os",
            "os-version": "17.3R2.1",
            "nonce": encode_base64(bytes(range(16))),
        }
    }
    assert parse_get_bootstrapping_data_input(body) == request


def test_r084_empty_input() -> None:
    """R-084: the input container may be empty."""
    body = GetBootstrappingDataInput().to_json()
    assert json.loads(body) == {INPUT: {}}
    assert parse_get_bootstrapping_data_input(body) == GetBootstrappingDataInput()


@pytest.mark.parametrize("size", [0, 8, 15, 33])
def test_r087_nonce_length_checked(size: int) -> None:
    """R-087: the nonce has 16..32 octets; the constructor and the parser both refuse others."""
    with pytest.raises(ModelError) as info:
        GetBootstrappingDataInput(nonce=b"n" * size)
    assert info.value.field == "nonce"
    data = json.dumps({INPUT: {"nonce": encode_base64(b"n" * size)}}).encode()
    with pytest.raises(ModelError) as info:
        parse_get_bootstrapping_data_input(data)
    assert info.value.field == "nonce"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"signed-data-preferred": True}, "signed-data-preferred"),
        ({"signed-data-preferred": None}, "signed-data-preferred"),
        ({"signed-data-preferred": []}, "signed-data-preferred"),
        ({"signed-data-preferred": [None, None]}, "signed-data-preferred"),
        ({"hw-model": 5}, "hw-model"),
        ({"os-name": ["x"]}, "os-name"),
        ({"os-version": None}, "os-version"),
        ({"nonce": "***"}, "nonce"),
        ({"hw_model": "x"}, "hw_model"),
    ],
)
def test_r084_input_type_errors(body: dict[str, object], field: str) -> None:
    """R-084: wrong JSON types, a malformed empty leaf or an unknown member → ModelError."""
    with pytest.raises(ModelError) as info:
        parse_get_bootstrapping_data_input(json.dumps({INPUT: body}).encode())
    assert info.value.field == field


def test_r124_input_augmentations_from_other_modules_ignored() -> None:
    """R-124: RFC 9646's ietf-sztp-csr:csr-support augmentation does not break parsing."""
    data = json.dumps(
        {
            INPUT: {
                "hw-model": "model-x",
                "ietf-sztp-csr:csr-support": {"csr-generation": {"key-generation": {}}},
            }
        }
    ).encode()
    assert parse_get_bootstrapping_data_input(data) == GetBootstrappingDataInput(hw_model="model-x")


@pytest.mark.parametrize("document", [{}, {"input": {}}, {INPUT: {}, "x": 1}, {INPUT: "x"}])
def test_r084_input_top_level_shape(document: object) -> None:
    """R-084: exactly the member ietf-sztp-bootstrap-server:input holding an object."""
    with pytest.raises(ModelError) as info:
        parse_get_bootstrapping_data_input(json.dumps(document).encode())
    assert info.value.field == "input"


# ---------------------------------------------------------------------------------------------
# report-progress input


@pytest.mark.parametrize("progress_type", list(ProgressType))
def test_r082_every_progress_type_round_trips(progress_type: ProgressType) -> None:
    """R-082: each of the 27 progress types is written and read back."""
    report = ReportProgressInput(progress_type, message="step done")
    body = report.to_json()
    assert json.loads(body) == {
        INPUT: {"progress-type": progress_type.value, "message": "step done"}
    }
    assert parse_report_progress_input(body) == report


def test_r082_bootstrap_complete_with_keys_and_trust_anchors() -> None:
    """R-082: bootstrap-complete may carry ssh-host-keys and trust-anchor-certs."""
    report = ReportProgressInput(
        ProgressType.BOOTSTRAP_COMPLETE,
        ssh_host_keys=(SSHHostKey("ssh-ed25519", b"\x00\x00\x00\x0bssh-ed25519"),),
        trust_anchor_certs=(CI, OC),
    )
    body = report.to_json()
    assert json.loads(body) == {
        INPUT: {
            "progress-type": "bootstrap-complete",
            "ssh-host-keys": {
                "ssh-host-key": [
                    {
                        "algorithm": "ssh-ed25519",
                        "key-data": encode_base64(b"\x00\x00\x00\x0bssh-ed25519"),
                    }
                ]
            },
            "trust-anchor-certs": {"trust-anchor-cert": [encode_base64(CI), encode_base64(OC)]},
        }
    }
    assert parse_report_progress_input(body) == report


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ssh_host_keys": (SSHHostKey("ssh-rsa", b"k"),)}, "ssh-host-keys"),
        ({"trust_anchor_certs": (CI,)}, "trust-anchor-certs"),
    ],
)
def test_r082_keys_only_with_bootstrap_complete(change: dict[str, object], field: str) -> None:
    """R-082: the YANG when: keys and trust anchors only with bootstrap-complete."""
    with pytest.raises(ModelError) as info:
        ReportProgressInput(ProgressType.CONFIG_COMPLETE, **change)  # type: ignore[arg-type]
    assert info.value.field == field
    body = {"progress-type": "config-complete"}
    if field == "ssh-host-keys":
        body[field] = {"ssh-host-key": [{"algorithm": "ssh-rsa", "key-data": "aw=="}]}  # type: ignore[assignment]
    else:
        body[field] = {"trust-anchor-cert": ["QQ=="]}  # type: ignore[assignment]
    with pytest.raises(ModelError) as info:
        parse_report_progress_input(json.dumps({INPUT: body}).encode())
    assert info.value.field == field


def test_r082_empty_containers_are_absent() -> None:
    """R-082: empty ssh-host-keys / trust-anchor-certs containers are the same as absent."""
    data = json.dumps(
        {INPUT: {"progress-type": "informational", "ssh-host-keys": {}, "trust-anchor-certs": {}}}
    ).encode()
    assert parse_report_progress_input(data) == ReportProgressInput(ProgressType.INFORMATIONAL)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "progress-type"),
        ({"progress-type": "bootstrap-finished"}, "progress-type"),
        ({"progress-type": "BOOTSTRAP-COMPLETE"}, "progress-type"),
        ({"progress-type": 26}, "progress-type"),
        ({"progress-type": "informational", "message": 1}, "message"),
        ({"progress-type": "informational", "messages": "x"}, "messages"),
        ({"progress-type": "bootstrap-complete", "ssh-host-keys": []}, "ssh-host-keys"),
        ({"progress-type": "bootstrap-complete", "ssh-host-keys": {"ssh-host-key": {}}},
         "ssh-host-keys/ssh-host-key"),
        ({"progress-type": "bootstrap-complete",
          "ssh-host-keys": {"ssh-host-key": [{"key-data": "QQ=="}]}},
         "ssh-host-keys/ssh-host-key/algorithm"),
        ({"progress-type": "bootstrap-complete",
          "ssh-host-keys": {"ssh-host-key": [{"algorithm": "ssh-rsa"}]}},
         "ssh-host-keys/ssh-host-key/key-data"),
        ({"progress-type": "bootstrap-complete",
          "ssh-host-keys": {"ssh-host-key": [{"algorithm": "ssh-rsa", "key-data": "!"}]}},
         "ssh-host-keys/ssh-host-key/key-data"),
        ({"progress-type": "bootstrap-complete",
          "ssh-host-keys": {"ssh-host-key": [{"algorithm": "a", "key-data": "QQ==", "x": 1}]}},
         "ssh-host-keys/ssh-host-key/x"),
        ({"progress-type": "bootstrap-complete", "ssh-host-keys": {"key": []}},
         "ssh-host-keys/key"),
        ({"progress-type": "bootstrap-complete", "trust-anchor-certs": {"trust-anchor-cert": [1]}},
         "trust-anchor-certs/trust-anchor-cert"),
        ({"progress-type": "bootstrap-complete",
          "trust-anchor-certs": {"trust-anchor-cert": ["@"]}},
         "trust-anchor-certs/trust-anchor-cert"),
    ],
)  # fmt: skip
def test_r082_report_progress_errors(body: dict[str, object], field: str) -> None:
    """R-082: unknown progress-type, wrong types, missing leaves, unknown members → ModelError."""
    with pytest.raises(ModelError) as info:
        parse_report_progress_input(json.dumps({INPUT: body}).encode())
    assert info.value.field == field


def test_r082_constructor_coerces_and_checks_progress_type() -> None:
    """R-082: a progress type given as text is coerced; an unknown one is a ModelError."""
    report = ReportProgressInput("bootstrap-initiated")  # type: ignore[arg-type]
    assert report.progress_type is ProgressType.BOOTSTRAP_INITIATED
    assert json.loads(report.to_json()) == {INPUT: {"progress-type": "bootstrap-initiated"}}
    with pytest.raises(ModelError) as info:
        ReportProgressInput("done")  # type: ignore[arg-type]
    assert info.value.field == "progress-type"


def test_r082_message_with_non_ascii_text() -> None:
    """R-082: the message is any string; it is sent as UTF-8 JSON."""
    report = ReportProgressInput(ProgressType.PRE_SCRIPT_ERROR, message="échec ✗\nline 2")
    assert parse_report_progress_input(report.to_json()) == report


def test_d15_report_progress_malformed_json_refused() -> None:
    """D15: malformed JSON → EncodingError."""
    for data in (b"", b"{", b'{"a":1,"a":1}', b"\xff"):
        with pytest.raises(EncodingError):
            parse_report_progress_input(data)
