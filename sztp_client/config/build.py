"""From the merged TOML document to a :class:`~sztp_client.config.tables.ClientConfig`: each
table read with :class:`~sztp_client.toml_tables.Table` (typed values, unknown keys refused with
the key's name), checked, and relative paths resolved against the main file's directory.  An
invalid value raises ConfigurationError naming the key (exit 78).

Also :func:`check_trust_configuration`, what ``run`` alone needs of the [trust] table.  The
TPM module is imported only when an [identity.tpm] table is given, so that ``status`` never
loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sztp_client.config.tables import (
    ASSERTIONS,
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
from sztp_client.errors import ConfigurationError
from sztp_client.limits import Limits
from sztp_client.toml_tables import Table


def _oid(table: Table, key: str) -> str | None:
    """An optional dotted OID string (e.g. "1.3.6.1.5.5.7.3.2")."""
    value = table.string(key)
    if value is None:
        return None
    from sztp_client.trust.oids import is_dotted_oid  # noqa: PLC0415 - only when an OID is given

    if not is_dotted_oid(value):
        raise ConfigurationError(
            f"'{value}' is not an object identifier in dotted form (e.g. 1.3.6.1.5.5.7.3.3)",
            table.key(key),
        )
    return value


def _nonempty_paths(table: Table, key: str) -> tuple[Path, ...]:
    """An optional list of paths that, when given, is not empty."""
    raw = table.get(key)
    paths = table.paths(key)
    if raw is not None and not paths:
        raise ConfigurationError(
            "is empty; leave the key out or name at least one file", table.key(key)
        )
    return paths


def _check_anchor_lists(
    table: Table, voucher_signer: tuple[Path, ...], manufacturer: tuple[Path, ...]
) -> None:
    """Anchor lists that are given are not empty (an empty list is a mistake, never a policy)."""
    for key, value in (
        ("voucher-signer-trust-anchors", voucher_signer),
        ("manufacturer-trust-anchors", manufacturer),
    ):
        if table.data.get(key) is not None and not value:
            raise ConfigurationError(
                "is empty; name at least one PEM file"
                + (" (or leave the key out)" if key == "manufacturer-trust-anchors" else ""),
                table.key(key),
            )


def check_trust_configuration(trust: TrustConfig) -> None:
    """What ``run`` needs of the [trust] table before any traffic (D27): the voucher-signer
    anchors.  ``status`` and other read-only commands do not call this."""
    if trust.voucher_signer_trust_anchors:
        return
    explained = (
        "is required: name the PEM files of the manufacturer's voucher (MASA) CA, the only "
        "certificates a voucher signer may validate to"
    )
    if trust.manufacturer_trust_anchors:
        explained += (
            ". trust.manufacturer-trust-anchors no longer verifies vouchers: it now names the "
            "CAs that issue IDevIDs. Move the voucher CA to trust.voucher-signer-trust-anchors "
            "and keep only IDevID CAs in trust.manufacturer-trust-anchors (a CA that issues "
            "IDevIDs may not verify vouchers: any device's key could then sign a voucher for "
            "every other device)"
        )
    raise ConfigurationError(explained, "trust.voucher-signer-trust-anchors")


def _ldevid(t: Table) -> LDevIDConfig:
    handle = LDevIDConfig().tpm_handle
    if (raw_handle := t.get("tpm-handle")) is not None:
        from sztp_client.identity import tpm  # noqa: PLC0415 - tpm2-pytss itself is not imported

        handle = tpm.parse_handle(raw_handle, t.key("tpm-handle"))
    result = LDevIDConfig(
        enabled=t.boolean("enabled", False),
        key_file=t.path("key-file"),
        certificate=t.path("certificate"),
        tpm_handle=handle,
    )
    t.finish()
    return result


def _tpm_identity(t: Table) -> TPMIdentityConfig:
    defaults = TPMIdentityConfig()
    if not t.data:  # status and the like never load the TPM module (nor cryptography)
        return defaults
    from sztp_client.identity import tpm  # noqa: PLC0415 - tpm2-pytss itself is not imported

    tcti = tpm.parse_tcti(t.string("tcti", defaults.tcti), t.key("tcti"))
    raw_handle = t.get("key-handle")
    handle = (
        defaults.key_handle
        if raw_handle is None
        else tpm.parse_handle(raw_handle, t.key("key-handle"))
    )
    certificate = t.string("certificate")
    if certificate is not None:
        if tpm.is_nv_reference(certificate):
            tpm.parse_nv_index(certificate, t.key("certificate"))
        else:
            certificate = str(t.base / certificate)
    t.finish()
    return TPMIdentityConfig(tcti=tcti, key_handle=handle, certificate=certificate)


def _discovery_order(table: Table) -> tuple[str, ...]:
    order = table.strings("order", DiscoveryConfig().order)
    for kind in order:
        if kind not in DISCOVERY_KINDS:
            raise ConfigurationError(
                f"unknown source kind '{kind}' (known: {', '.join(DISCOVERY_KINDS)})",
                table.key("order"),
            )
    if len(set(order)) != len(order):
        raise ConfigurationError("names a source kind twice", table.key("order"))
    return order


def _dhcp_discovery(table: Table) -> DhcpDiscoveryConfig:
    d = DhcpDiscoveryConfig()
    found = DhcpDiscoveryConfig(
        lease_files=table.strings("lease-files", d.lease_files),
        drop_dir=table.path("drop-dir") or d.drop_dir,
        query=table.boolean("query", d.query),
    )
    table.finish()
    return found


def _dns_discovery(table: Table) -> DnsDiscoveryConfig:
    found = DnsDiscoveryConfig(domains=table.strings("domains", DnsDiscoveryConfig().domains))
    table.finish()
    return found


def _media_discovery(table: Table) -> MediaDiscoveryConfig:
    d = MediaDiscoveryConfig()
    name = table.string("directory-name", d.directory_name) or d.directory_name
    if "/" in name or name in (".", ".."):
        raise ConfigurationError(
            "is one folder name at the root of the medium", table.key("directory-name")
        )
    found = MediaDiscoveryConfig(
        directory_name=name,
        mount_command=table.strings("mount-command", d.mount_command),
        unmount_command=table.strings("unmount-command", d.unmount_command),
        devices=table.strings("devices", d.devices),
    )
    table.finish()
    for key, command in (
        ("mount-command", found.mount_command),
        ("unmount-command", found.unmount_command),
    ):
        if not command:
            raise ConfigurationError("is empty: name the command", table.key(key))
    return found


def build(
    document: Mapping[str, Any],
    base: Path,
    source: Path | None,
    origins: Mapping[str, Path] | None = None,
) -> ClientConfig:
    top = Table(document, "", base, origins)
    enabled = top.boolean("enabled", ClientConfig().enabled)

    t = top.table("device")
    device = DeviceConfig(
        serial_number=t.string("serial-number"),
        hardware_model=t.string("hardware-model"),
        os_name=t.string("os-name"),
        os_version=t.string("os-version"),
    )
    t.finish()

    t = top.table("identity")
    identity_defaults = IdentityConfig()
    identity = IdentityConfig(
        backend=t.choice("backend", identity_defaults.backend, IDENTITY_BACKENDS),
        certificate=t.path("certificate"),
        key=t.path("key"),
        password_file=t.path("password-file"),
        tpm=_tpm_identity(t.table("tpm")),
        ldevid=_ldevid(t.table("ldevid")),
    )
    t.finish()
    if (identity.certificate is None) != (identity.key is None):
        raise ConfigurationError("certificate and key are given together", "identity")

    t = top.table("trust")
    td = TrustConfig()
    names = t.strings("accept-assertions", tuple(sorted(td.accept_assertions)))
    unknown = [name for name in names if name not in ASSERTIONS]
    if unknown:
        raise ConfigurationError(
            f"unknown assertion ({', '.join(ASSERTIONS)})", t.key("accept-assertions")
        )
    assertions = frozenset(names)
    voucher_signer_anchors = t.paths("voucher-signer-trust-anchors")
    manufacturer_anchors = t.paths("manufacturer-trust-anchors")
    _check_anchor_lists(t, voucher_signer_anchors, manufacturer_anchors)
    trust = TrustConfig(
        clock=t.choice("clock", td.clock, ("trusted", "untrusted")),
        bootstrap_server_trust_anchors=t.paths("bootstrap-server-trust-anchors"),
        voucher_signer_trust_anchors=voucher_signer_anchors,
        manufacturer_trust_anchors=manufacturer_anchors,
        accept_assertions=assertions,
        voucher_signer_extended_key_usage=_oid(t, "voucher-signer-extended-key-usage"),
        voucher_signer_certificate_policy=_oid(t, "voucher-signer-certificate-policy"),
        voucher_signer_pinned_certificates=_nonempty_paths(t, "voucher-signer-pinned-certificates"),
        require_nonce_voucher=t.boolean("require-nonce-voucher", td.require_nonce_voucher),
    )
    t.finish()

    t = top.table("discovery")
    dd = DiscoveryConfig()
    discovery = DiscoveryConfig(
        bootstrap_servers=t.strings("bootstrap-servers", dd.bootstrap_servers),
        max_redirects=t.integer("max-redirects", dd.max_redirects, minimum=0, maximum=10),
        order=_discovery_order(t),
        interfaces=t.strings("interfaces", dd.interfaces),
        dhcp=_dhcp_discovery(t.table("dhcp")),
        dns=_dns_discovery(t.table("dns")),
        media=_media_discovery(t.table("media")),
    )
    t.finish()

    t = top.table("paths")
    defaults = PathsConfig()
    paths = PathsConfig(
        state_dir=t.path("state-dir") or defaults.state_dir,
        run_dir=t.path("run-dir") or defaults.run_dir,
        cache_dir=t.path("cache-dir") or defaults.cache_dir,
        boot_id=t.path("boot-id") or defaults.boot_id,
        os_release=t.path("os-release") or defaults.os_release,
    )
    t.finish()

    t = top.table("image")
    image_defaults = ImageConfig()
    image = ImageConfig(
        installer=t.choice("installer", image_defaults.installer, ("command", "ab-directory")),
        command=t.strings("command", image_defaults.command),
        ab_root=t.path("ab-root") or image_defaults.ab_root,
        timeout=t.number("timeout", image_defaults.timeout),
        min_free=t.integer("min-free", image_defaults.min_free),
        verify_tls=t.boolean("verify-tls", image_defaults.verify_tls),
        reboot_command=t.strings("reboot-command", image_defaults.reboot_command),
    )
    t.finish()

    t = top.table("scripts")
    sd = ScriptsConfig()
    scripts = ScriptsConfig(
        timeout=t.number("timeout", sd.timeout),
        warning_codes=t.integers("warning-codes", sd.warning_codes),
        output_limit=t.integer("output-limit", sd.output_limit, minimum=1024),
    )
    t.finish()

    t = top.table("configuration")
    cd = ConfigurationConfig()
    configuration = ConfigurationConfig(
        applier=t.choice("applier", cd.applier, ("command", "file")),
        commit_command=t.strings("commit-command", cd.commit_command),
        rollback_command=t.strings("rollback-command", cd.rollback_command),
        file=t.path("file", cd.file),
        timeout=t.number("timeout", cd.timeout),
    )
    t.finish()
    if configuration.applier == "file" and configuration.file is None:
        raise ConfigurationError("the file applier needs configuration.file", "configuration.file")

    t = top.table("bootstrap-complete")
    completion = CompletionConfig(
        ssh_host_keys=t.paths("ssh-host-keys"),
        trust_anchor_certs=t.paths("trust-anchor-certs"),
    )
    t.finish()

    t = top.table("network")
    nd = NetworkConfig()
    network = NetworkConfig(
        connect_timeout=t.number("connect-timeout", nd.connect_timeout),
        read_timeout=t.number("read-timeout", nd.read_timeout),
        encoding=t.choice("encoding", nd.encoding, ("json", "xml")),
    )
    t.finish()

    t = top.table("limits")
    ld = Limits()
    limits = Limits(
        conveyed_information=t.integer("conveyed-information", ld.conveyed_information, 1024),
        owner_certificate=t.integer("owner-certificate", ld.owner_certificate, 1024),
        ownership_voucher=t.integer("ownership-voucher", ld.ownership_voucher, 1024),
        error_document=t.integer("error-document", ld.error_document, 1024),
        host_meta=t.integer("host-meta", ld.host_meta, 1024),
        cms_certificates=t.integer("cms-certificates", ld.cms_certificates, 1, 1024),
        cms_crls=t.integer("cms-crls", ld.cms_crls, 0, 1024),
        path_validations=t.integer("path-validations", ld.path_validations, 1, 256),
        redirect_servers=t.integer("redirect-servers", ld.redirect_servers, 1, 1024),
        redirect_addresses=t.integer("redirect-addresses", ld.redirect_addresses, 1, 4096),
    )
    t.finish()

    t = top.table("retry")
    rd = RetryConfig()
    retry = RetryConfig(
        initial=t.number("initial", rd.initial), maximum=t.number("maximum", rd.maximum)
    )
    t.finish()
    top.finish()

    return ClientConfig(
        source=source,
        enabled=enabled,
        device=device,
        identity=identity,
        trust=trust,
        discovery=discovery,
        paths=paths,
        image=image,
        scripts=scripts,
        configuration=configuration,
        bootstrap_complete=completion,
        network=network,
        limits=limits,
        retry=retry,
    )
