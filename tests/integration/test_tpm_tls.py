"""Mutual TLS with the IDevID key inside a software TPM, through urllib3 as the transport uses
it, against a real TLS server on 127.0.0.1 that requires a client certificate of the lab's
IDevID CA.

R-003/R-018 (the device authenticates with its TLS client certificate), R-019 (the
intermediates are sent), R-007 (the private key stays in the TPM: with swtpm stopped the
handshake fails while a file identity still works, and OpenSSL's key object holds no private
key to export).
"""

from __future__ import annotations

import ctypes
import gc
import ssl
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_client.identity import tls_key, tls_mechanism
from sztp_client.identity.errors import TLSKeyMechanismError, TPMConnectionError
from sztp_client.identity.tpm import TPM
from sztp_client.identity.tpm_key import TPMKey
from sztp_lab.pki import LabPKI, make_lab_pki
from sztp_lab.tpm_factory import ProvisionedIdentity
from tests.helpers.swtpm import (
    ECC_HANDLE,
    RSA_HANDLE,
    LabTPMIdentities,
    SoftwareTPM,
    provision_lab_identities,
    require_tpm_stack,
)
from tests.helpers.tls_server import (
    Reply,
    ScriptedServer,
    ServerPKI,
    credentials,
    make_server_pki,
)

pytestmark = pytest.mark.integration
SERIAL = "TPM-TLS-0001"
VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


@pytest.fixture(scope="module")
def lab_pki() -> LabPKI:
    return make_lab_pki()


@pytest.fixture(scope="module")
def server_pki() -> ServerPKI:
    return make_server_pki()


@pytest.fixture(scope="module")
def swtpm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftwareTPM]:
    require_tpm_stack()
    with SoftwareTPM(tmp_path_factory.mktemp("swtpm")) as software_tpm:
        yield software_tpm


@pytest.fixture(scope="module")
def identities(swtpm: SoftwareTPM, lab_pki: LabPKI) -> LabTPMIdentities:
    return provision_lab_identities(swtpm.tcti, lab_pki, SERIAL)


@pytest.fixture(scope="module")
def tpm(swtpm: SoftwareTPM, identities: LabTPMIdentities) -> Iterator[TPM]:
    with TPM(swtpm.tcti) as opened:
        yield opened


def _server(
    server_pki: ServerPKI, lab_pki: LabPKI, version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
) -> ScriptedServer:
    cert, key = credentials(server_pki.server)
    server = ScriptedServer(
        cert,
        key,
        client_ca=lab_pki.manufacturer_root.cert_pem(),
        minimum_version=version,
        maximum_version=version,
    )
    server.routes["/restconf/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"] = Reply(
        200, {"Content-Type": "application/yang-data+json"}, b"{}"
    )
    return server


PATH = "/restconf/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"


def _client_context(server_pki: ServerPKI) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=server_pki.root.cert_pem().decode("ascii"))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _tpm_context(
    server_pki: ServerPKI, key: TPMKey, provisioned: ProvisionedIdentity
) -> ssl.SSLContext:
    context = _client_context(server_pki)
    tls_key.attach(context, key, [provisioned.certificate, *provisioned.chain])
    return context


def _post(server: ScriptedServer, context: ssl.SSLContext) -> int:
    pool = urllib3.HTTPSConnectionPool(
        "127.0.0.1", server.port, ssl_context=context, retries=False, timeout=10.0
    )
    try:
        return pool.request("POST", PATH, body=b"{}").status
    finally:
        pool.close()


def test_mechanism_checks_hold_on_this_platform() -> None:
    report = tls_mechanism.check_mechanism()
    assert report.openssl == ssl.OPENSSL_VERSION
    assert report.ctx_offset == object.__basicsize__
    assert Path(report.library).exists()
    maps = Path("/proc/self/maps").read_text()
    for library in (report.libssl, report.libcrypto):
        assert library and Path(library).exists()
        assert Path(library).name in maps


def test_wrong_context_pointer_is_refused_not_followed() -> None:
    """The pointer check fails loudly when the layout assumption does not hold: a fresh
    context's next field (no ALPN set) is no SSL_CTX."""
    tls_mechanism.check_mechanism()
    lib = tls_mechanism.Loaded.lib
    assert lib is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(TLSKeyMechanismError):
        tls_mechanism.check_pointer(
            context, lib, object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p)
        )


CASES = [(a, v) for a in ("ec-p256", "rsa-2048") for v in sorted(VERSIONS)]


@pytest.mark.parametrize("case", CASES, ids=[f"{a}-{v}" for a, v in CASES])
def test_mutual_tls_with_the_key_in_the_tpm(
    tpm: TPM,
    identities: LabTPMIdentities,
    server_pki: ServerPKI,
    lab_pki: LabPKI,
    case: tuple[str, str],
) -> None:
    """R-018/R-019: the server requires a client certificate of the IDevID CA and gets the
    IDevID with its intermediate; the handshake's signature is made in the TPM, for ECC P-256
    and RSA-2048, TLS 1.2 and 1.3."""
    algorithm, version = case
    provisioned = identities.by_algorithm(algorithm)
    key = tpm.key(ECC_HANDLE if algorithm == "ec-p256" else RSA_HANDLE)
    with _server(server_pki, lab_pki, VERSIONS[version]) as server:
        assert _post(server, _tpm_context(server_pki, key, provisioned)) == 200
        (request,) = server.requests_to(PATH)
    assert request.tls_version == version
    assert request.client_cert == provisioned.certificate.public_bytes(serialization.Encoding.DER)
    assert not server.handshake_errors


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_startup_check_signs_through_the_openssl_key(
    tpm: TPM, identities: LabTPMIdentities, algorithm: str
) -> None:
    provisioned = identities.by_algorithm(algorithm)
    key = tpm.key(ECC_HANDLE if algorithm == "ec-p256" else RSA_HANDLE)
    report = tls_key.startup_check(key, [provisioned.certificate, *provisioned.chain])
    assert report.openssl == ssl.OPENSSL_VERSION


def test_certificate_of_another_key_refused(
    tpm: TPM, identities: LabTPMIdentities, lab_pki: LabPKI
) -> None:
    other = lab_pki.idevid("SOMEONE-ELSE").cert
    key = tpm.key(ECC_HANDLE)
    with pytest.raises(TLSKeyMechanismError, match="not for the key"):
        tls_key.startup_check(key, [other])
    with pytest.raises(TLSKeyMechanismError, match="not for the key"):
        tls_key.attach(ssl.create_default_context(), key, [identities.rsa.certificate])
    with pytest.raises(TLSKeyMechanismError):
        tls_key.attach(ssl.create_default_context(), key, [])


def test_openssl_key_object_holds_no_private_key(tpm: TPM, identities: LabTPMIdentities) -> None:
    """R-007: OpenSSL's key object has the public half only; exporting it as a private key
    fails, while signing through it works (the TPM does it)."""
    lib = ctypes.CDLL(tls_mechanism.check_mechanism().library)
    lib.i2d_PrivateKey.restype = ctypes.c_int
    lib.i2d_PrivateKey.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    for handle, provisioned in ((ECC_HANDLE, identities.ecc), (RSA_HANDLE, identities.rsa)):
        openssl_key = tls_key.OpenSSLKey(tpm.key(handle), provisioned.certificate)
        assert lib.i2d_PrivateKey(openssl_key.pkey, None) <= 0
        assert openssl_key.sign(b"still signs")


def test_with_swtpm_stopped_the_handshake_fails_while_a_file_identity_works(
    tmp_path: Path, server_pki: ServerPKI, lab_pki: LabPKI
) -> None:
    """R-007: the TLS signature needs the TPM; no copy of the key exists in the process."""
    require_tpm_stack()
    file_identity = lab_pki.idevid("FILE-IDENTITY")
    with SoftwareTPM(tmp_path / "state") as software_tpm:
        provisioned = provision_lab_identities(software_tpm.tcti, lab_pki, "TPM-STOPPED")
        with TPM(software_tpm.tcti) as tpm, _server(server_pki, lab_pki) as server:
            key = tpm.key(ECC_HANDLE)
            tpm_context = _tpm_context(server_pki, key, provisioned.ecc)
            assert _post(server, tpm_context) == 200
            software_tpm.stop()
            with pytest.raises(urllib3.exceptions.SSLError):
                _post(server, tpm_context)
            with pytest.raises(TPMConnectionError):
                key.sign_data(b"the TPM is gone")
            with pytest.raises(TPMConnectionError):  # typed and retryable, not a crash
                tls_key.startup_check(key, [provisioned.ecc.certificate])
            file_context = _client_context(server_pki)
            with tempfile.TemporaryDirectory() as scratch:
                chain_file, key_file = Path(scratch, "chain.pem"), Path(scratch, "key.pem")
                chain_file.write_bytes(file_identity.pem_chain())
                key_file.write_bytes(file_identity.key_pem())
                file_context.load_cert_chain(chain_file, key_file)
            assert _post(server, file_context) == 200
            served = [r.client_cert for r in server.requests_to(PATH)]
    assert served == [
        provisioned.ecc.certificate.public_bytes(serialization.Encoding.DER),
        file_identity.cert_der(),
    ]


def test_attached_context_keeps_its_other_settings(
    tpm: TPM, identities: LabTPMIdentities, server_pki: ServerPKI
) -> None:
    """Attaching changes only the certificate and key: verification of the server stays."""
    context = _tpm_context(server_pki, tpm.key(ECC_HANDLE), identities.ecc)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert isinstance(identities.ecc.certificate, x509.Certificate)


def test_rsa_pkcs1_signature_in_a_tls12_handshake(
    tpm: TPM,
    identities: LabTPMIdentities,
    server_pki: ServerPKI,
    lab_pki: LabPKI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TLS 1.2 with the client limited to rsa_pkcs1_sha256: the TPM signs with RSASSA
    (TPM2_Sign) instead of the raw operation PSS uses."""
    calls: list[tuple[str, str]] = []
    original = TPMKey.sign_digest

    def recording(
        self: TPMKey, digest: bytes, hash_name: Any = "sha256", padding: Any = "pkcs1"
    ) -> bytes:
        calls.append((hash_name, padding))
        return original(self, digest, hash_name, padding)

    monkeypatch.setattr(TPMKey, "sign_digest", recording)
    context = _tpm_context(server_pki, tpm.key(RSA_HANDLE), identities.rsa)
    lib = tls_mechanism.Loaded.lib
    assert lib is not None
    pointer = tls_mechanism.check_pointer(context, lib, object.__basicsize__)
    assert (
        lib.SSL_CTX_ctrl(
            pointer, tls_mechanism.SSL_CTRL_SET_CLIENT_SIGALGS_LIST, 0, b"rsa_pkcs1_sha256"
        )
        == 1
    )
    with _server(server_pki, lab_pki, ssl.TLSVersion.TLSv1_2) as server:
        assert _post(server, context) == 200
        (request,) = server.requests_to(PATH)
    assert request.client_cert == identities.rsa.certificate.public_bytes(
        serialization.Encoding.DER
    )
    assert calls == [("sha256", "pkcs1")]


def test_concurrent_handshakes_share_the_tpm(
    tpm: TPM, identities: LabTPMIdentities, server_pki: ServerPKI, lab_pki: LabPKI
) -> None:
    """Several threads handshaking through one context (as urllib3's pool may) take turns
    at the TPM: every request is served with the IDevID."""
    context = _tpm_context(server_pki, tpm.key(ECC_HANDLE), identities.ecc)
    with _server(server_pki, lab_pki) as server, ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: _post(server, context), range(12)))
        served = {r.client_cert for r in server.requests_to(PATH)}
    assert statuses == [200] * 12
    assert served == {identities.ecc.certificate.public_bytes(serialization.Encoding.DER)}


def test_key_objects_of_dropped_contexts_are_released(
    tpm: TPM, identities: LabTPMIdentities, server_pki: ServerPKI
) -> None:
    """A context per connection does not grow the table of OpenSSL keys without bound."""
    key = tpm.key(ECC_HANDLE)
    for _ in range(20):
        _tpm_context(server_pki, key, identities.ecc)
    gc.collect()
    _tpm_context(server_pki, key, identities.ecc)
    assert sum(1 for ref in tls_key._signers.values() if ref() is not None) <= 2
    assert len(tls_key._signers) <= 2


@pytest.fixture
def fresh_mechanism(monkeypatch: pytest.MonkeyPatch) -> None:
    """check_mechanism runs again instead of returning what it found earlier."""
    monkeypatch.setattr(tls_mechanism.Loaded, "report", None)
    monkeypatch.setattr(tls_mechanism.Loaded, "lib", None)


@pytest.mark.usefixtures("fresh_mechanism")
def test_openssl_version_mismatch_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The libcrypto reached through ctypes must be the ssl module's own."""
    monkeypatch.setattr(ssl, "OPENSSL_VERSION_NUMBER", ssl.OPENSSL_VERSION_NUMBER + 1)
    with pytest.raises(TLSKeyMechanismError, match="is not the one the ssl module uses"):
        tls_mechanism.check_mechanism()


@pytest.mark.usefixtures("fresh_mechanism")
def test_openssl_other_than_3_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssl, "OPENSSL_VERSION_INFO", (1, 1, 1, 23, 15))
    with pytest.raises(TLSKeyMechanismError, match="needs OpenSSL 3"):
        tls_mechanism.check_mechanism()


@pytest.mark.usefixtures("fresh_mechanism")
def test_other_python_implementation_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls_mechanism.platform, "python_implementation", lambda: "PyPy")
    with pytest.raises(TLSKeyMechanismError, match="needs CPython"):
        tls_mechanism.check_mechanism()


@pytest.mark.usefixtures("fresh_mechanism")
def test_unknown_python_version_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls_mechanism, "CPYTHON_KNOWN", ((3, 0), (3, 1)))
    with pytest.raises(TLSKeyMechanismError, match="layout is known"):
        tls_mechanism.check_mechanism()


@pytest.mark.usefixtures("fresh_mechanism")
def test_openssl_without_the_deprecated_functions_fails_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An OpenSSL built without the deprecated APIs lacks the key methods: the error names
    what is missing."""
    functions = dict(tls_mechanism.FUNCTIONS)
    functions["EC_KEY_METHOD_new_absent"] = (ctypes.c_void_p, [])
    monkeypatch.setattr(tls_mechanism, "FUNCTIONS", functions)
    with pytest.raises(TLSKeyMechanismError, match="EC_KEY_METHOD_new_absent") as caught:
        tls_mechanism.check_mechanism()
    assert caught.value.exit_code == 78


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "provisional"])
def test_transport_contexts_take_the_tpm_key(
    tpm: TPM,
    identities: LabTPMIdentities,
    server_pki: ServerPKI,
    lab_pki: LabPKI,
    trusted: bool,
) -> None:
    """The two contexts the RESTCONF transport makes (server authenticated to its anchors, or
    provisional "blind" TLS) authenticate the device with the TPM key once it is attached
    (R-018: the device identifies itself to every server)."""
    from sztp_client.transport.tls import provisional_context, trusted_context
    from sztp_client.trust.clock import Clock

    context = (
        trusted_context([server_pki.root.cert], Clock.untrusted(), None)
        if trusted
        else provisional_context(None)
    )
    verify_mode = context.verify_mode
    tls_key.attach(
        context, tpm.key(RSA_HANDLE), [identities.rsa.certificate, *identities.rsa.chain]
    )
    assert context.verify_mode == verify_mode
    with _server(server_pki, lab_pki) as server:
        assert _post(server, context) == 200
        (request,) = server.requests_to(PATH)
    assert request.client_cert == identities.rsa.certificate.public_bytes(
        serialization.Encoding.DER
    )
