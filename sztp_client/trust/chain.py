"""Certificate path validation with the clock passed in, and CRL revocation checks (D10, D22).

Paths are built and validated by pyca/cryptography's X.509 verifier (RFC 5280 path building,
signature checks, basicConstraints, unknown critical extensions, key-size and signature
algorithm rules).  Its extension policies are set here for device PKIs rather than the Web PKI:
an issuer must assert basicConstraints cA (and keyCertSign when it has a KeyUsage extension);
end-entity extensions are left to the caller, which checks what its role needs (for example
digitalSignature on an owner certificate, R-037).  A trust anchor may be any certificate,
self-signed or not, and a leaf that is itself a trust anchor validates as a path of one (D12).

**Untrusted clock.**  The verifier always checks validity periods at one time and cannot switch
that off.  Under an untrusted clock this module therefore asks it to validate at each candidate
instant at which the path's certificates could all be valid: the ``notBefore`` of every
certificate that can be on the path (the leaf, the supplied intermediates, and the anchors whose
subject issued one of them).  If the certificates of some path were ever valid at the same
moment, the latest of their ``notBefore`` values is such an instant and is among the
candidates, so the path is accepted however far the real time lies outside it; all the other
checks are made exactly as under a trusted clock.  A path whose certificates were never valid
together (a certificate issued after its issuer expired) is refused under both clocks: no
honest CA produces one.

**Bounded cost (D28).**  Intermediates are used once each, at most one per subject name and
key and at most ``MAX_SAME_SUBJECT`` per subject name, so the path search is a line, never a
tree; a search that still hits the verifier's own bound on signature checks ends the
validation at once (``PathError.exhausted``).  The candidate instants are bounded too: only
instants inside the leaf's validity period count (the leaf is on every path), at which some
anchor is valid as well, at most ``MAX_CANDIDATE_TIMES`` of them, latest first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import verification as xv

from sztp_client.trust.clock import Clock

#: longest path accepted, leaf and anchor included
MAX_CHAIN_DEPTH = 8
#: most validation instants tried under an untrusted clock
MAX_CANDIDATE_TIMES = 32


#: intermediates kept per subject name: an honest CMS carries one issuer per name, two across
#: a key rollover; more only multiply the issuers the path search must try at every level
MAX_SAME_SUBJECT = 2


class PathError(Exception):
    """No valid path; ``reason`` says why (callers wrap it in their own typed error).

    ``exhausted`` is set when the path search hit the verifier's work bound: the certificates
    are built to make the search expensive, and no other attempt should be made with them.
    """

    def __init__(self, reason: str, *, exhausted: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exhausted = exhausted


def _usable_intermediates(
    leaf: x509.Certificate, intermediates: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """The intermediates once each, without the leaf, at most MAX_SAME_SUBJECT per subject name
    and one per subject name and key (the first ones given).  Then at every level of the path
    at most two issuers are tried and at most one can verify the signature (two with one name
    and key would both verify it): the search is a line, a few signature checks per level,
    never a tree (D28)."""
    seen: set[bytes] = {leaf.public_bytes(Encoding.DER)}
    per_subject: dict[bytes, int] = {}
    keys: set[tuple[bytes, bytes]] = set()
    kept: list[x509.Certificate] = []
    for cert in intermediates:
        der = cert.public_bytes(Encoding.DER)
        if der in seen:
            continue
        seen.add(der)
        subject = cert.subject.public_bytes()
        name_and_key = (subject, _spki(cert))
        if per_subject.get(subject, 0) >= MAX_SAME_SUBJECT or name_and_key in keys:
            continue
        per_subject[subject] = per_subject.get(subject, 0) + 1
        keys.add(name_and_key)
        kept.append(cert)
    return kept


class RevocationError(Exception):
    """A certificate is revoked, or its revocation status cannot be established."""


def _issuer_basic_constraints(
    policy: xv.Policy, cert: x509.Certificate, ext: x509.BasicConstraints
) -> None:
    if not ext.ca:
        raise ValueError("an issuing certificate must assert basicConstraints cA")


def _issuer_key_usage(policy: xv.Policy, cert: x509.Certificate, ext: x509.KeyUsage | None) -> None:
    if ext is not None and not ext.key_cert_sign:
        raise ValueError("an issuing certificate's keyUsage lacks keyCertSign")


_CA_POLICY = (
    xv.ExtensionPolicy.permit_all()
    .require_present(x509.BasicConstraints, xv.Criticality.AGNOSTIC, _issuer_basic_constraints)
    .may_be_present(x509.KeyUsage, xv.Criticality.AGNOSTIC, _issuer_key_usage)
)
_EE_POLICY = xv.ExtensionPolicy.permit_all()


class ValidatedPath(msgspec.Struct, frozen=True):
    """A validated path, leaf first, trust anchor last; ``at`` is the instant it was checked at."""

    certificates: tuple[x509.Certificate, ...]
    at: dt.datetime

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def anchor(self) -> x509.Certificate:
        return self.certificates[-1]


def validate_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    clock: Clock,
    *,
    max_depth: int = MAX_CHAIN_DEPTH,
) -> ValidatedPath:
    """Validate ``leaf`` to one of ``anchors`` through ``intermediates``, or raise PathError."""
    if not anchors:
        raise PathError("no trust anchors are configured")
    store = xv.Store(list(anchors))
    intermediates = _usable_intermediates(leaf, intermediates)
    if clock.trusted:
        times = [clock.trusted_now()]
    else:
        times = _candidate_times(leaf, intermediates, anchors)
    first_error: str | None = None
    for when in times:
        verifier = (
            xv.PolicyBuilder()
            .store(store)
            .time(when)
            .max_chain_depth(max_depth)
            .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(leaf, list(intermediates))
        except xv.VerificationError as exc:
            if "maximum signature check limit" in str(exc):
                raise PathError(
                    "the certificates in the CMS make the path search exceed its work bound "
                    "(they name each other as issuers); refused without further attempts",
                    exhausted=True,
                ) from exc
            reason = _explain(str(exc))
            if first_error is None or "not valid at validation time" in first_error:
                first_error = reason
            continue
        return ValidatedPath(tuple(verified.chain), when)
    raise PathError(first_error or "no candidate validation time")


def _spki(cert: x509.Certificate) -> bytes:
    try:
        return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except Exception:  # an unusable key: such certificates group by encoding
        return cert.public_bytes(Encoding.DER)


def _candidate_times(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
) -> list[dt.datetime]:
    pool = [leaf, *intermediates]
    issuers = {c.issuer for c in pool}
    relevant = [a for a in anchors if a.subject in issuers or a == leaf]
    pool.extend(relevant)
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc

    def usable(when: dt.datetime) -> bool:
        if not start <= when <= end:
            return False
        return any(a.not_valid_before_utc <= when <= a.not_valid_after_utc for a in relevant)

    instants = sorted({c.not_valid_before_utc for c in pool}, reverse=True)
    chosen = [when for when in instants if usable(when)]
    return chosen[:MAX_CANDIDATE_TIMES] or instants[:1]


def _explain(message: str) -> str:
    if "candidates exhausted with no interior errors" in message:
        return (
            "no certificate path to a trust anchor (an intermediate certificate may be missing "
            "from the CMS, or the trust anchor is the wrong one)"
        )
    if "not valid at validation time" in message:
        return "a certificate on the path is outside its validity period: " + message
    return message.removeprefix("validation failed: ")


def check_revocation(
    path: Sequence[x509.Certificate],
    crls: Iterable[x509.CertificateRevocationList],
    clock: Clock,
) -> None:
    """D22: every certificate of ``path`` but its last needs a CRL from its issuer that does
    not list it.  A CRL counts only when its issuer is the next certificate on the path and its
    signature verifies with that certificate's key; under a trusted clock a CRL past its
    nextUpdate (or not yet issued) counts as missing.
    """
    crl_list = list(crls)
    for index in range(len(path) - 1):
        cert, issuer = path[index], path[index + 1]
        usable = [crl for crl in crl_list if _crl_usable(crl, issuer, clock)]
        who = cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"
        if not usable:
            raise RevocationError(
                f"no usable CRL from {issuer.subject.rfc4514_string()} for {who}: the voucher "
                "requires revocation checks, so the owner-certificate CMS must carry a current "
                "CRL from every issuer below the pinned-domain-cert"
            )
        for crl in usable:
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                raise RevocationError(f"{who} is revoked by its issuer's CRL")


def _crl_usable(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, clock: Clock
) -> bool:
    if crl.issuer != issuer.subject:
        return False
    try:
        if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            return False
    except (TypeError, ValueError):
        return False
    if clock.trusted:
        now = clock.trusted_now()
        if crl.last_update_utc > now:
            return False
        next_update = crl.next_update_utc
        if next_update is None or next_update < now:
            return False
    return True
