"""The executor's other onboarding steps: the pre- and post-configuration scripts (D3, D4),
the configuration committed, rolled back or kept (D25), and the reboot.

:data:`STEP_HANDLERS` names the handler of every onboarding step's action (the boot image's is
in :mod:`sztp_client.executor_image`); the executor imports this module with the first such
action, so that a run loads the steps' code, and the processes they start, only once
onboarding information has been verified.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from sztp_client import executor_image, interrupt
from sztp_client.actions import CLEAN_PATH, scripts
from sztp_client.actions import ldevid as csr_rounds
from sztp_client.actions.ldevid import LDevIDMismatchError
from sztp_client.errors import (
    ConfigApplyError,
    ConfigurationError,
    InternalError,
    ScriptError,
    SZTPError,
)
from sztp_client.model.conveyed import ConfigurationHandling, OnboardingInformation
from sztp_client.protocol import onboarding as m
from sztp_client.state.device import now_text
from sztp_client.state.store import ensure_dir

if TYPE_CHECKING:
    from sztp_client.executor import Executor

REBOOT_TIMEOUT = 120.0


def run_script(executor: Executor, action: m.RunScript) -> m.Event:
    stage: scripts.ScriptStage = "pre" if action.step is m.OnboardingStep.PRE_SCRIPT else "post"
    policy = scripts.ScriptPolicy(
        timeout=executor.config.scripts.timeout,
        warning_codes=executor.config.scripts.warning_codes,
        output_limit=executor.config.scripts.output_limit,
    )
    server = executor.connections[-1][1] if executor.connections else ""
    try:
        result = scripts.run_script(
            stage,
            action.script,
            policy=policy,
            work_parent=ensure_dir(executor.config.paths.cache_dir / "scripts"),
            environment={
                "SZTP_SERIAL_NUMBER": executor.context.serial_number,
                "SZTP_BOOTSTRAP_SERVER": server,
                **csr_rounds.script_environment(executor.context.ldevid),
            },
        )
    except ScriptError as exc:
        return m.StepFailed(action.step, exc)
    if stage == "post" and (failed := _check_ldevid(executor, action.step)) is not None:
        return failed
    return m.StepSucceeded(action.step, warning=result.warning, output=result.output)


def commit_configuration(executor: Executor, action: m.CommitConfiguration) -> m.Event:
    info: OnboardingInformation = action.information
    if info.configuration is None:
        raise InternalError("configuration step without a configuration")
    handling = info.configuration_handling or ConfigurationHandling.MERGE
    ldevid = executor.context.ldevid
    try:
        executor.context.applier.commit(
            info.configuration, handling, csr_rounds.script_environment(ldevid)
        )
    except (ConfigApplyError, ConfigurationError) as exc:
        error = exc if isinstance(exc, ConfigApplyError) else ConfigApplyError(exc.message)
        return m.StepFailed(m.OnboardingStep.CONFIG, error)
    failed = _check_ldevid(executor, m.OnboardingStep.CONFIG)
    return failed or m.StepSucceeded(m.OnboardingStep.CONFIG)


def _check_ldevid(executor: Executor, step: m.OnboardingStep) -> m.StepFailed | None:
    """D23: an LDevID installed by now (by the device's commit command from the
    configuration, or by the post-configuration script) must certify the new key; checked
    after each of the two, so that it holds before bootstrap-complete whichever installs it."""
    store = executor.context.ldevid
    if store is None:
        return None
    try:
        if store.check_certificate():
            executor.recorder.info(f"LDevID installed at {store.cert_path}")
    except LDevIDMismatchError as exc:
        return m.StepFailed(step, exc)
    return None


def rollback_configuration(executor: Executor, action: m.RollbackConfiguration) -> None:
    try:
        executor.context.applier.rollback()
        executor.recorder.info("configuration rolled back")
    except SZTPError as exc:
        executor.recorder.info(f"configuration rollback failed: {exc.message}")


def keep_configuration(executor: Executor, action: m.KeepConfiguration) -> None:
    with contextlib.suppress(SZTPError):
        executor.context.applier.discard()
    executor.state.bootstrapped = True
    executor.state.bootstrapped_at = now_text()
    executor.store.save(executor.state)


def reboot(executor: Executor, action: m.Reboot | None = None) -> None:
    command = list(executor.config.image.reboot_command)
    executor.recorder.info(f"rebooting: {' '.join(command)}")
    executor.reboot_requested = True
    # the SIGTERM of the shutdown this command starts must not kill it half-way
    with interrupt.deferred():
        try:
            scripts.run_checked(
                command,
                env={"PATH": CLEAN_PATH},
                cwd=executor.config.paths.state_dir,
                timeout=REBOOT_TIMEOUT,
                what=f"reboot command {' '.join(command)}",
                error=InternalError,
            )
        except InternalError as exc:
            executor.recorder.info(exc.message)


#: the onboarding steps' actions and their handlers (the executor's ``_HANDLERS`` has the rest)
STEP_HANDLERS: Final[dict[type, Callable[[Executor, Any], m.Event | None]]] = {
    m.ProcessImage: executor_image.process_image,
    m.RunScript: run_script,
    m.CommitConfiguration: commit_configuration,
    m.RollbackConfiguration: rollback_configuration,
    m.KeepConfiguration: keep_configuration,
    m.Reboot: reboot,
}
