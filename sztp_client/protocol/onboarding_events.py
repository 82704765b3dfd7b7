"""The onboarding machine's names: its states and steps, the events it takes, its actions.

The rules that connect them are in :mod:`sztp_client.protocol.onboarding`.  The events the
runner feeds :class:`~sztp_client.protocol.onboarding.OnboardingMachine` say what
it observed; the actions the machine answers with say what the runner must do next.  The
internal events at the end of the events section are fed by the machine to itself, never by the
runner: they name the branch taken where the next state depends on the data (see the table in
:mod:`sztp_client.protocol.onboarding`).  Pure data, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sztp_client.errors import InternalError, SZTPError
from sztp_client.model.conveyed import OnboardingInformation, RedirectInformation
from sztp_client.progress import ProgressType
from sztp_client.trust.verifier import VerifiedData


class ProtocolError(InternalError):
    """An event arrived that the current state has no transition for (a bug in the runner)."""


class OnboardingState(enum.StrEnum):
    RECEIVED = "received"
    VERIFYING = "verifying"
    VERIFIED = "verified"  # passed through: the kind of data picks the way on
    INITIATING = "initiating"
    BOOT_IMAGE = "boot-image"
    PRE_SCRIPT = "pre-script"
    CONFIG = "config"
    POST_SCRIPT = "post-script"
    COMPLETING = "completing"
    # terminal states
    REDIRECTED = "redirected"
    REBOOTING = "rebooting"
    COMPLETE = "complete"
    FAILED = "failed"


TERMINAL = frozenset(
    {
        OnboardingState.REDIRECTED,
        OnboardingState.REBOOTING,
        OnboardingState.COMPLETE,
        OnboardingState.FAILED,
    }
)


class OnboardingStep(enum.StrEnum):
    """The onboarding steps, in RFC order (R-063)."""

    BOOT_IMAGE = "boot-image"
    PRE_SCRIPT = "pre-script"
    CONFIG = "config"
    POST_SCRIPT = "post-script"


# --- events: what the runner observed ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Bootstrapping data was obtained; verify it."""


@dataclass(frozen=True, slots=True)
class Verified:
    data: VerifiedData


@dataclass(frozen=True, slots=True)
class VerificationFailed:
    error: SZTPError


@dataclass(frozen=True, slots=True)
class ReportAcknowledged:
    progress_type: ProgressType


@dataclass(frozen=True, slots=True)
class ReportRejected:
    progress_type: ProgressType
    error: SZTPError


@dataclass(frozen=True, slots=True)
class ImageUpToDate:
    reason: str


@dataclass(frozen=True, slots=True)
class ImageInstalled:
    sha256: bytes


@dataclass(frozen=True, slots=True)
class StepSucceeded:
    """A script ran (``warning`` when it asked for one) or the configuration was committed."""

    step: OnboardingStep
    warning: bool = False
    output: str = ""


@dataclass(frozen=True, slots=True)
class StepFailed:
    step: OnboardingStep
    error: SZTPError


Event = (
    Start
    | Verified
    | VerificationFailed
    | ReportAcknowledged
    | ReportRejected
    | ImageUpToDate
    | ImageInstalled
    | StepSucceeded
    | StepFailed
)


# --- internal events: the branch the machine takes on its own ---------------------------------


@dataclass(frozen=True, slots=True)
class RedirectVerified:
    """The verified data is redirect information (R-057)."""

    information: RedirectInformation


@dataclass(frozen=True, slots=True)
class OnboardingVerified:
    """The verified data is onboarding information (R-063)."""

    information: OnboardingInformation


@dataclass(frozen=True, slots=True)
class StepAbsent:
    """The onboarding information has nothing for this step: go on to the next one (R-063)."""

    step: OnboardingStep


@dataclass(frozen=True, slots=True)
class NotReporting:
    """The bootstrap server is not trusted, so this report is not sent (R-066)."""


InternalEvent = RedirectVerified | OnboardingVerified | StepAbsent | NotReporting
INTERNAL_EVENTS: frozenset[type] = frozenset(
    {RedirectVerified, OnboardingVerified, StepAbsent, NotReporting}
)


# --- actions: what the runner must do ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verify:
    pass


@dataclass(frozen=True, slots=True)
class SendReport:
    """POST report-progress.  With ``acknowledge`` the runner feeds back ReportAcknowledged or
    ReportRejected; otherwise a failure is only logged."""

    progress_type: ProgressType
    message: str | None = None
    acknowledge: bool = False


@dataclass(frozen=True, slots=True)
class ProcessImage:
    """Decide whether the image is needed; if so download, verify and install it."""

    information: OnboardingInformation


@dataclass(frozen=True, slots=True)
class RunScript:
    step: OnboardingStep
    script: bytes


@dataclass(frozen=True, slots=True)
class CommitConfiguration:
    information: OnboardingInformation


@dataclass(frozen=True, slots=True)
class RollbackConfiguration:
    pass


@dataclass(frozen=True, slots=True)
class KeepConfiguration:
    """Success: forget the saved previous configuration."""


@dataclass(frozen=True, slots=True)
class Reboot:
    sha256: bytes


@dataclass(frozen=True, slots=True)
class FollowRedirect:
    information: RedirectInformation
    trusted: bool


@dataclass(frozen=True, slots=True)
class Finish:
    outcome: OnboardingState
    error: SZTPError | None = None


@dataclass(frozen=True, slots=True)
class StepStarted:
    """For the timeline and status: a step begins (no I/O needed)."""

    step: OnboardingStep


@dataclass(frozen=True, slots=True)
class StepEnded:
    step: OnboardingStep
    outcome: str
    message: str = ""


Action = (
    Verify
    | SendReport
    | ProcessImage
    | RunScript
    | CommitConfiguration
    | RollbackConfiguration
    | KeepConfiguration
    | Reboot
    | FollowRedirect
    | Finish
    | StepStarted
    | StepEnded
)
