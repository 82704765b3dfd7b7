"""One hierarchy for every error the client raises on purpose.

Each class knows three things an operator or the runner needs (D20):

* ``progress_type``: the RFC 8572 progress report this failure is reported as to a trusted
  bootstrap server (``None`` when it is not reported at all);
* ``retryable``: whether trying the same thing again later may succeed;
* ``exit_code``: the command-line exit status (64 usage, 65 data, 66 input file, 69 nothing
  found, 70 internal, 75 temporary or another run holds the lock, 77 permission denied,
  78 configuration; 130 and 143 after SIGINT and SIGTERM).

Each class also carries a ``diagnosis``: advice to the operator on what to check, shown by
``sztp-client status``; a class without its own inherits its parent's (along the MRO).

Messages say what failed and what to check.  They never contain secrets.
"""

from __future__ import annotations

from typing import ClassVar

from sztp_client.progress import ProgressType

EXIT_OK = 0
EXIT_USAGE = 64
EXIT_DATAERR = 65
EXIT_NOINPUT = 66
EXIT_UNAVAILABLE = 69
EXIT_SOFTWARE = 70
EXIT_TEMPFAIL = 75
EXIT_NOPERM = 77
EXIT_CONFIG = 78


class SZTPError(Exception):
    """Base of every error raised on purpose by sztp_client."""

    progress_type: ClassVar[ProgressType | None] = ProgressType.BOOTSTRAP_ERROR
    retryable: ClassVar[bool] = False
    exit_code: ClassVar[int] = EXIT_SOFTWARE
    diagnosis: ClassVar[str] = "see the message"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def reported_as(self) -> ProgressType | None:
        """The progress type this error is reported as to a trusted bootstrap server."""
        return self.progress_type


class UsageError(SZTPError):
    """The command line or an argument value is wrong."""

    progress_type = None
    exit_code = EXIT_USAGE


class InputFileError(SZTPError):
    """An input file named on the command line is missing or unreadable."""

    progress_type = None
    exit_code = EXIT_NOINPUT


class ConfigurationError(SZTPError):
    """The client's configuration is invalid; the message names the key."""

    diagnosis = "fix the named key in the client configuration"

    progress_type = None
    exit_code = EXIT_CONFIG

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class PermissionDeniedError(SZTPError):
    """A path or device the client needs may not be used by it (EX_NOPERM, exit 77).

    Raised at start-up, before any traffic, when a directory cannot be created or read, or a
    file cannot be read, for lack of permission; the message names the path and the key.
    """

    progress_type = None
    exit_code = EXIT_NOPERM

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class AlreadyRunningError(SZTPError):
    """Another ``sztp-client run`` holds the run lock; trying later may succeed (exit 75)."""

    progress_type = None
    retryable = True
    exit_code = EXIT_TEMPFAIL

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived: the run ends at once, running every cleanup on the way.

    A ``BaseException`` like ``KeyboardInterrupt``, so that no ``except Exception`` or
    ``except SZTPError`` on the way turns it into an onboarding failure; every ``finally``
    still runs (partial downloads removed, child processes killed).  The exit status is
    128 + the signal number (130 for SIGINT, 143 for SIGTERM).
    """

    progress_type: ClassVar[ProgressType | None] = None
    retryable: ClassVar[bool] = True

    def __init__(self, signal_number: int, name: str) -> None:
        super().__init__(f"interrupted by {name}")
        self.signal_number = signal_number
        self.name = name
        self.message = f"interrupted by {name}"

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number


class InternalError(SZTPError):
    """A bug: something that should not happen did."""

    exit_code = EXIT_SOFTWARE


class DataError(SZTPError):
    """Data received from a source is malformed, too large or not trustworthy (parsing-error).

    ``step`` names the verification step that refused the data, once known (see
    ``sztp_client.trust.steps.Step``); the verification pipeline fills it in.
    """

    progress_type = ProgressType.PARSING_ERROR
    exit_code = EXIT_DATAERR
    step: str | None = None


class SizeLimitError(DataError):
    """An input is larger than its configured bound (D19)."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(
            f"{what} is {size} bytes, over the limit of {limit} bytes; "
            "check the artifact or raise the size bound in the configuration"
        )
        self.what = what
        self.size = size
        self.limit = limit


class FileTooLargeError(SizeLimitError):
    """A file is bigger than the bound it is read with (it is refused, never truncated)."""

    diagnosis = "the named file is larger than the client reads: check that it is the right file"

    def __init__(self, path: object, what: str, size: int, limit: int) -> None:
        DataError.__init__(
            self, f"{what} {path} is {size} bytes, larger than the limit of {limit} bytes"
        )
        self.what = f"{what} {path}"
        self.size = size
        self.limit = limit
        self.path = path


class ModelError(DataError):
    """A document does not satisfy its YANG data model; ``field`` names the offending node."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class EncodingError(DataError):
    """Bytes that should be JSON, XML, base64, hex or DER are not."""


class CMSError(DataError):
    """A CMS structure is malformed, of the wrong content type or layered wrongly."""


class EncryptedContentError(CMSError):
    """The artifact is encrypted (EnvelopedData) and no device identity can decrypt it."""


class TrustError(DataError):
    """Signed data failed a verification step.

    ``step`` is a stable, machine-readable name of the step that failed (see
    ``sztp_client.trust.steps.Step``).
    """

    diagnosis = (
        "the data is not proven trustworthy: run `sztp-client verify` on the artifacts to see "
        "which step fails"
    )

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


class VerificationFailure(DataError):
    """An unexpected failure (not one of the project's own errors) while verifying data from
    one source (D28).  The data is refused as untrustworthy and the next source is tried; the
    message names the step and the failure, never a traceback."""

    def __init__(self, step: str | None, cause: BaseException) -> None:
        where = f" at step {step}" if step else ""
        detail = str(cause).splitlines()[0][:200] if str(cause) else ""
        super().__init__(
            f"internal failure while verifying the data{where} "
            f"({type(cause).__name__}{': ' + detail if detail else ''}); the data is refused"
        )
        self.step = step or "internal"


class SourceTrustError(DataError):
    """A source delivered a kind of data it is not allowed to deliver (RFC 8572 §5.3, R-025)."""

    diagnosis = "unsigned onboarding information came from an untrusted source"


class TransportError(SZTPError):
    """Talking to a bootstrap server or a file server failed; trying again later may help."""

    progress_type = None
    retryable = True
    exit_code = EXIT_TEMPFAIL


class ConnectError(TransportError):
    """No TCP connection, or the connection broke or timed out."""

    diagnosis = "check that the server is reachable (address, port, routes, firewall)"


class TLSError(TransportError):
    """The TLS handshake failed: most often the server certificate does not validate to the
    trust anchors in use (check the bootstrap-server trust anchors and the clock mode)."""

    diagnosis = (
        "check the bootstrap-server trust anchors, the server certificate's names and the clock "
        "mode"
    )


class ServerCertificateError(TLSError):
    """The server's certificate does not validate to the bootstrap-server trust anchors."""

    diagnosis = (
        "the server's certificate does not validate to the bootstrap-server trust anchors: "
        "check the anchors, the names in the server certificate and the clock mode"
    )


class TLSAlertError(TLSError):
    """The server ended the TLS handshake with an alert: it refused the device certificate."""

    diagnosis = (
        "the server refused the device certificate: check the IDevID (identity.certificate, "
        "with its intermediates) and that the server trusts the IDevID's CA"
    )


class ConnectionDroppedError(ConnectError):
    """The server closed the connection right after the TLS handshake, without an answer,
    while the device had sent its client certificate: the server may have refused it."""

    diagnosis = (
        "the server closed the connection right after the TLS handshake: it may have refused "
        "the device certificate; check the IDevID and that the server trusts its CA"
    )


class ServerError(TransportError):
    """A server answered with an HTTP error; RESTCONF error documents are parsed (D8)."""

    diagnosis = "the server refused the request: check its log and the device's identity"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_tag: str | None = None,
        error_message: str | None = None,
        error_info: object = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_tag = error_tag
        self.error_message = error_message
        self.error_info = error_info


class MediaTypeError(ServerError):
    """The server answered 406 Not Acceptable or 415 Unsupported Media Type: it does not
    serve the media type the client sends (``network.encoding``).  Trying that server again
    gives the same answer; the pass goes on to the next server (D29)."""

    retryable = False
    diagnosis = (
        "the client and the server disagree on the media type (Accept or Content-Type): "
        "set network.encoding to the encoding the server serves (json or xml)"
    )


class ReportRejectedError(TransportError):
    """A progress report was answered with anything but 204 No Content (R-067, R-078)."""

    diagnosis = "the bootstrap server did not accept a progress report with 204"

    retryable = False

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class BootImageError(SZTPError):
    """The boot image could not be downloaded, verified or installed (boot-image-error)."""

    diagnosis = "check the download URIs, the image hash and the installer"

    progress_type = ProgressType.BOOT_IMAGE_ERROR
    exit_code = EXIT_TEMPFAIL
    retryable = True


class ScriptError(SZTPError):
    """A pre- or post-configuration script failed: status, signal or timeout (D3)."""

    diagnosis = "the script's output tail is in the message"

    exit_code = EXIT_DATAERR

    def __init__(self, stage: str, message: str, output: str = "") -> None:
        # D4: the tail of the script's output goes into the progress report's message
        super().__init__(f"{message}; output:\n{output}" if output else message)
        self.stage = stage
        self.output = output

    def reported_as(self) -> ProgressType:
        if self.stage == "pre":
            return ProgressType.PRE_SCRIPT_ERROR
        return ProgressType.POST_SCRIPT_ERROR


class ConfigApplyError(SZTPError):
    """The configuration could not be committed, or a rollback failed (config-error)."""

    diagnosis = "check the configuration applier's commands and the configuration"

    progress_type = ProgressType.CONFIG_ERROR
    exit_code = EXIT_DATAERR


class CSRRequestError(DataError):
    """A bootstrap server's RFC 9646 csr-request cannot be honoured (an algorithm or format
    the device did not offer, a cert-req-info whose key algorithm differs from the selected
    one, or malformed content); no CSR is sent."""

    diagnosis = "the bootstrap server asked for a certificate request the device did not offer"
