"""The pure parts of bootstrap-source discovery (RFC 8572 §4.1-§4.3, §8).

Each module here turns what a source hands over (DHCP option bytes, a lease file's text, DNS
record data, a removable medium's directory listing) into frozen values or a typed error.
None of them opens a socket or reads the clock; only
:func:`sztp_client.discovery.media_layout.resolve_in_medium` looks at the filesystem, to
check where a ``file:`` URI really leads.

* :mod:`.dhcp_option`: the bootstrap-server-list of DHCPv4 option 143 and DHCPv6 option 136.
* :mod:`.dhclient_leases`: ISC dhclient lease files (also NetworkManager's dhclient backend).
* :mod:`.dns_records`: TXT artifacts at ``<serial>._sztp.<domain>`` and SRV ordering.
* :mod:`.media_layout`: the layout of a removable medium and ``file:`` URIs inside it.
"""
