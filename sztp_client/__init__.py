"""sztp-client: a Secure Zero Touch Provisioning (RFC 8572) client."""

__version__ = "0.1.0"
