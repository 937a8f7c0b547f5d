"""`Agent`: enrol, follow the environment's policy, apply it, repair drift, report.

    agent = Agent(AgentConfig(servers=(url,), state_dir=path, token="..."))
    agent.start()          # returns at once; the actor tree enrols and runs
    ...
    agent.stop()

    code = Agent(config).run_once(wait=60)   # cron/tests: 0 ok, 1 failed resources, 2 refused

The agent is a tree of Pykka actors under an `AgentSupervisor` (partout.agent.supervisor
draws it); this class is the handle that the CLI, `partout up`, tests and benches hold.
It owns no agent state: it shows the snapshot the supervisor last handed it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pykka

from partout.actors.supervisor import Crash, Send, Wake
from partout.agent.config import AgentConfig
from partout.agent.credentials import Credentials
from partout.agent.enrolment import EnrolmentRefused, EnrolmentTimeout
from partout.agent.messages import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, RUNNER, AgentStatus, ApplyNow
from partout.wire.fleet import RunReport

if TYPE_CHECKING:
    from partout.bus.facade import Bus

# `partout agent` must exit within 5 s of SIGTERM: what the stop of each child may take
STOP_TIMEOUT = 4.0
ASK_TIMEOUT = 5.0
TERMINAL = ("refused", "failed", "stopped")


class Agent:
    """One agent identity with its own state dir, connection and engine."""

    def __init__(self, config: AgentConfig, *, on_report: Callable[[RunReport], None] | None = None,
                 on_policy: Callable[[int], None] | None = None) -> None:
        self.config = config
        self.on_report = on_report
        self.on_policy = on_policy  # told the KV revision of each policy value as it arrives (benches)
        self._status = AgentStatus()
        self._credentials: Credentials | None = None
        self._supervisor: pykka.ActorRef[Any] | None = None
        self._stopping = threading.Event()  # ends the waits of enrolment at once
        self._finished = threading.Event()
        self._stop_lock = threading.Lock()

    # -- what the supervisor shows -----------------------------------------------------------

    def _set_status(self, status: AgentStatus) -> None:
        self._status = status  # one reference swap: readers see the old snapshot or the new one
        if status.state in TERMINAL:
            self._finished.set()

    @property
    def status(self) -> AgentStatus:
        return self._status

    @property
    def state(self) -> str:
        """created, pending, running, refused, failed or stopped."""
        return self._status.state

    @property
    def error(self) -> str | None:
        return self._status.error

    @property
    def applied_sequence(self) -> int:
        return self._status.applied_sequence

    @property
    def agent_id(self) -> str | None:
        return self._status.agent_id or (self._credentials.agent_id if self._credentials else None)

    @property
    def environment(self) -> str | None:
        return self._status.environment or (self._credentials.environment if self._credentials else None)

    @property
    def public_key(self) -> str:
        return self._load_credentials().public_key

    @property
    def bus(self) -> Bus | None:
        """The connection in use now (a new one after each renewal of the credentials)."""
        return self._status.bus

    def connection_state(self) -> str:
        """connected, disconnected, reconnected, closed, refused (NATS refuses our key), or "none"
        before the agent connects."""
        bus = self._status.bus
        if bus is None:
            return "none"
        try:
            return str(bus.stats().get(timeout=5).state)
        except Exception:
            return "none"

    def _load_credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = Credentials.load(self.config.state_dir)
        return self._credentials

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Check the state dir and identity (raises StateError), then run in the background."""
        from partout.agent.supervisor import AgentSupervisor

        self._load_credentials()
        self._supervisor = AgentSupervisor.start(self.config, stopping=self._stopping, on_status=self._set_status,
                                                 on_report=self.on_report, on_policy=self.on_policy)
        self._supervisor.tell(Wake())

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop applying and watching, flush reports, close the connection; within `timeout`
        seconds or about (a child stuck in a long run is left behind: its thread is a daemon)."""
        self._stopping.set()
        with self._stop_lock:
            supervisor, self._supervisor = self._supervisor, None
            if supervisor is None:
                return
            deadline = time.monotonic() + timeout
            try:
                from partout.agent.supervisor import StopChildren

                children: list[tuple[str, pykka.ActorRef[Any]]] = supervisor.ask(StopChildren(), block=True,
                                                                                 timeout=ASK_TIMEOUT)
            except (pykka.ActorDeadError, pykka.Timeout):
                children = []
            for _, child in children:
                try:
                    child.stop(block=True, timeout=max(0.2, deadline - time.monotonic()))
                except (pykka.ActorDeadError, pykka.Timeout):
                    continue
            try:
                supervisor.stop(block=True, timeout=max(0.2, deadline - time.monotonic()))
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
            if self._status.state not in ("refused", "failed"):
                self._set_status(dataclasses.replace(self._status, state="stopped"))
            self._finished.set()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """True once the agent stopped for good (refused, failed or stopped), or never started."""
        if self._supervisor is None:
            return True
        return self._finished.wait(timeout)

    def apply_now(self) -> None:
        self._tell(Send(RUNNER, ApplyNow("control")))

    def crash_child(self, name: str, reason: str = "crash injected by a test") -> None:
        """Test hook: make the child actor `name` fail as if its code had raised; the
        supervisor restarts it like after any crash (partout.actors.supervisor.Crash)."""
        self._tell(Send(name, Crash(reason)))

    def _tell(self, message: object) -> None:
        if self._supervisor is not None:
            try:
                self._supervisor.tell(message)
            except pykka.ActorDeadError:
                pass

    def run_once(self, *, wait: float | None = None) -> int:
        """Enrol (waiting up to `wait` s for approval), apply the policy in force once,
        publish the report; 0 all ok, 1 some resource failed, 2 no usable policy."""
        from partout.agent.once import run_once

        return run_once(self.config, self._load_credentials(), stopping=self._stopping, wait=wait,
                        on_report=self.on_report)


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_REFUSED", "Agent", "EnrolmentRefused", "EnrolmentTimeout"]
