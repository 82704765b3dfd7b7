"""The device's identity: its IDevID certificate and the private key that goes with it.

``tpm``: a TPM 2.0 holding the key (through tpm2-pytss, imported only when used).
``tls_key``: client authentication in TLS with that key, for ``ssl.SSLContext``.
``errors``: the typed errors of both.
"""
