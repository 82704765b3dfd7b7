"""Benchmark: a mutual-TLS handshake with the IDevID key inside a software TPM, against the
same handshake with a key file, in the same run.

A software TPM (swtpm in socket mode, started by this script as a child process on free
loopback ports, state in a temporary directory) gets an ECC P-256 and an RSA-2048 IDevID from
the factory (``sztp_lab.tpm_factory``).  A TLS server on 127.0.0.1 requires a client
certificate of the lab's IDevID CA.  For each key type and TLS 1.2 / 1.3, the client connects,
completes the handshake (``ssl.SSLContext`` with the TPM key attached by
``sztp_client.identity.tls_key``, or with ``load_cert_chain`` of a PEM key of the same type)
and closes, alternating TPM and file, ``--runs`` times each after a warm-up.  Printed: the
median and best handshake time of each, their ratio (TPM / file) and the median difference,
which is the cost of the TPM's signature over loopback.  Informational: exit 0 unless a
handshake fails.

Example (2 vCPUs shared with other work, load average about 4, x86_64, Python 3.11.7,
OpenSSL 3.0.19, swtpm 0.7.1, 300 runs each; median (best) in ms):

    key       TLS        TPM ms          file ms         ratio (best)  +ms
    ec-p256   TLSv1.2    3.550 (2.191)   2.147 (1.424)   1.65  1.54    1.403
    ec-p256   TLSv1.3    2.636 (2.253)   1.769 (1.635)   1.49  1.38    0.867
    rsa-2048  TLSv1.2    4.959 (3.573)   2.401 (1.627)   2.07  2.20    2.558
    rsa-2048  TLSv1.3    4.553 (3.926)   2.301 (1.874)   1.98  2.09    2.252

The TPM's signature costs about 1 ms (ECC) and 2.5 ms (RSA, the raw private operation of
swtpm) per handshake, over a loopback handshake of about 2 ms.

Then the RFC 9646 step, ``--ldevid-runs`` times each: a fresh LDevID key and the PKCS#10
request signed with it, the key made inside the TPM (the previous round's evicted first, as a
second csr-request does) or in a key file.  Example (same machine, 20 rounds; median (best) in
ms): ec-p256 TPM 9.7 (4.7), file 6.4 (1.2); rsa-2048 TPM 328 (116), file 95 (47): RSA key
generation dominates, in the TPM about three times slower than in OpenSSL.

    .venv/bin/python bench/tpm_bench.py [--runs N] [--ldevid-runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sztp_client.actions.ldevid import FileKeyStore  # noqa: E402
from sztp_client.identity import tls_key, tls_mechanism  # noqa: E402
from sztp_client.identity.ldevid_tpm import DEFAULT_LDEVID_HANDLE, TPMKeyStore  # noqa: E402
from sztp_client.identity.tpm import TPM  # noqa: E402
from sztp_client.protocol.csr import build_p10_csr  # noqa: E402
from sztp_lab.pki import LabPKI, make_lab_pki  # noqa: E402
from tests.helpers.swtpm import (  # noqa: E402
    ECC_HANDLE,
    RSA_HANDLE,
    SoftwareTPM,
    provision_lab_identities,
)
from tests.helpers.tls_server import make_server_pki  # noqa: E402

VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


class HandshakeServer:
    """Accepts connections, completes the TLS handshake requiring a client certificate,
    answers one byte and closes."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
                    tls.sendall(b"!")
            except (OSError, ssl.SSLError) as exc:
                self.errors.append(exc)

    def close(self) -> None:
        self.listener.close()


def handshake(port: int, context: ssl.SSLContext) -> float:
    start = time.perf_counter()
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"?")
        if tls.recv(1) != b"!":
            raise RuntimeError("the server did not answer")
        return time.perf_counter() - start


def client_context(anchor_pem: str, version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=anchor_pem)
    context.minimum_version = context.maximum_version = version
    return context


def measure(runs: int, lab: LabPKI, tcti: str) -> list[dict[str, Any]]:
    server_pki = make_server_pki()
    anchor = server_pki.root.cert_pem().decode("ascii")
    identities = provision_lab_identities(tcti, lab, "BENCH-0001")
    rows: list[dict[str, Any]] = []
    with TPM(tcti) as tpm, tempfile.TemporaryDirectory() as scratch:
        for algorithm, handle in (("ec-p256", ECC_HANDLE), ("rsa-2048", RSA_HANDLE)):
            provisioned = identities.by_algorithm(algorithm)
            key = tpm.key(handle)
            file_identity = lab.idevid("BENCH-FILE", algorithm)  # type: ignore[arg-type]
            chain_file = Path(scratch, f"{algorithm}-chain.pem")
            key_file = Path(scratch, f"{algorithm}-key.pem")
            chain_file.write_bytes(file_identity.pem_chain())
            key_file.write_bytes(file_identity.key_pem())
            for version_name, version in VERSIONS.items():
                server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                server_context.minimum_version = server_context.maximum_version = version
                server_context.load_cert_chain(
                    *_write_server(scratch, server_pki.server.pem_chain(), server_pki)
                )
                server_context.verify_mode = ssl.CERT_REQUIRED
                server_context.load_verify_locations(
                    cadata=lab.manufacturer_root.cert_pem().decode("ascii")
                )
                server = HandshakeServer(server_context)
                tpm_context = client_context(anchor, version)
                tls_key.attach(tpm_context, key, [provisioned.certificate, *provisioned.chain])
                file_context = client_context(anchor, version)
                file_context.load_cert_chain(chain_file, key_file)
                try:
                    for _ in range(3):
                        handshake(server.port, tpm_context)
                        handshake(server.port, file_context)
                    tpm_times, file_times = [], []
                    for _ in range(runs):
                        tpm_times.append(handshake(server.port, tpm_context))
                        file_times.append(handshake(server.port, file_context))
                finally:
                    server.close()
                if server.errors:
                    raise RuntimeError(f"handshakes failed on the server: {server.errors[:3]}")
                tpm_median = statistics.median(tpm_times)
                file_median = statistics.median(file_times)
                rows.append(
                    {
                        "key": algorithm,
                        "tls": version_name,
                        "runs": runs,
                        "tpm_median_ms": round(tpm_median * 1000, 3),
                        "tpm_best_ms": round(min(tpm_times) * 1000, 3),
                        "file_median_ms": round(file_median * 1000, 3),
                        "file_best_ms": round(min(file_times) * 1000, 3),
                        "ratio": round(tpm_median / file_median, 2),
                        "best_ratio": round(min(tpm_times) / min(file_times), 2),
                        "difference_ms": round((tpm_median - file_median) * 1000, 3),
                    }
                )
    return rows


def measure_ldevid(runs: int, tcti: str) -> list[dict[str, Any]]:
    """RFC 9646: a fresh LDevID key and the signed PKCS#10 request over it, with the key made
    in the TPM (the previous round's evicted first) and with a key file, alternating."""
    subject = b"\x30\x00"
    rows: list[dict[str, Any]] = []
    with TPM(tcti) as tpm, tempfile.TemporaryDirectory() as scratch:
        stores = {
            "tpm": TPMKeyStore(tpm, DEFAULT_LDEVID_HANDLE, Path(scratch, "cert.pem"), ECC_HANDLE),
            "file": FileKeyStore(Path(scratch, "key.pem"), Path(scratch, "cert.pem")),
        }
        for algorithm in ("ec-p256", "rsa-2048"):
            times: dict[str, list[float]] = {"tpm": [], "file": []}
            for _ in range(runs):
                for name, store in stores.items():
                    start = time.perf_counter()
                    store.generate(algorithm)
                    build_p10_csr(
                        algorithm=algorithm,
                        spki_der=store.spki_der(),
                        sign=store.sign,
                        cert_req_info=None,
                        subject_der=subject,
                    )
                    times[name].append(time.perf_counter() - start)
            rows.append(
                {
                    "key": algorithm,
                    "runs": runs,
                    "tpm_median_ms": round(statistics.median(times["tpm"]) * 1000, 3),
                    "tpm_best_ms": round(min(times["tpm"]) * 1000, 3),
                    "file_median_ms": round(statistics.median(times["file"]) * 1000, 3),
                    "file_best_ms": round(min(times["file"]) * 1000, 3),
                }
            )
        for store in stores.values():
            store.delete()
    return rows


def _write_server(scratch: str, chain: bytes, server_pki: Any) -> tuple[Path, Path]:
    cert, key = Path(scratch, "server.pem"), Path(scratch, "server-key.pem")
    cert.write_bytes(chain)
    key.write_bytes(server_pki.server.key_pem())
    return cert, key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="handshakes of each kind per row")
    parser.add_argument(
        "--ldevid-runs", type=int, default=20, help="LDevID key and CSR rounds of each kind"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    lab = make_lab_pki()
    with tempfile.TemporaryDirectory() as state, SoftwareTPM(Path(state)) as software_tpm:
        rows = measure(args.runs, lab, software_tpm.tcti)
        ldevid_rows = measure_ldevid(args.ldevid_runs, software_tpm.tcti)
    report = tls_mechanism.check_mechanism()
    if args.json:
        print(
            json.dumps(
                {
                    "python": report.python,
                    "openssl": report.openssl,
                    "rows": rows,
                    "ldevid": ldevid_rows,
                }
            )
        )
        return 0
    print(
        f"TLS handshake, TPM key (swtpm) vs key file; Python {platform.python_version()}, "
        f"{report.openssl}, {args.runs} runs each, alternating"
    )
    print(
        f"{'key':9} {'TLS':8} {'TPM ms':>16} {'file ms':>16} {'ratio':>6} {'(best)':>6} {'+ms':>7}"
    )
    for row in rows:
        print(
            f"{row['key']:9} {row['tls']:8} "
            f"{row['tpm_median_ms']:>8.3f} ({row['tpm_best_ms']:.3f}) "
            f"{row['file_median_ms']:>8.3f} ({row['file_best_ms']:.3f}) "
            f"{row['ratio']:>6.2f} {row['best_ratio']:>6.2f} {row['difference_ms']:>7.3f}"
        )
    print(
        "median (best); ratio = TPM median / file median, (best) = ratio of the best times; "
        "+ms = median difference"
    )
    print()
    print(f"LDevID: a fresh key and the signed CSR over it, {args.ldevid_runs} rounds each")
    print(f"{'key':9} {'TPM ms':>18} {'file ms':>18}")
    for row in ldevid_rows:
        print(
            f"{row['key']:9} {row['tpm_median_ms']:>9.3f} ({row['tpm_best_ms']:.3f}) "
            f"{row['file_median_ms']:>9.3f} ({row['file_best_ms']:.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
