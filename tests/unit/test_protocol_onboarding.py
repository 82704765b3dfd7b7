"""The §5.3-§5.6 state table, event by event (R-063..R-068, R-072, R-078, R-080).

Each test drives the machine with the events a runner would observe and checks the actions
and the whole state after each step.  The second half checks the table itself: every row
leads to a state, every state is reachable, terminal states have no way out, every event
without a row is refused with the machine unchanged, and the listed graph is the table.
"""

from __future__ import annotations

import itertools

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
from sztp_client.protocol import graph
from sztp_client.protocol import onboarding as m
from sztp_client.protocol import onboarding_events as ev
from sztp_client.protocol import onboarding_rules as rules
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


# --- the table itself ---------------------------------------------------------------------------

S = m.OnboardingState
STEPS = tuple(m.OnboardingStep)
INTERNAL = sorted(ev.INTERNAL_EVENTS, key=lambda t: t.__name__)
#: One sample of every event the runner may feed, by type.
SAMPLES: dict[type, m.Event] = {
    m.Start: m.Start(),
    m.Verified: m.Verified(verified(FULL)),
    m.VerificationFailed: m.VerificationFailed(TrustError("decode", "x")),
    m.ReportAcknowledged: m.ReportAcknowledged(P.BOOTSTRAP_INITIATED),
    m.ReportRejected: m.ReportRejected(P.BOOTSTRAP_INITIATED, ReportRejectedError("x", status=200)),
    m.ImageUpToDate: m.ImageUpToDate("running"),
    m.ImageInstalled: m.ImageInstalled(bytes(32)),
    m.StepSucceeded: m.StepSucceeded(m.OnboardingStep.CONFIG),
    m.StepFailed: m.StepFailed(m.OnboardingStep.CONFIG, ConfigApplyError("x")),
}
INTERNAL_SAMPLES = [
    ev.RedirectVerified(REDIRECT),
    ev.OnboardingVerified(FULL),
    ev.StepAbsent(m.OnboardingStep.CONFIG),
    ev.NotReporting(),
]


def in_state(state: m.OnboardingState) -> m.OnboardingMachine:
    machine = m.OnboardingMachine(reports=True, state=state, data=verified(FULL))
    return machine


def test_every_row_leads_to_a_state_and_has_a_builder() -> None:
    for (state, event), (target, build) in m._TABLE.items():
        assert isinstance(state, S) and isinstance(target, S), (state, event)
        assert event in SAMPLES or event in ev.INTERNAL_EVENTS, event
        assert callable(build)
    assert set(m._ENTRY) <= set(S)


def test_every_state_is_reachable_from_the_start() -> None:
    assert m.transition_graph().reachable() == {s.value for s in S}


def test_terminal_states_have_no_outgoing_rows_and_every_other_state_has_one() -> None:
    """R-024: a terminal state is the end of this data's processing."""
    sources = {state for state, _ in m._TABLE}
    assert sources.isdisjoint(m.TERMINAL)
    assert sources == set(S) - m.TERMINAL
    assert all(state not in m._ENTRY for state in m.TERMINAL)


def test_a_terminal_state_is_reachable_from_every_state() -> None:
    listed = m.transition_graph()
    for state in S:
        ahead = graph.TransitionGraph(
            listed.states, state.value, listed.terminal, listed.transitions
        ).reachable()
        assert ahead & listed.terminal, state


def test_the_graph_lists_exactly_the_table() -> None:
    listed = m.transition_graph()
    table = {(s.value, e.__name__, target.value) for (s, e), (target, _) in m._TABLE.items()}
    assert set(listed.transitions) == table
    assert len(listed.transitions) == len(m._TABLE)
    assert listed.start == S.RECEIVED.value
    assert listed.terminal == {s.value for s in m.TERMINAL}
    assert listed.states == tuple(s.value for s in S)
    assert {(s, e) for s, e, _ in m.transitions()} == {(s, e) for s, e, _ in listed.transitions}


def test_the_steps_form_one_chain_in_rfc_order() -> None:
    """R-063: leaving each step state, by any event but a failure or an installed image,
    leads to the next step in RFC order, the last one to completing."""
    chain = [S.BOOT_IMAGE, S.PRE_SCRIPT, S.CONFIG, S.POST_SCRIPT, S.COMPLETING]
    for here, after in itertools.pairwise(chain):
        ways = {event.__name__: target for (s, event), (target, _) in m._TABLE.items() if s is here}
        onward = {name for name, target in ways.items() if target is after}
        assert "StepAbsent" in onward, here
        assert set(ways) - onward <= {"StepFailed", "ImageInstalled"}, here


@pytest.mark.parametrize("state", list(S), ids=[s.value for s in S])
def test_every_event_without_a_row_raises_and_changes_nothing(state: m.OnboardingState) -> None:
    """The illegal-event rule, for every state and every event it has no row for; the
    machine's own internal events are refused from outside in every state."""
    illegal = [e for t, e in SAMPLES.items() if (state, t) not in m._TABLE]
    illegal += INTERNAL_SAMPLES
    assert illegal
    for event in illegal:
        machine = in_state(state)
        with pytest.raises(m.ProtocolError):
            machine.handle(event)  # type: ignore[arg-type]
        assert machine == in_state(state), (state, event)


def test_an_event_for_another_step_is_refused() -> None:
    machine = m.OnboardingMachine(reports=False)
    drive_to_image(machine, CONFIG_ONLY)
    for event in (
        m.StepSucceeded(m.OnboardingStep.POST_SCRIPT),
        m.StepFailed(m.OnboardingStep.PRE_SCRIPT, ScriptError("pre", "x")),
    ):
        with pytest.raises(m.ProtocolError):
            machine.handle(event)
        assert machine.state is S.CONFIG and not machine.committed


def test_an_acknowledgement_of_another_report_is_refused() -> None:
    machine = m.OnboardingMachine(reports=True)
    machine.handle(m.Start())
    machine.handle(m.Verified(verified(FULL)))
    with pytest.raises(m.ProtocolError):
        machine.handle(m.ReportAcknowledged(P.BOOTSTRAP_COMPLETE))
    assert machine.state is S.INITIATING


def test_a_failure_among_internal_events_leaves_the_machine_as_it_was() -> None:
    """Data the verifier could never produce (neither redirect nor onboarding information)
    fails two internal transitions later; the machine is rolled back to before the event."""
    machine = m.OnboardingMachine(reports=False)
    machine.handle(m.Start())
    before = (machine.state, machine.data, machine.committed, list(machine.history))
    with pytest.raises(m.ProtocolError):
        machine.handle(m.Verified(verified("neither")))
    assert (machine.state, machine.data, machine.committed, machine.history) == before


def run_to_end(
    info: OnboardingInformation, *, trusted: bool, level: ReportingLevel
) -> tuple[m.OnboardingMachine, list[m.Action]]:
    """Drive a machine like a runner whose every step and report succeeds."""
    machine = m.OnboardingMachine(reports=trusted, reporting_level=level)
    queue = machine.handle(m.Start())
    done: list[m.Action] = []
    while queue:
        action = queue.pop(0)
        done.append(action)
        event: m.Event | None = None
        if isinstance(action, m.Verify):
            event = m.Verified(verified(info))
        elif isinstance(action, m.SendReport) and action.acknowledge:
            event = m.ReportAcknowledged(action.progress_type)
        elif isinstance(action, m.ProcessImage):
            event = m.ImageUpToDate("running")
        elif isinstance(action, m.RunScript | m.CommitConfiguration):
            step = action.step if isinstance(action, m.RunScript) else m.OnboardingStep.CONFIG
            event = m.StepSucceeded(step)
        if event is not None:
            queue += machine.handle(event)
            assert machine.state is not S.VERIFIED  # passed through, never rested in
    return machine, done


SUBSETS = [steps for n in range(5) for steps in itertools.combinations(STEPS, n)]


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
@pytest.mark.parametrize("level", list(ReportingLevel), ids=[lv.value for lv in ReportingLevel])
@pytest.mark.parametrize("present", SUBSETS, ids=["+".join(s) or "nothing" for s in SUBSETS])
def test_every_subset_of_steps_runs_in_rfc_order(
    present: tuple[m.OnboardingStep, ...], level: ReportingLevel, trusted: bool
) -> None:
    """R-063..R-066: whichever steps the data holds, they run in RFC order and nothing else
    does; the reports are the trusted server's only, all the steps' at verbose level."""
    step = m.OnboardingStep
    info = OnboardingInformation(
        boot_image=IMAGE if step.BOOT_IMAGE in present else None,
        configuration_handling=ConfigurationHandling.MERGE if step.CONFIG in present else None,
        pre_configuration_script=b"#!/bin/sh\n" if step.PRE_SCRIPT in present else None,
        configuration=b"<config/>" if step.CONFIG in present else None,
        post_configuration_script=b"#!/bin/sh\n" if step.POST_SCRIPT in present else None,
    )
    machine, done = run_to_end(info, trusted=trusted, level=level)
    assert machine.state is S.COMPLETE and machine.finished
    assert [a.step for a in done if isinstance(a, m.StepStarted)] == list(present)
    assert done[-2:] == [m.KeepConfiguration(), m.Finish(S.COMPLETE)]
    expected: list[P] = []
    if trusted:
        expected.append(P.BOOTSTRAP_INITIATED)
        if level is ReportingLevel.VERBOSE:
            for s in present:
                expected += [rules.REPORTS[s].initiated, rules.REPORTS[s].complete]
        expected.append(P.BOOTSTRAP_COMPLETE)
    assert reports(done) == expected
    walked = [s for s, _, _ in machine.history] + [machine.state]
    assert walked[:3] == [S.RECEIVED, S.VERIFYING, S.VERIFIED]
    assert [s for s in walked if s in rules.STEP_OF] == [
        S.BOOT_IMAGE,
        S.PRE_SCRIPT,
        S.CONFIG,
        S.POST_SCRIPT,
    ]


TERMINATING = {
    P.BOOTSTRAP_COMPLETE,
    P.BOOTSTRAP_ERROR,
    P.PARSING_ERROR,
    P.BOOT_IMAGE_INSTALLED_REBOOTING,
    *(rules.REPORTS[s].error for s in STEPS),
}


def answers(action: m.Action, info: object) -> list[m.Event | None]:
    """Every answer a runner may give to ``action`` (None: nothing to feed back)."""
    if isinstance(action, m.Verify):
        return [m.Verified(verified(info)), m.VerificationFailed(TrustError("decode", "x"))]
    if isinstance(action, m.SendReport) and action.acknowledge:
        error = ReportRejectedError("200", status=200)
        return [
            m.ReportAcknowledged(action.progress_type),
            m.ReportRejected(action.progress_type, error),
        ]
    if isinstance(action, m.ProcessImage):
        return [
            m.ImageUpToDate("running"),
            m.ImageInstalled(bytes(32)),
            m.StepFailed(m.OnboardingStep.BOOT_IMAGE, BootImageError("x")),
        ]
    if isinstance(action, m.RunScript):
        stage = "pre" if action.step is m.OnboardingStep.PRE_SCRIPT else "post"
        return [
            m.StepSucceeded(action.step),
            m.StepSucceeded(action.step, warning=True, output="w"),
            m.StepFailed(action.step, ScriptError(stage, "exit 3")),
        ]
    if isinstance(action, m.CommitConfiguration):
        config = m.OnboardingStep.CONFIG
        return [m.StepSucceeded(config), m.StepFailed(config, ConfigApplyError("x"))]
    return [None]


def every_path(
    info: object, trusted: bool, level: ReportingLevel
) -> list[tuple[m.OnboardingMachine, list[m.Action], list[m.Event]]]:
    """Every run of a machine on ``info``, over every answer to every action."""
    done = []
    todo: list[list[int]] = [[]]
    while todo:
        choices = todo.pop()
        machine = m.OnboardingMachine(reports=trusted, reporting_level=level)
        queue, seen, fed, picked = machine.handle(m.Start()), [], [], 0
        while queue:
            action = queue.pop(0)
            seen.append(action)
            options = answers(action, info)
            if len(options) > 1 and picked == len(choices):
                todo += [[*choices, i] for i in range(len(options))]
                break
            event = options[choices[picked]] if len(options) > 1 else options[0]
            picked += len(options) > 1
            if event is not None:
                fed.append(event)
                queue += machine.handle(event)
        else:
            done.append((machine, seen, fed))
    return done


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
@pytest.mark.parametrize("level", list(ReportingLevel), ids=[lv.value for lv in ReportingLevel])
@pytest.mark.parametrize("info", [FULL, CONFIG_ONLY, REDIRECT], ids=["full", "config", "redirect"])
def test_every_path_ends_once_with_the_rules_of_reporting_and_rollback(
    info: object, level: ReportingLevel, trusted: bool
) -> None:
    """Over every answer a runner may give: one Finish, last, naming the state reached;
    reports to a trusted server only (R-066), at minimal level bootstrap-initiated and one
    terminating report (R-064), none for redirect information (R-057); a rollback exactly when
    a committed configuration meets a failure, before its report (R-080); keep, reboot and
    follow only on the outcomes that call for them (R-072, R-024)."""
    paths = every_path(info, trusted, level)
    assert len(paths) > 1
    for machine, seen, fed in paths:
        assert machine.finished, fed
        finishes = [a for a in seen if isinstance(a, m.Finish)]
        assert finishes == [seen[-1]] and finishes[0].outcome is machine.state, fed
        sent = reports(seen)
        if not trusted or machine.state is S.REDIRECTED:
            assert sent == [], fed
        elif level is ReportingLevel.MINIMAL:
            complete_rejected = m.ReportRejected in map(type, fed) and P.BOOTSTRAP_COMPLETE in sent
            # a bootstrap-complete answered with anything but 204 is followed by an error
            ends = [P.BOOTSTRAP_COMPLETE, P.BOOTSTRAP_ERROR] if complete_rejected else sent[1:]
            assert sent[0] is P.BOOTSTRAP_INITIATED and sent[1:] == ends, fed
            assert len(ends) == 1 + complete_rejected and ends[-1] in TERMINATING, fed
        committed = any(
            isinstance(e, m.StepSucceeded) and e.step is m.OnboardingStep.CONFIG for e in fed
        )
        kinds_seen = kinds(seen)
        assert ("RollbackConfiguration" in kinds_seen) == (
            committed and machine.state is S.FAILED
        ), fed
        if "RollbackConfiguration" in kinds_seen and trusted:
            last_report = max(i for i, kind in enumerate(kinds_seen) if kind == "SendReport")
            assert kinds_seen.index("RollbackConfiguration") < last_report, fed
        assert ("KeepConfiguration" in kinds_seen) == (machine.state is S.COMPLETE), fed
        assert ("Reboot" in kinds_seen) == (machine.state is S.REBOOTING), fed
        assert ("FollowRedirect" in kinds_seen) == (machine.state is S.REDIRECTED), fed
