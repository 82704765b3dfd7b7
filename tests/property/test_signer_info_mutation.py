"""D28: any INTEGER or OBJECT IDENTIFIER of a SignerInfo, set to any value, gives only the
project's typed errors (DataError subclasses), never another exception.

The artifact is walked as a tree of BER TLVs (asn1crypto's parser); one INTEGER or OID inside
the SignedData's signerInfos is given new content (encoded with asn1crypto's types, or raw
octets that are not a valid encoding), and every enclosing length is re-encoded with
asn1crypto's emitter.  The mutated set goes through the whole verification pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import core, parser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sztp_client.errors import DataError
from sztp_client.trust import oids
from sztp_client.trust.verifier import Artifacts
from sztp_lab import cms as lab_cms
from sztp_lab.artifacts import make_signed_set, voucher_json
from sztp_lab.pki import LabPKI, make_lab_pki
from tests.support import ONBOARDING, SERIAL, verify

INTEGER, OID = 2, 6


@dataclass
class Node:
    cls: int
    constructed: int
    tag: int
    contents: bytes
    children: list[Node] | None

    def encode(self) -> bytes:
        if self.children is not None:
            body = b"".join(child.encode() for child in self.children)
        else:
            body = self.contents
        return bytes(parser.emit(self.cls, self.constructed, self.tag, body))


def parse_tree(data: bytes) -> Node:
    cls, constructed, tag, _header, contents, _trailer = parser.parse(data)
    node = Node(cls, constructed, tag, contents, None)
    if constructed:
        node.children = []
        offset = 0
        while offset < len(contents):
            _info, end = parser._parse(contents, len(contents), offset)
            node.children.append(parse_tree(contents[offset:end]))
            offset = end
    return node


def leaves(node: Node, found: list[Node]) -> list[Node]:
    if node.children is None:
        if node.cls == 0 and node.tag in (INTEGER, OID):
            found.append(node)
    else:
        for child in node.children:
            leaves(child, found)
    return found


def signer_infos(content_info: Node) -> Node:
    """ContentInfo -> [0] -> SignedData -> its last field, the SET OF SignerInfo."""
    assert content_info.children is not None
    explicit = content_info.children[1]
    assert explicit.children is not None
    signed_data = explicit.children[0]
    assert signed_data.children is not None
    return signed_data.children[-1]


def _pss_voucher(pki: LabPKI) -> bytes:
    voucher = voucher_json(
        serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert, created_on=pki.now
    )
    signer = pki.voucher_signer
    return lab_cms.sign(
        voucher, lab_cms.OID_VOUCHER, signer, certificates=list(signer.path), rsa_padding="pss"
    )


RSA = make_lab_pki("rsa-2048")
EC = make_lab_pki("ec-p256")
SETS = {
    "rsa-pss": (RSA, make_signed_set(RSA, SERIAL, ONBOARDING), _pss_voucher(RSA)),
    "rsa-pkcs1": (RSA, make_signed_set(RSA, SERIAL, ONBOARDING), None),
    "ec": (EC, make_signed_set(EC, SERIAL, ONBOARDING), None),
}

KNOWN_OIDS = [
    "1.3.14.3.2.26",  # sha1
    "1.2.840.113549.2.5",  # md5
    "2.16.840.1.101.3.4.2.4",  # sha224
    "2.16.840.1.101.3.4.2.1",  # sha256
    "2.16.840.1.101.3.4.2.3",  # sha512
    "1.2.840.113549.1.1.10",  # rsassa-pss
    "1.2.840.113549.1.1.8",  # mgf1
    "1.2.840.113549.1.1.1",  # rsaEncryption
    "1.2.840.113549.1.1.11",  # sha256WithRSAEncryption
    "1.2.840.10045.4.3.2",  # ecdsa-with-SHA256
    "1.2.840.10045.2.1",  # id-ecPublicKey
    "1.2.840.113549.1.9.3",  # content-type
    "1.2.840.113549.1.9.4",  # message-digest
    oids.ID_CT_ANIMA_JSON_VOUCHER,
    oids.ID_DATA,
    "1.2.3.4",
    "2.999.1",
]

integer_contents = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([-1, 0, 1, 2, 3, 20, 32, 222, 223, 2**31, 2**63, 2**64, -(2**63), 10**300]),
).map(lambda value: bytes(core.Integer(value).contents))
oid_contents = st.one_of(
    st.sampled_from(KNOWN_OIDS),
    st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=8).map(
        lambda arcs: "1.3." + ".".join(map(str, arcs))
    ),
).map(lambda dotted: bytes(core.ObjectIdentifier(dotted).contents))
raw_contents = st.binary(max_size=24)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    which=st.sampled_from(sorted(SETS)),
    artifact=st.sampled_from(["voucher", "conveyed-information"]),
    index=st.integers(min_value=0, max_value=10_000),
    data=st.data(),
)
def test_d28_signer_info_integer_and_oid_mutations_give_typed_errors(
    which: str, artifact: str, index: int, data: st.DataObject
) -> None:
    pki, signed, pss_voucher = SETS[which]
    voucher = pss_voucher or signed.ownership_voucher or b""
    target = voucher if artifact == "voucher" else signed.conveyed_information
    tree = parse_tree(target)
    candidates = leaves(signer_infos(tree), [])
    assert candidates, "a SignerInfo has INTEGERs and OIDs"
    node = candidates[index % len(candidates)]
    node.contents = data.draw(
        st.one_of(integer_contents if node.tag == INTEGER else oid_contents, raw_contents)
    )
    mutated = tree.encode()
    if artifact == "voucher":
        artifacts = Artifacts(signed.conveyed_information, signed.owner_certificate, mutated)
    else:
        artifacts = Artifacts(mutated, signed.owner_certificate, voucher)
    try:
        verify(pki, artifacts)
    except DataError as exc:
        assert exc.message
        assert exc.step is not None


def test_d28_tree_round_trip() -> None:
    """The walker re-encodes an unchanged artifact byte for byte (so mutations are the only
    change)."""
    for _pki, signed, pss in SETS.values():
        for der in (signed.conveyed_information, signed.ownership_voucher or b"", pss or b""):
            if der:
                assert parse_tree(der).encode() == der
