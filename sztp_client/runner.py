"""The runner: the pass loop around the session machine (RFC 8572 §5.2, D2).

``run_once`` makes one full pass (``run --once``): the device state is loaded, a device that
is bootstrapped already or whose requested reboot has not happened is dealt with, and
otherwise a :class:`~sztp_client.protocol.session.Session` walks the sources, driven by the
:class:`~sztp_client.executor.Executor`.  ``run_forever`` repeats passes with exponential
backoff and jitter until the device is bootstrapped or rebooting; the pause is computed by
:mod:`sztp_client.protocol.backoff`, the runner only sleeps.  ``session`` holds what a
``run`` process holds from start to end (directories checked, the run lock, a stale status
recovered).  The parts are composed in :mod:`sztp_client.context`.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator

from sztp_client import preflight
from sztp_client.actions import image as image_actions
from sztp_client.config import ClientConfig
from sztp_client.context import DeviceContext, build_context
from sztp_client.discovery.wiring import server_resolver
from sztp_client.errors import SZTPError
from sztp_client.executor import Executor
from sztp_client.model.server_uri import ServerEndpoint
from sztp_client.protocol import backoff
from sztp_client.protocol.image_policy import reboot_pending
from sztp_client.protocol.outcome import RunOutcome
from sztp_client.protocol.session import Session
from sztp_client.state.device import StateStore
from sztp_client.state.lock import RunLock
from sztp_client.state.status import StatusRecorder
from sztp_client.state.store import ensure_dir
from sztp_client.state.sweep import sweep
from sztp_client.transport.http import resolve
from sztp_client.transport.interface import BootstrapServer, Resolver, ServerFactory
from sztp_client.transport.restconf import RestconfClient
from sztp_client.trust.hops import DeviceDetails, ServerTrust


class Runner:
    """Runs bootstrapping passes for one device configuration."""

    def __init__(
        self,
        config: ClientConfig,
        recorder: StatusRecorder,
        *,
        sleep: Callable[[float], None] = time.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
        context: DeviceContext | None = None,
        factory: ServerFactory | None = None,
        resolver: Resolver | None = None,
        nonce: Callable[[], bytes] | None = None,
    ) -> None:
        self.config = config
        self.recorder = recorder
        self.sleep = sleep
        #: the random source of the backoff's jitter (D2); not for security
        self.uniform = uniform
        self.context = context if context is not None else build_context(config)
        self.store = StateStore(config.paths.state_dir)
        self.executor = Executor(
            self.context,
            recorder,
            self.store,
            factory=factory or self._restconf,
            resolver=resolver if resolver is not None else server_resolver(config, resolve),
            nonce=nonce,
        )
        self.last_error: SZTPError | None = None

    def _restconf(
        self, endpoint: ServerEndpoint, address: str, trust: ServerTrust
    ) -> BootstrapServer:
        """The device's transport: RESTCONF over TLS, with the hop's trust decision."""
        ctx = self.context
        return RestconfClient(
            endpoint,
            address,
            trust=trust,
            clock=ctx.clock(),
            identity=ctx.identity,
            basic_auth=ctx.basic_auth if trust.may_send_credentials else None,
            timeouts=ctx.timeouts,
            limits=ctx.transport_limits,
            encoding=self.config.network.encoding,
        )

    @property
    def reboot_requested(self) -> bool:
        return self.executor.reboot_requested

    # -- what a run holds ---------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """What a ``run`` process holds from start to end: the directories checked (exit 77
        when the client may not use one), the run lock (exit 75 when another run holds it),
        and a status left "running" by a killed run recorded as interrupted."""
        preflight.prepare_directories(self.context.directories())
        with RunLock(self.config.paths.run_dir):
            self.recorder.recover_stale()
            yield

    def _sweep(self) -> None:
        """Remove what an earlier run that ended abruptly left behind (partial downloads,
        script directories, temporary files of atomic writes)."""
        removed = sweep(self.config.paths.cache_dir, self.context.leftovers())
        if removed:
            names = ", ".join(str(path) for path in removed[:5])
            more = f" and {len(removed) - 5} more" if len(removed) > 5 else ""
            self.recorder.info(f"removed leftovers of an earlier run: {names}{more}")

    # -- passes -------------------------------------------------------------------------------

    def run_forever(self) -> RunOutcome:
        """Pass after pass, with exponential backoff and jitter, until final (D2)."""
        attempt = 0
        while True:
            outcome = self.run_once()
            if outcome.final:
                return outcome
            seconds = backoff.pause(self.config.retry, attempt, self.uniform)
            self.recorder.info(f"no success this pass; next pass in {seconds:.0f} s")
            self.sleep(seconds)
            attempt += 1

    def run_once(self) -> RunOutcome:
        if not self.config.enabled:
            self.recorder.info("SZTP is disabled in the configuration (enabled = false)")
            self.recorder.set_state(RunOutcome.DISABLED.status)
            return RunOutcome.DISABLED
        ensure_dir(self.config.paths.state_dir, key="paths.state-dir")
        self._sweep()
        executor = self.executor
        executor.state = state = self.store.load()
        if state.bootstrapped:
            self.recorder.info("the device is bootstrapped already")
            # keep the record of the run that bootstrapped it: that is what status shows
            self.recorder.keep_last_run(RunOutcome.ALREADY.status, bootstrapped=True)
            return RunOutcome.ALREADY
        executor.boot_id = image_actions.read_boot_id(self.config.paths.boot_id)
        if reboot_pending(state.rebooting, state.images, executor.boot_id):
            return self._reboot_again()
        if state.rebooting:
            state.rebooting = False
            self.store.save(state)
            self.recorder.info("running again after the reboot into a new boot image")
        self.recorder.run_started(bootstrapped=False)
        identity = self.context.identity
        if identity is not None:
            self.recorder.info(
                f"identity: {identity.backend}, key {identity.location} ({identity.choice})"
            )
        running = self.context.running_system()
        session = Session(
            self.context.sources(),
            DeviceDetails(
                self.config.device.hardware_model,
                running.os_name,
                running.os_version,
                csr_support=self.context.ldevid is not None,
            ),
            max_hops=self.config.discovery.max_redirects,
            max_redirect_addresses=self.config.limits.redirect_addresses,
        )
        ended = executor.run_pass(session)
        self.last_error = ended.error
        return self._finish(ended.outcome)

    def _reboot_again(self) -> RunOutcome:
        """The reboot has not happened: request it again, without fetching the image again."""
        image = self.executor.state.images[-1]
        notice = (
            f"the reboot requested after installing image {image.sha256[:16]}… at "
            f"{image.installed_at} has not happened (the boot id is unchanged): requesting it "
            "again, without downloading or installing the image again; check "
            "image.reboot-command"
        )
        self.recorder.info(notice)
        self.recorder.keep_last_run(RunOutcome.REBOOTING.status, bootstrapped=False, notice=notice)
        self.executor.reboot()
        return RunOutcome.REBOOTING

    def _finish(self, outcome: RunOutcome) -> RunOutcome:
        if not outcome.ends_walk and self.last_error is not None:
            self.recorder.error(self.last_error)
        bootstrapped = True if outcome is RunOutcome.COMPLETE else None
        self.recorder.set_state(outcome.status, bootstrapped=bootstrapped)
        return outcome


__all__ = ["Runner"]
