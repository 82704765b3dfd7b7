"""The client's configuration: a TOML file plus drop-ins, read into one immutable ``ClientConfig``.

The main file (default ``/etc/sztp/client.toml``) is read first, then every ``*.toml`` in the
drop-in directory beside it (``client.toml.d/``) in name order; tables merge key by key and a
later value replaces an earlier one (D21).  Unknown keys are errors, so a typo never passes
silently: the message names the file the key is in and suggests the nearest valid key.
Relative paths are taken relative to the directory of the main file, so an image
builder or a test can keep a whole device under one scratch root.  Every key, with its default,
is documented in docs/configuration.md.  An invalid file raises ConfigurationError naming the
key (exit 78).

The package: :mod:`~sztp_client.config.tables` (one record per table, with the defaults),
:mod:`~sztp_client.config.build` (the document read into those records and checked) and
:mod:`~sztp_client.config.loader` (the files found, read and merged).  Import the names from
here: ``from sztp_client.config import ClientConfig, load_config``.
"""

from sztp_client.config.build import check_trust_configuration
from sztp_client.config.loader import load_config, parse_config
from sztp_client.config.tables import (
    ASSERTIONS,
    DEFAULT_CONFIG,
    DISCOVERY_KINDS,
    IDENTITY_BACKENDS,
    ClientConfig,
    CompletionConfig,
    ConfigurationConfig,
    DeviceConfig,
    DhcpDiscoveryConfig,
    DiscoveryConfig,
    DnsDiscoveryConfig,
    IdentityConfig,
    ImageConfig,
    LDevIDConfig,
    MediaDiscoveryConfig,
    NetworkConfig,
    PathsConfig,
    RetryConfig,
    ScriptsConfig,
    TPMIdentityConfig,
    TrustConfig,
)

__all__ = [
    "ASSERTIONS",
    "DEFAULT_CONFIG",
    "DISCOVERY_KINDS",
    "IDENTITY_BACKENDS",
    "ClientConfig",
    "CompletionConfig",
    "ConfigurationConfig",
    "DeviceConfig",
    "DhcpDiscoveryConfig",
    "DiscoveryConfig",
    "DnsDiscoveryConfig",
    "IdentityConfig",
    "ImageConfig",
    "LDevIDConfig",
    "MediaDiscoveryConfig",
    "NetworkConfig",
    "PathsConfig",
    "RetryConfig",
    "ScriptsConfig",
    "TPMIdentityConfig",
    "TrustConfig",
    "check_trust_configuration",
    "load_config",
    "parse_config",
]
