"""The YANG oracle over the documents the lab produces, in JSON and XML (R-082, R-084, R-089,
D15, D29): conveyed information (redirect and onboarding), vouchers, get-bootstrapping-data
outputs and the contents of signed artifacts as openssl reads and writes them.  Each kind also
has mutations the oracle must refuse, so that it is known to bite.

The oracle (tests/yang/oracle.py) is yangson over the published modules; it never uses the
project's parsers.  The client's request encoders are checked here for every progress type;
what the client really sends on the wire is checked in e2e/test_oracle_wire.py.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from sztp_client.model.rpc import GetBootstrappingDataInput, ReportProgressInput, SSHHostKey
from sztp_client.progress import ProgressType
from sztp_lab import cms as lab_cms
from sztp_lab.artifacts import (
    SignedSet,
    make_signed_set,
    onboarding_json,
    onboarding_xml,
    redirect_json,
    redirect_xml,
    trust_anchor_bag,
    voucher_json,
)
from sztp_lab.pki import LabPKI, make_lab_pki
from sztp_lab.server import output_document, restconf_errors
from tests.conftest import require
from tests.helpers.openssl_cli import openssl_available, openssl_sign, openssl_verify
from tests.yang import oracle

SERIAL = "SZTP-ORACLE-0001"
JSON_TYPE = "application/yang-data+json"
XML_TYPE = "application/yang-data+xml"
OID_CONVEYED_JSON = "1.2.840.113549.1.9.16.1.43"
OID_CONVEYED_XML = "1.2.840.113549.1.9.16.1.42"
OID_VOUCHER = "1.2.840.113549.1.9.16.1.40"
SHA256 = bytes(range(32))
ONBOARDING: dict[str, Any] = {
    "os_name": "LabOS",
    "os_version": "2.0",
    "download_uris": ("https://files.example/os.img", "https://mirror.example/os.img"),
    "sha256": SHA256,
    "configuration_handling": "merge",
    "pre_script": b"#!/bin/sh\nexit 0\n",
    "configuration": b'{"hostname": "device"}',
    "post_script": b"#!/bin/sh\nexit 0\n",
}


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return make_lab_pki()


@pytest.fixture(scope="module")
def signed(pki: LabPKI) -> SignedSet:
    return make_signed_set(pki, SERIAL, onboarding_json(**ONBOARDING), nonce=bytes(16))


def _bag(pki: LabPKI) -> bytes:
    return trust_anchor_bag(pki.owner_intermediate)


def _refused(check: Callable[[], object]) -> str:
    with pytest.raises(oracle.Invalid) as caught:
        check()
    return str(caught.value)


def _mutated_json(data: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    document = json.loads(data)
    change(document)
    return json.dumps(document).encode()


# ---------------------------------------------------------------------------------------------
# conveyed information


def test_onboarding_information_json_is_valid() -> None:
    """D15: the lab's onboarding-information in JSON satisfies ietf-sztp-conveyed-info."""
    raw = oracle.check_conveyed_information(onboarding_json(**ONBOARDING))
    info = raw["ietf-sztp-conveyed-info:onboarding-information"]
    assert info["boot-image"]["image-verification"][0]["hash-algorithm"].endswith("sha-256")
    assert info["configuration-handling"] == "merge"


def test_onboarding_information_xml_is_valid() -> None:
    """D15: the same in XML (RFC 7950), identityref and hex-string included."""
    raw = oracle.check_conveyed_information(onboarding_xml(**ONBOARDING), "xml")
    assert raw == oracle.check_conveyed_information(onboarding_json(**ONBOARDING))


@pytest.mark.parametrize("maker", [redirect_json, redirect_xml])
def test_redirect_information_is_valid(pki: LabPKI, maker: Callable[..., bytes]) -> None:
    """R-021: redirect-information with addresses, ports and a trust-anchor bag."""
    data = maker([("127.0.0.1", 8443, _bag(pki)), ("boot.example", None, None)])
    raw = oracle.check_conveyed_information(data, "xml" if maker is redirect_xml else "json")
    servers = raw["ietf-sztp-conveyed-info:redirect-information"]["bootstrap-server"]
    assert [s["address"] for s in servers] == ["127.0.0.1", "boot.example"]


def _drop_download_uri(document: dict[str, Any]) -> None:
    del document["ietf-sztp-conveyed-info:onboarding-information"]["boot-image"]["download-uri"]


def _drop_configuration(document: dict[str, Any]) -> None:
    del document["ietf-sztp-conveyed-info:onboarding-information"]["configuration"]


def _bad_handling(document: dict[str, Any]) -> None:
    document["ietf-sztp-conveyed-info:onboarding-information"]["configuration-handling"] = "swap"


def _bad_hash(document: dict[str, Any]) -> None:
    info = document["ietf-sztp-conveyed-info:onboarding-information"]
    info["boot-image"]["image-verification"][0]["hash-value"] = "not hex"


def _unknown_leaf(document: dict[str, Any]) -> None:
    document["ietf-sztp-conveyed-info:onboarding-information"]["reboot"] = True


@pytest.mark.parametrize(
    "change",
    [_drop_download_uri, _drop_configuration, _bad_handling, _bad_hash, _unknown_leaf],
)
def test_mutated_onboarding_information_is_refused(change: Callable[[Any], None]) -> None:
    """The oracle bites: a must, an enumeration, a pattern and an unknown node."""
    data = _mutated_json(onboarding_json(**ONBOARDING), change)
    assert _refused(lambda: oracle.check_conveyed_information(data))


@pytest.mark.parametrize(
    "servers",
    [
        [{"port": 443}],
        [{"address": "127.0.0.1", "port": 70000}],
        [{"address": "127.0.0.1", "trust-anchor": "***"}],
    ],
)
def test_mutated_redirect_information_is_refused(servers: list[dict[str, Any]]) -> None:
    """The list key is mandatory, the port a 16-bit number, the trust anchor base64."""
    data = json.dumps(
        {"ietf-sztp-conveyed-info:redirect-information": {"bootstrap-server": servers}}
    ).encode()
    assert _refused(lambda: oracle.check_conveyed_information(data))


@pytest.mark.parametrize(
    "replace",
    [
        ("<configuration-handling>merge", "<configuration-handling>swap"),
        ("<os-name>", '<os-name xmlns="urn:example:other">'),
        ("</boot-image>", "<reboot>now</reboot></boot-image>"),
        (":sha-256<", ":sha-999<"),  # an identity the module does not define
    ],
)
def test_mutated_xml_conveyed_information_is_refused(replace: tuple[str, str]) -> None:
    """The oracle bites on XML too: an enumeration, a foreign namespace, an unknown node and
    an identityref to no identity."""
    text = onboarding_xml(**ONBOARDING).decode()
    assert replace[0] in text
    data = text.replace(*replace, 1).encode()
    assert _refused(lambda: oracle.check_conveyed_information(data, "xml"))


# ---------------------------------------------------------------------------------------------
# vouchers


def test_voucher_with_every_leaf_is_valid(pki: LabPKI) -> None:
    """R-029..R-035: the lab's voucher satisfies ietf-voucher (RFC 8366)."""
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    data = voucher_json(
        serial_number=SERIAL,
        pinned_domain_cert=pki.owner_root.cert,
        created_on=now,
        nonce=bytes(range(16)),
        idevid_issuer=b"\x01" * 20,
        domain_cert_revocation_checks=False,
    )
    raw = oracle.check_voucher(data)
    assert raw["ietf-voucher:voucher"]["serial-number"] == SERIAL
    # expires-on and nonce exclude each other (the module's must)
    both = voucher_json(
        serial_number=SERIAL,
        pinned_domain_cert=pki.owner_root.cert,
        expires_on=now + dt.timedelta(days=30),
        nonce=bytes(range(16)),
    )
    assert _refused(lambda: oracle.check_voucher(both))


def test_renewable_voucher_is_valid(pki: LabPKI) -> None:
    data = voucher_json(
        serial_number=SERIAL,
        pinned_domain_cert=pki.owner_root.cert,
        assertion="logged",
        last_renewal_date=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
        expires_on=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
    )
    oracle.check_voucher(data)


@pytest.mark.parametrize(
    "options",
    [
        {"omit": ["serial-number"]},
        {"omit": ["created-on"]},
        {"assertion": "blind-faith"},
        {"extra": {"created-on": "yesterday"}},
        {"extra": {"domain-cert-revocation-checks": "true"}},
        {"extra": {"pinned-domain-cert": "%%%"}},
        {"extra": {"owner": "someone"}},
        # last-renewal-date needs expires-on (the module's must)
        {"last_renewal_date": dt.datetime(2027, 1, 1, tzinfo=dt.UTC)},
    ],
)
def test_mutated_voucher_is_refused(pki: LabPKI, options: dict[str, Any]) -> None:
    """The oracle bites: mandatory leaves, the assertion enumeration, date-and-time, boolean,
    binary, unknown nodes and the last-renewal-date must."""
    data = voucher_json(serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert, **options)
    assert _refused(lambda: oracle.check_voucher(data))


# ---------------------------------------------------------------------------------------------
# get-bootstrapping-data output


@pytest.mark.parametrize(("media_type", "encoding"), [(JSON_TYPE, "json"), (XML_TYPE, "xml")])
def test_output_documents_are_valid(signed: SignedSet, media_type: str, encoding: str) -> None:
    """R-089: the lab's get-bootstrapping-data output, signed and unsigned, JSON and XML."""
    full = output_document(
        signed.conveyed_information,
        signed.owner_certificate,
        signed.ownership_voucher,
        "verbose",
        media_type,
    )
    raw = oracle.check_get_bootstrapping_data_output(full, encoding)
    output = raw["ietf-sztp-bootstrap-server:output"]
    assert base64.b64decode(output["conveyed-information"]) == signed.conveyed_information
    assert output["reporting-level"] == "verbose"
    unsigned = output_document(lab_cms.content_info("json", b"{}"), media_type=media_type)
    oracle.check_get_bootstrapping_data_output(unsigned, encoding)


@pytest.mark.parametrize(
    "output",
    [
        {},  # conveyed-information is mandatory
        {"conveyed-information": "AAAA", "reporting-level": "chatty"},
        {"conveyed-information": "AAAA", "owner-certificate": "AAAA"},  # the voucher's must
        {"conveyed-information": "AAAA", "ownership-voucher": "AAAA"},  # the owner's must
        {"conveyed-information": "AA A"},
    ],
)
def test_mutated_output_document_is_refused(output: dict[str, Any]) -> None:
    data = json.dumps({"ietf-sztp-bootstrap-server:output": output}).encode()
    assert _refused(lambda: oracle.check_get_bootstrapping_data_output(data))


def test_xml_output_in_the_wrong_namespace_is_refused(signed: SignedSet) -> None:
    data = output_document(signed.conveyed_information, media_type=XML_TYPE)
    data = data.replace(b"ietf-sztp-bootstrap-server", b"ietf-sztp-bootstrap-servers")
    assert _refused(lambda: oracle.check_get_bootstrapping_data_output(data, "xml"))


def test_restconf_error_documents_name_known_tags() -> None:
    """The lab's error documents hold one error of RFC 8040's error-tag vocabulary."""
    document = json.loads(restconf_errors("malformed-message", "bad"))
    [error] = document["ietf-restconf:errors"]["error"]
    assert error["error-tag"] == "malformed-message"


# ---------------------------------------------------------------------------------------------
# artifacts' contents as openssl reads and writes them


def _openssl_content(der: bytes, pki: LabPKI) -> bytes:
    """The encapsulated content of a SignedData, as ``openssl cms -verify -noverify`` reads
    it (no project code between the artifact and the oracle)."""
    return openssl_verify(der, [pki.manufacturer_root.cert], extra_args=["-noverify"])


def test_signed_set_contents_read_by_openssl_are_valid(pki: LabPKI, signed: SignedSet) -> None:
    """The lab's signed conveyed information and voucher, opened by openssl, satisfy the
    modules."""
    require(openssl_available(), "the openssl command line")
    assert signed.ownership_voucher is not None
    conveyed = _openssl_content(signed.conveyed_information, pki)
    oracle.check_conveyed_information(conveyed)
    voucher = _openssl_content(signed.ownership_voucher, pki)
    raw = oracle.check_voucher(voucher)
    assert raw["ietf-voucher:voucher"]["serial-number"] == SERIAL
    assert base64.b64decode(raw["ietf-voucher:voucher"]["nonce"]) == bytes(16)


@pytest.mark.parametrize(
    ("content", "econtent_type", "encoding"),
    [
        (onboarding_json(**ONBOARDING), OID_CONVEYED_JSON, "json"),
        (onboarding_xml(**ONBOARDING), OID_CONVEYED_XML, "xml"),
    ],
)
def test_openssl_signed_conveyed_information_is_valid(
    pki: LabPKI, content: bytes, econtent_type: str, encoding: str
) -> None:
    """Artifacts signed by ``openssl cms -sign`` carry documents the modules accept."""
    require(openssl_available(), "the openssl command line")
    owner = pki.owner_certificate
    der = openssl_sign(content, econtent_type, owner.cert, owner.key, owner.chain)
    oracle.check_conveyed_information(_openssl_content(der, pki), encoding)


def test_openssl_signed_voucher_is_valid(pki: LabPKI) -> None:
    require(openssl_available(), "the openssl command line")
    voucher = voucher_json(serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert)
    signer = pki.manufacturer_intermediate
    der = openssl_sign(voucher, OID_VOUCHER, signer.cert, signer.key)
    oracle.check_voucher(_openssl_content(der, pki))


def test_a_mutated_openssl_read_content_is_refused(pki: LabPKI, signed: SignedSet) -> None:
    """The contents openssl reads are the documents checked: change one and it is refused."""
    require(openssl_available(), "the openssl command line")
    conveyed = _openssl_content(signed.conveyed_information, pki)
    broken = _mutated_json(conveyed, _bad_handling)
    assert _refused(lambda: oracle.check_conveyed_information(broken))
    assert copy.deepcopy(json.loads(conveyed)) != json.loads(broken)


# ---------------------------------------------------------------------------------------------
# the client's encoders, every progress type (the wire capture is in e2e/test_oracle_wire.py)


def _report(progress_type: ProgressType) -> ReportProgressInput:
    if progress_type is ProgressType.BOOTSTRAP_COMPLETE:
        return ReportProgressInput(
            progress_type,
            message="done",
            ssh_host_keys=(SSHHostKey("ssh-ed25519", b"\x00\x00\x00\x0bssh-ed25519"),),
            trust_anchor_certs=(b"\x30\x00",),
        )
    return ReportProgressInput(progress_type, message=f"{progress_type.value}: \x1b[1m<&>")


@pytest.mark.parametrize("encoding", ["json", "xml"])
@pytest.mark.parametrize("progress_type", list(ProgressType))
def test_r082_every_progress_type_the_client_can_send_is_valid(
    progress_type: ProgressType, encoding: str
) -> None:
    """R-082: each of the 27 progress types, as the client encodes it, in JSON and XML."""
    report = _report(progress_type)
    body = report.to_xml() if encoding == "xml" else report.to_json()
    raw = oracle.check_report_progress_input(body, encoding)
    assert raw["ietf-sztp-bootstrap-server:input"]["progress-type"] == progress_type.value


@pytest.mark.parametrize("encoding", ["json", "xml"])
@pytest.mark.parametrize(
    "request_input",
    [
        GetBootstrappingDataInput(signed_data_preferred=True, nonce=bytes(range(16))),
        GetBootstrappingDataInput(hw_model="m", os_name="LabOS", os_version="1", nonce=bytes(32)),
        GetBootstrappingDataInput(),
    ],
)
def test_r084_get_bootstrapping_data_inputs_are_valid(
    request_input: GetBootstrappingDataInput, encoding: str
) -> None:
    body = request_input.to_xml() if encoding == "xml" else request_input.to_json()
    oracle.check_get_bootstrapping_data_input(body, encoding)


NS = b'xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"'


@pytest.mark.parametrize(
    "body",
    [
        b"<input " + NS + b"><signed-data-preferred>yes</signed-data-preferred></input>",
        b"<input " + NS + b"><nonce>AAAA</nonce></input>",
        b"<input " + NS + b"><serial-number>x</serial-number></input>",
        b'<input xmlns="urn:example:other"><hw-model>m</hw-model></input>',
    ],
)
def test_mutated_xml_get_bootstrapping_data_input_is_refused(body: bytes) -> None:
    assert _refused(lambda: oracle.check_get_bootstrapping_data_input(body, "xml"))


@pytest.mark.parametrize(
    "body",
    [
        b"<input " + NS + b"><progress-type>bootstrap-finished</progress-type></input>",
        b"<input " + NS + b"><message>no type</message></input>",
        b"<input " + NS + b"><progress-type>bootstrap-error</progress-type>"
        b"<trust-anchor-certs><trust-anchor-cert>MAA=</trust-anchor-cert></trust-anchor-certs>"
        b"</input>",
        b"<input " + NS + b"><progress-type>bootstrap-complete</progress-type>"
        b"<ssh-host-keys><ssh-host-key><algorithm>a</algorithm></ssh-host-key></ssh-host-keys>"
        b"</input>",
    ],
)
def test_mutated_xml_report_progress_input_is_refused(body: bytes) -> None:
    """An unknown enum, a missing mandatory leaf, a when that is false, a missing list leaf."""
    assert _refused(lambda: oracle.check_report_progress_input(body, "xml"))
