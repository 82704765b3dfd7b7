"""Path validation under both clocks, and CRL checks (R-035, R-036, R-115, D10, D22)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from sztp_client.trust.chain import (
    PathError,
    RevocationError,
    check_revocation,
    validate_path,
)
from sztp_client.trust.clock import Clock
from sztp_lab.pki import (
    Issued,
    make_crl,
    make_end_entity,
    make_intermediate_ca,
    make_root_ca,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
TRUSTED = Clock.trusted_at(NOW)
UNTRUSTED = Clock.untrusted()


@pytest.fixture(scope="module")
def root() -> Issued:
    return make_root_ca("Chain Root", not_before=NOW - 3650 * DAY, not_after=NOW + 3650 * DAY)


@pytest.fixture(scope="module")
def inter(root: Issued) -> Issued:
    return make_intermediate_ca(
        root, "Chain Intermediate", not_before=NOW - 365 * DAY, not_after=NOW + 365 * DAY
    )


def leaf(issuer: Issued, start: dt.datetime, end: dt.datetime, name: str = "Leaf") -> Issued:
    return make_end_entity(issuer, name, not_before=start, not_after=end)


@pytest.fixture(scope="module")
def good(inter: Issued) -> Issued:
    return leaf(inter, NOW - DAY, NOW + 30 * DAY)


@pytest.mark.parametrize("clock", [TRUSTED, UNTRUSTED], ids=["trusted", "untrusted"])
def test_valid_path(root: Issued, inter: Issued, good: Issued, clock: Clock) -> None:
    path = validate_path(good.cert, [inter.cert], [root.cert], clock)
    assert path.certificates == (good.cert, inter.cert, root.cert)


def test_expired_leaf_trusted_refused_untrusted_accepted(root: Issued, inter: Issued) -> None:
    """R-115, D10: validity enforced only under a trusted clock."""
    expired = leaf(inter, NOW - 30 * DAY, NOW - DAY)
    with pytest.raises(PathError, match="validity"):
        validate_path(expired.cert, [inter.cert], [root.cert], TRUSTED)
    path = validate_path(expired.cert, [inter.cert], [root.cert], UNTRUSTED)
    assert path.at <= NOW - DAY


def test_not_yet_valid_leaf(root: Issued, inter: Issued) -> None:
    """D10: a clock reading far in the past (1970 at first boot) is no obstacle untrusted."""
    future = leaf(inter, NOW + 10 * DAY, NOW + 40 * DAY)
    with pytest.raises(PathError):
        validate_path(future.cert, [inter.cert], [root.cert], TRUSTED)
    assert validate_path(future.cert, [inter.cert], [root.cert], UNTRUSTED)


def test_expired_intermediate_untrusted_accepted(root: Issued) -> None:
    """D10: an intermediate past notAfter is accepted under an untrusted clock."""
    old = make_intermediate_ca(root, "Old CA", not_before=NOW - 400 * DAY, not_after=NOW - 30 * DAY)
    child = leaf(old, NOW - 300 * DAY, NOW + 300 * DAY)
    with pytest.raises(PathError):
        validate_path(child.cert, [old.cert], [root.cert], TRUSTED)
    assert validate_path(child.cert, [old.cert], [root.cert], UNTRUSTED)


def test_disjoint_validity_refused_in_both_modes(root: Issued) -> None:
    """A leaf issued after its issuer expired was never valid with it: refused everywhere."""
    dead = make_intermediate_ca(
        root, "Dead CA", not_before=NOW - 90 * DAY, not_after=NOW - 60 * DAY
    )
    late = leaf(dead, NOW - 10 * DAY, NOW + 10 * DAY)
    for clock in (TRUSTED, UNTRUSTED):
        with pytest.raises(PathError):
            validate_path(late.cert, [dead.cert], [root.cert], clock)


@pytest.mark.parametrize("clock", [TRUSTED, UNTRUSTED], ids=["trusted", "untrusted"])
def test_missing_intermediate(root: Issued, good: Issued, clock: Clock) -> None:
    with pytest.raises(PathError, match="intermediate"):
        validate_path(good.cert, [], [root.cert], clock)


@pytest.mark.parametrize("clock", [TRUSTED, UNTRUSTED], ids=["trusted", "untrusted"])
def test_wrong_anchor(inter: Issued, good: Issued, clock: Clock) -> None:
    other = make_root_ca("Other Root")
    with pytest.raises(PathError):
        validate_path(good.cert, [inter.cert], [other.cert], clock)


@pytest.mark.parametrize("clock", [TRUSTED, UNTRUSTED], ids=["trusted", "untrusted"])
def test_end_entity_cannot_issue(inter: Issued, root: Issued, good: Issued, clock: Clock) -> None:
    """An end-entity certificate (cA false) issuing another is refused."""
    below = make_end_entity(good, "Below EE", not_before=NOW - DAY, not_after=NOW + DAY)
    with pytest.raises(PathError, match="cA"):
        validate_path(below.cert, [good.cert, inter.cert], [root.cert], clock)


def test_intermediate_as_anchor(inter: Issued, good: Issued) -> None:
    """D12: a trust anchor need not be self-signed."""
    path = validate_path(good.cert, [], [inter.cert], TRUSTED)
    assert path.certificates == (good.cert, inter.cert)


def test_leaf_is_the_anchor(good: Issued) -> None:
    """R-035: a certificate that is itself the anchor validates as a path of one."""
    assert validate_path(good.cert, [], [good.cert], TRUSTED).certificates == (good.cert,)


def test_no_anchors() -> None:
    other = make_root_ca("Lonely")
    with pytest.raises(PathError, match="no trust anchors"):
        validate_path(other.cert, [], [], TRUSTED)


def test_trusted_clock_needs_time() -> None:
    with pytest.raises(ValueError):
        Clock(trusted=True)
    with pytest.raises(ValueError):
        Clock.trusted_at(dt.datetime(2026, 1, 1))  # naive


# --- revocation (D22) -----------------------------------------------------------------------


def crls_for(
    root: Issued,
    inter: Issued,
    revoked: tuple[int, ...] = (),
    this_update: dt.datetime = NOW - DAY,
    next_update: dt.datetime = NOW + 7 * DAY,
) -> list[x509.CertificateRevocationList]:
    return [
        make_crl(inter, revoked, this_update, next_update),
        make_crl(root, (), this_update, next_update),
    ]


def test_revocation_none_revoked(root: Issued, inter: Issued, good: Issued) -> None:
    path = (good.cert, inter.cert, root.cert)
    check_revocation(path, crls_for(root, inter), UNTRUSTED)
    check_revocation(path, crls_for(root, inter), TRUSTED)


def test_revocation_revoked(root: Issued, inter: Issued, good: Issued) -> None:
    path = (good.cert, inter.cert, root.cert)
    with pytest.raises(RevocationError, match="revoked"):
        check_revocation(path, crls_for(root, inter, (good.cert.serial_number,)), UNTRUSTED)


def test_revocation_missing(root: Issued, inter: Issued, good: Issued) -> None:
    path = (good.cert, inter.cert, root.cert)
    with pytest.raises(RevocationError, match="no usable CRL"):
        check_revocation(path, [], UNTRUSTED)
    # the CRL for the intermediate (from the root) is missing
    with pytest.raises(RevocationError, match="no usable CRL"):
        check_revocation(path, [make_crl(inter)], UNTRUSTED)


def test_revocation_stale_crl(root: Issued, inter: Issued, good: Issued) -> None:
    """D22: under a trusted clock a CRL past nextUpdate counts as missing."""
    path = (good.cert, inter.cert, root.cert)
    stale = crls_for(root, inter, this_update=NOW - 20 * DAY, next_update=NOW - 10 * DAY)
    with pytest.raises(RevocationError):
        check_revocation(path, stale, TRUSTED)
    check_revocation(path, stale, UNTRUSTED)


def test_revocation_crl_from_the_future(root: Issued, inter: Issued, good: Issued) -> None:
    path = (good.cert, inter.cert, root.cert)
    future = crls_for(root, inter, this_update=NOW + DAY, next_update=NOW + 10 * DAY)
    with pytest.raises(RevocationError):
        check_revocation(path, future, TRUSTED)


def test_revocation_crl_with_foreign_signature(root: Issued, inter: Issued, good: Issued) -> None:
    path = (good.cert, inter.cert, root.cert)
    impostor = make_root_ca("Chain Intermediate")
    forged = make_crl(impostor, (), NOW - DAY, NOW + DAY)
    assert forged.issuer == inter.cert.subject
    with pytest.raises(RevocationError):
        check_revocation(path, [forged, make_crl(root, (), NOW - DAY, NOW + DAY)], TRUSTED)


def test_revocation_path_of_one_needs_nothing(good: Issued) -> None:
    """The pinned certificate itself is never checked (nothing below it)."""
    check_revocation((good.cert,), [], TRUSTED)
