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
from typing import TYPE_CHECKING

import msgspec

from sztp_client.errors import InternalError

if TYPE_CHECKING:  # the records' field types only
    from sztp_client.errors import SZTPError
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


class Start(msgspec.Struct, frozen=True):
    """Bootstrapping data was obtained; verify it."""


class Verified(msgspec.Struct, frozen=True):
    data: VerifiedData


class VerificationFailed(msgspec.Struct, frozen=True):
    error: SZTPError


class ReportAcknowledged(msgspec.Struct, frozen=True):
    progress_type: ProgressType


class ReportRejected(msgspec.Struct, frozen=True):
    progress_type: ProgressType
    error: SZTPError


class ImageUpToDate(msgspec.Struct, frozen=True):
    reason: str


class ImageInstalled(msgspec.Struct, frozen=True):
    sha256: bytes


class StepSucceeded(msgspec.Struct, frozen=True):
    """A script ran (``warning`` when it asked for one) or the configuration was committed."""

    step: OnboardingStep
    warning: bool = False
    output: str = ""


class StepFailed(msgspec.Struct, frozen=True):
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


class RedirectVerified(msgspec.Struct, frozen=True):
    """The verified data is redirect information (R-057)."""

    information: RedirectInformation


class OnboardingVerified(msgspec.Struct, frozen=True):
    """The verified data is onboarding information (R-063)."""

    information: OnboardingInformation


class StepAbsent(msgspec.Struct, frozen=True):
    """The onboarding information has nothing for this step: go on to the next one (R-063)."""

    step: OnboardingStep


class NotReporting(msgspec.Struct, frozen=True):
    """The bootstrap server is not trusted, so this report is not sent (R-066)."""


InternalEvent = RedirectVerified | OnboardingVerified | StepAbsent | NotReporting
INTERNAL_EVENTS: frozenset[type] = frozenset(
    {RedirectVerified, OnboardingVerified, StepAbsent, NotReporting}
)


# --- actions: what the runner must do ---------------------------------------------------------


class Verify(msgspec.Struct, frozen=True):
    pass


class SendReport(msgspec.Struct, frozen=True):
    """POST report-progress.  With ``acknowledge`` the runner feeds back ReportAcknowledged or
    ReportRejected; otherwise a failure is only logged."""

    progress_type: ProgressType
    message: str | None = None
    acknowledge: bool = False


class ProcessImage(msgspec.Struct, frozen=True):
    """Decide whether the image is needed; if so download, verify and install it."""

    information: OnboardingInformation


class RunScript(msgspec.Struct, frozen=True):
    step: OnboardingStep
    script: bytes


class CommitConfiguration(msgspec.Struct, frozen=True):
    information: OnboardingInformation


class RollbackConfiguration(msgspec.Struct, frozen=True):
    pass


class KeepConfiguration(msgspec.Struct, frozen=True):
    """Success: forget the saved previous configuration."""


class Reboot(msgspec.Struct, frozen=True):
    sha256: bytes


class FollowRedirect(msgspec.Struct, frozen=True):
    information: RedirectInformation
    trusted: bool


class Finish(msgspec.Struct, frozen=True):
    outcome: OnboardingState
    error: SZTPError | None = None


class StepStarted(msgspec.Struct, frozen=True):
    """For the timeline and status: a step begins (no I/O needed)."""

    step: OnboardingStep


class StepEnded(msgspec.Struct, frozen=True):
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
