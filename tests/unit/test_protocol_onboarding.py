"""The §5.3-§5.6 state table, event by event (R-063..R-068, R-072, R-078, R-080).

Each test drives the machine with the events a runner would observe and checks the actions
and the whole state after each step.
"""

from __future__ import annotations

import pytest

from sztp_client.errors import (
    BootImageError,
    ConfigApplyError,
    ReportRejectedError,
    ScriptError,
    TrustError,
)
from sztp_client.model.conveyed import (
    BootImage,
    BootstrapServer,
    ConfigurationHandling,
    ImageVerification,
    OnboardingInformation,
    RedirectInformation,
)
from sztp_client.model.rpc import ReportingLevel
from sztp_client.progress import ProgressType as P
from sztp_client.protocol import onboarding as m
from sztp_client.trust import oids
from sztp_client.trust.verifier import VerifiedData

IMAGE = BootImage(
    os_name="LabOS",
    os_version="2",
    download_uris=("https://images.example/os.img",),
    image_verifications=(ImageVerification("ietf-sztp-conveyed-info:sha-256", bytes(32)),),
)
FULL = OnboardingInformation(
    boot_image=IMAGE,
    configuration_handling=ConfigurationHandling.MERGE,
    pre_configuration_script=b"#!/bin/sh\n",
    configuration=b"<config/>",
    post_configuration_script=b"#!/bin/sh\n",
)
CONFIG_ONLY = OnboardingInformation(
    boot_image=None,
    configuration_handling=ConfigurationHandling.REPLACE,
    pre_configuration_script=None,
    configuration=b"{}",
    post_configuration_script=None,
)
REDIRECT = RedirectInformation((BootstrapServer("sztp.example", 443, None),))


def verified(info: object, signed: bool = True) -> VerifiedData:
    return VerifiedData(info, signed, False, oids.ID_CT_SZTP_CONVEYED_INFO_JSON)  # type: ignore[arg-type]


def reports(actions: list[m.Action]) -> list[P]:
    return [a.progress_type for a in actions if isinstance(a, m.SendReport)]


def kinds(actions: list[m.Action]) -> list[str]:
    return [type(a).__name__ for a in actions]


def drive_to_image(
    machine: m.OnboardingMachine, info: OnboardingInformation = FULL
) -> list[m.Action]:
    assert machine.handle(m.Start()) == [m.Verify()]
    actions = machine.handle(m.Verified(verified(info)))
    if machine.reports:
        assert reports(actions) == [P.BOOTSTRAP_INITIATED]
        actions = machine.handle(m.ReportAcknowledged(P.BOOTSTRAP_INITIATED))
    return actions


def test_minimal_trusted_full_run_reports_initiated_and_complete_only() -> None:
    """R-063, R-064: RFC order; at minimal level only bootstrap-initiated and one terminating
    report."""
    machine = m.OnboardingMachine(reports=True)
    sent: list[P] = []
    actions = drive_to_image(machine)
    sent.append(P.BOOTSTRAP_INITIATED)
    assert machine.state is m.OnboardingState.BOOT_IMAGE
    assert kinds(actions) == ["StepStarted", "ProcessImage"]
    actions = machine.handle(m.ImageUpToDate("running"))
    assert machine.state is m.OnboardingState.PRE_SCRIPT
    assert isinstance(actions[-1], m.RunScript) and actions[-1].step is m.OnboardingStep.PRE_SCRIPT
    actions = machine.handle(m.StepSucceeded(m.OnboardingStep.PRE_SCRIPT))
    assert machine.state is m.OnboardingState.CONFIG
    assert isinstance(actions[-1], m.CommitConfiguration)
    actions = machine.handle(m.StepSucceeded(m.OnboardingStep.CONFIG))
    assert machine.committed
    assert machine.state is m.OnboardingState.POST_SCRIPT
    actions = machine.handle(m.StepSucceeded(m.OnboardingStep.POST_SCRIPT))
    assert machine.state is m.OnboardingState.COMPLETING
    assert actions[-1] == m.SendReport(P.BOOTSTRAP_COMPLETE, None, acknowledge=True)
    sent += reports(actions)
    actions = machine.handle(m.ReportAcknowledged(P.BOOTSTRAP_COMPLETE))
    assert machine.state is m.OnboardingState.COMPLETE and machine.finished
    assert actions == [m.KeepConfiguration(), m.Finish(m.OnboardingState.COMPLETE)]
    assert sent == [P.BOOTSTRAP_INITIATED, P.BOOTSTRAP_COMPLETE]


def test_verbose_reports_every_step() -> None:
    """R-065: verbose adds initiated/complete for every step present."""
    machine = m.OnboardingMachine(reports=True, reporting_level=ReportingLevel.VERBOSE)
    sent = [P.BOOTSTRAP_INITIATED]
    sent += reports(drive_to_image(machine))
    sent += reports(machine.handle(m.ImageUpToDate("running")))
    sent += reports(
        machine.handle(m.StepSucceeded(m.OnboardingStep.PRE_SCRIPT, warning=True, output="w"))
    )
    sent += reports(machine.handle(m.StepSucceeded(m.OnboardingStep.CONFIG)))
    sent += reports(machine.handle(m.StepSucceeded(m.OnboardingStep.POST_SCRIPT)))
    assert sent == [
        P.BOOTSTRAP_INITIATED,
        P.BOOT_IMAGE_INITIATED,
        P.BOOT_IMAGE_COMPLETE,
        P.PRE_SCRIPT_INITIATED,
        P.PRE_SCRIPT_WARNING,
        P.PRE_SCRIPT_COMPLETE,
        P.CONFIG_INITIATED,
        P.CONFIG_COMPLETE,
        P.POST_SCRIPT_INITIATED,
        P.POST_SCRIPT_COMPLETE,
        P.BOOTSTRAP_COMPLETE,
    ]


def test_untrusted_server_gets_no_reports() -> None:
    """R-066: onboarding from an untrusted server (signed) sends no progress report at all."""
    machine = m.OnboardingMachine(reports=False, reporting_level=ReportingLevel.VERBOSE)
    everything: list[m.Action] = machine.handle(m.Start())
    everything += machine.handle(m.Verified(verified(FULL)))
    everything += machine.handle(m.ImageUpToDate("running"))
    everything += machine.handle(m.StepSucceeded(m.OnboardingStep.PRE_SCRIPT))
    everything += machine.handle(m.StepSucceeded(m.OnboardingStep.CONFIG))
    everything += machine.handle(m.StepSucceeded(m.OnboardingStep.POST_SCRIPT))
    assert reports(everything) == []
    assert machine.state is m.OnboardingState.COMPLETE


def test_absent_steps_are_skipped() -> None:
    machine = m.OnboardingMachine(reports=True)
    actions = drive_to_image(machine, CONFIG_ONLY)
    assert machine.state is m.OnboardingState.CONFIG
    assert isinstance(actions[-1], m.CommitConfiguration)


def test_redirect_ends_with_follow() -> None:
    """R-057: redirect information is followed; no reports for it."""
    machine = m.OnboardingMachine(reports=True)
    machine.handle(m.Start())
    actions = machine.handle(m.Verified(verified(REDIRECT, signed=False)))
    assert actions == [
        m.FollowRedirect(REDIRECT, trusted=True),
        m.Finish(m.OnboardingState.REDIRECTED),
    ]
    assert machine.state is m.OnboardingState.REDIRECTED


def test_untrusted_unsigned_redirect_is_untrusted() -> None:
    """R-026, R-061: an unsigned redirect from an untrusted source carries no trust."""
    machine = m.OnboardingMachine(reports=False)
    machine.handle(m.Start())
    actions = machine.handle(m.Verified(verified(REDIRECT, signed=False)))
    assert actions[0] == m.FollowRedirect(REDIRECT, trusted=False)


def test_signed_redirect_from_untrusted_source_is_trusted() -> None:
    """R-021: signed data that verified sets trust-state TRUE."""
    machine = m.OnboardingMachine(reports=False)
    machine.handle(m.Start())
    actions = machine.handle(m.Verified(verified(REDIRECT, signed=True)))
    assert actions[0] == m.FollowRedirect(REDIRECT, trusted=True)


def test_verification_failure_trusted_reports_parsing_error() -> None:
    """R-040, R-068: bootstrap-initiated then parsing-error; nothing else happens."""
    machine = m.OnboardingMachine(reports=True)
    machine.handle(m.Start())
    error = TrustError("voucher-serial-number", "not this device")
    actions = machine.handle(m.VerificationFailed(error))
    assert reports(actions) == [P.BOOTSTRAP_INITIATED, P.PARSING_ERROR]
    assert actions[-1] == m.Finish(m.OnboardingState.FAILED, error)
    assert not any(
        isinstance(a, m.ProcessImage | m.RunScript | m.CommitConfiguration) for a in actions
    )


def test_verification_failure_untrusted_reports_nothing() -> None:
    machine = m.OnboardingMachine(reports=False)
    machine.handle(m.Start())
    actions = machine.handle(m.VerificationFailed(TrustError("source", "unsigned")))
    assert reports(actions) == []
    assert machine.state is m.OnboardingState.FAILED


def test_initiated_rejected() -> None:
    """R-067: a non-204 answer to bootstrap-initiated: bootstrap-error and stop."""
    machine = m.OnboardingMachine(reports=True)
    machine.handle(m.Start())
    machine.handle(m.Verified(verified(FULL)))
    error = ReportRejectedError("200 instead of 204", status=200)
    actions = machine.handle(m.ReportRejected(P.BOOTSTRAP_INITIATED, error))
    assert reports(actions) == [P.BOOTSTRAP_ERROR]
    assert not any(isinstance(a, m.ProcessImage) for a in actions)
    assert machine.state is m.OnboardingState.FAILED


def test_image_installed_reboots() -> None:
    """R-072: boot-image-installed-rebooting, then reboot; nothing else."""
    machine = m.OnboardingMachine(reports=True)
    drive_to_image(machine)
    actions = machine.handle(m.ImageInstalled(b"\x01" * 32))
    assert reports(actions) == [P.BOOT_IMAGE_INSTALLED_REBOOTING]
    assert kinds(actions)[-2:] == ["Reboot", "Finish"]
    assert machine.state is m.OnboardingState.REBOOTING


def test_image_error() -> None:
    """R-073: boot-image-error, no script, no configuration."""
    machine = m.OnboardingMachine(reports=True)
    drive_to_image(machine)
    actions = machine.handle(
        m.StepFailed(m.OnboardingStep.BOOT_IMAGE, BootImageError("hash mismatch"))
    )
    assert reports(actions) == [P.BOOT_IMAGE_ERROR]
    assert machine.state is m.OnboardingState.FAILED


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (m.OnboardingStep.PRE_SCRIPT, P.PRE_SCRIPT_ERROR),
        (m.OnboardingStep.POST_SCRIPT, P.POST_SCRIPT_ERROR),
    ],
)
def test_script_errors(step: m.OnboardingStep, expected: P) -> None:
    """R-074, R-076: script errors are reported by stage; a post-script error after the commit
    rolls the configuration back first (R-080)."""
    machine = m.OnboardingMachine(reports=True)
    drive_to_image(machine)
    machine.handle(m.ImageUpToDate("running"))
    if step is m.OnboardingStep.POST_SCRIPT:
        machine.handle(m.StepSucceeded(m.OnboardingStep.PRE_SCRIPT))
        machine.handle(m.StepSucceeded(m.OnboardingStep.CONFIG))
    stage = "pre" if step is m.OnboardingStep.PRE_SCRIPT else "post"
    actions = machine.handle(m.StepFailed(step, ScriptError(stage, "exit 3", "out")))
    assert reports(actions) == [expected]
    rolled = [a for a in actions if isinstance(a, m.RollbackConfiguration)]
    assert bool(rolled) == (step is m.OnboardingStep.POST_SCRIPT)
    if rolled:
        assert kinds(actions).index("RollbackConfiguration") < kinds(actions).index("SendReport")


def test_config_error_not_rolled_back_when_not_committed() -> None:
    """R-075: a failed commit is reported as config-error; nothing was committed to undo."""
    machine = m.OnboardingMachine(reports=True)
    drive_to_image(machine, CONFIG_ONLY)
    actions = machine.handle(m.StepFailed(m.OnboardingStep.CONFIG, ConfigApplyError("bad")))
    assert reports(actions) == [P.CONFIG_ERROR]
    assert not any(isinstance(a, m.RollbackConfiguration) for a in actions)


def test_complete_rejected_rolls_back() -> None:
    """R-078, R-080: 200 to bootstrap-complete: roll back, then bootstrap-error."""
    machine = m.OnboardingMachine(reports=True)
    drive_to_image(machine, CONFIG_ONLY)
    machine.handle(m.StepSucceeded(m.OnboardingStep.CONFIG))
    error = ReportRejectedError("200", status=200)
    actions = machine.handle(m.ReportRejected(P.BOOTSTRAP_COMPLETE, error))
    assert kinds(actions)[0] == "RollbackConfiguration"
    assert reports(actions) == [P.BOOTSTRAP_ERROR]
    assert machine.state is m.OnboardingState.FAILED


def test_illegal_event_leaves_state_unchanged() -> None:
    machine = m.OnboardingMachine(reports=True)
    with pytest.raises(m.ProtocolError):
        machine.handle(m.ImageInstalled(b"x"))
    assert machine.state is m.OnboardingState.RECEIVED
    machine.handle(m.Start())
    with pytest.raises(m.ProtocolError):
        machine.handle(m.StepSucceeded(m.OnboardingStep.CONFIG))
    assert machine.state is m.OnboardingState.VERIFYING


def test_terminal_states_accept_nothing() -> None:
    """R-024: after processing, success or failure, the machine is done with this data."""
    machine = m.OnboardingMachine(reports=False)
    machine.handle(m.Start())
    machine.handle(m.VerificationFailed(TrustError("decode", "x")))
    for event in (m.Start(), m.ImageUpToDate("x"), m.ReportAcknowledged(P.BOOTSTRAP_COMPLETE)):
        with pytest.raises(m.ProtocolError):
            machine.handle(event)
    assert machine.state is m.OnboardingState.FAILED


def test_table_is_documented() -> None:
    rows = m.transitions()
    assert ("verifying", "Verified", "_on_verified") in rows
    assert len(rows) == len(set(rows))
