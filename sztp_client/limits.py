"""Units and the one set of bounds: the ``[limits]`` table of the configuration (D19, D28).

``Limits`` is read from the configuration as it is (``config.ClientConfig.limits``) and handed
unchanged to the trust core, the conveyed-information parser and the transport (which derives
its own bounds from it, :mod:`sztp_client.transport.limits`); its defaults are written here and
nowhere else.  Sizes are in bytes (the units are in :mod:`sztp_client.units`), the other bounds
are counts.  Pure: no I/O.  A ``NamedTuple``, like the configuration's tables: ``status`` reads
the configuration, and starts without msgspec (docs/architecture.md, start-up).
"""

# no ``from __future__ import annotations`` here: a NamedTuple turns each annotation given as
# a string into a ForwardRef, compiling it (about a quarter of the cost of defining them)

from typing import NamedTuple

from sztp_client.units import KIB, MIB


class Limits(NamedTuple):
    """The size bounds of what the device reads and the work one artifact may cause.

    Sizes in bytes: ``conveyed_information``, ``owner_certificate``, ``ownership_voucher`` (each
    artifact, DER, before decoding), ``error_document`` (a RESTCONF error reply), ``host_meta``
    (the RFC 6415 document).  Counts: ``cms_certificates`` and ``cms_crls`` (in one CMS
    SignedData), ``path_validations`` (certification paths built per artifact),
    ``redirect_servers`` (entries of one redirect-information), ``redirect_addresses``
    (addresses tried across the redirect hops of one pass).
    """

    conveyed_information: int = 16 * MIB
    owner_certificate: int = MIB
    ownership_voucher: int = MIB
    error_document: int = 64 * KIB
    host_meta: int = 64 * KIB
    cms_certificates: int = 16
    cms_crls: int = 16
    path_validations: int = 4
    redirect_servers: int = 16
    redirect_addresses: int = 64

    @property
    def bootstrapping_data_reply(self) -> int:
        """Bytes of a get-bootstrapping-data reply: the three artifacts in base64 (4/3 of
        their size, plus the line breaks D13 allows: 2 bytes per 64) inside a JSON or XML
        wrapper (64 KiB)."""
        artifacts = self.conveyed_information + self.owner_certificate + self.ownership_voucher
        return (artifacts * 4 // 3 + 12) * 66 // 64 + 64 * KIB


__all__ = ["KIB", "MIB", "Limits"]
