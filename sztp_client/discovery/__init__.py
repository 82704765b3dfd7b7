"""Bootstrap-source discovery (RFC 8572 §4.1-§4.3, §8): where bootstrapping data may be.

:mod:`.sources` defines a discovery source and names the module of each kind;
:mod:`.wiring` builds the sources of ``discovery.order``, importing a kind's module only when
the kind is in the order.  Per kind, the pure decoding (frozen values or a typed error; no
socket, no clock), the I/O, and the source that puts them together:

* DHCP: :mod:`.dhcp_option` (option 143/136's bootstrap-server-list), :mod:`.dhclient_leases`
  (ISC dhclient lease files), :mod:`.dhcp_packets` (the own query's packets) are pure;
  :mod:`.dhcp_files` (lease and drop files), :mod:`.dhcp_query` (the own query) read;
  :mod:`.dhcp_sources` is the source, :mod:`.dhcp_observations` what each place gave.
* DNS: :mod:`.dns_records` (TXT artifacts, SRV order) is pure; :mod:`.dns_query` asks,
  :mod:`.resolv_conf` reads the name servers and domains; :mod:`.dns_findings` turns an
  answer into a finding, :mod:`.dns_sources` holds the four sources, :mod:`.mdns_resolver`
  resolves ``.local`` server names.
* Removable media: :mod:`.media_layout` (the layout, ``file:`` URIs; only
  :func:`~sztp_client.discovery.media_layout.resolve_in_medium` looks at the filesystem) is
  pure; :mod:`.media_devices` finds devices, :mod:`.media_mount` mounts them,
  :mod:`.media_reader` reads a mounted medium; :mod:`.media_source` is the source.

:mod:`.interfaces` (network interfaces) serves DHCP and DNS; :mod:`.errors` all of them.
"""
