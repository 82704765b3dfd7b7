"""The device's identity: its IDevID certificate and the private key that goes with it.

``base``: the interface the rest of the client uses, the file and TPM identities, and
``build_identity`` (which picks one).  For a TPM (imported only then): ``tpm`` (the connection
through tpm2-pytss), ``tpm_key`` (a key's private operations), ``tpm_certs`` (the certificate
chain from a PEM file or an NV index), ``tls_key`` with ``tls_mechanism`` (TLS client
authentication with the TPM key, for ``ssl.SSLContext``), ``ldevid_tpm`` (RFC 9646 LDevID keys
made in the TPM) and ``attest`` (PCRs and quotes).  ``errors``: the typed errors of all.
"""
