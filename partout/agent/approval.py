"""Getting approved: an identity approved earlier is checked against `--master-key`; a new
one enrols (partout.agent.enrolment) until the master approves or refuses it.

`EnrolmentActor` is the first child of the agent's tree: it runs this on a thread of its
own (enrolment waits, with pauses, for an operator) and tells the supervisor `Enrolled`,
or `Standing("refused")` when the master refuses us or we refuse the master's key.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import pykka

from partout.actors.supervisor import ThreadedChild
from partout.agent.config import AgentConfig
from partout.agent.credentials import Credentials
from partout.agent.enrolment import EnrolmentRefused, Stopped, enrol_agent
from partout.agent.facts import load_facts
from partout.agent.messages import ENROLMENT, Enrolled, Standing
from partout.agent.notices import Notices

log = logging.getLogger(__name__)


def approve(config: AgentConfig, credentials: Credentials, *, stopping: threading.Event, deadline: float | None,
            notices: Notices, on_pending: Any = None) -> None:
    """Return once `credentials` are approved; EnrolmentRefused, EnrolmentTimeout or Stopped otherwise."""
    if credentials.agent_id and credentials.master_public_key:
        credentials.confirm_master_key(config.master_key)
        return
    if on_pending is not None:
        on_pending()
    reply = enrol_agent(config, credentials, load_facts(config), stopping=stopping, deadline=deadline,
                        notices=notices)
    if not reply.agent_id or not reply.environment:
        raise EnrolmentRefused("the master approved us without an agent id or environment")
    credentials.approve(reply.agent_id, reply.environment, reply.master_public_key, given_key=config.master_key)
    log.info("agent approved", extra={"agent_id": reply.agent_id, "environment": reply.environment})


@dataclass(frozen=True)
class _Enrol:
    pass


class EnrolmentActor(ThreadedChild):
    name = ENROLMENT

    def __init__(self, parent: pykka.ActorRef[Any], config: AgentConfig, stopping: threading.Event) -> None:
        super().__init__(parent)
        self._config = config
        self._stopping = stopping  # set by Agent.stop: the waits between attempts end at once
        self._notices = Notices()

    def begin(self) -> None:
        self.actor_ref.tell(_Enrol())

    def handle(self, message: object) -> object:
        match message:
            case _Enrol():
                self._enrol()
            case _:
                return super().handle(message)
        return None

    def _enrol(self) -> None:
        credentials = Credentials.load(self._config.state_dir)
        try:
            approve(self._config, credentials, stopping=self._stopping, deadline=None, notices=self._notices,
                    on_pending=lambda: self.parent.tell(Standing("pending")))
        except Stopped:
            return
        except EnrolmentRefused as error:
            log.error("agent stopped: %s", error)
            self.parent.tell(Standing("refused", str(error)))
            return
        self.parent.tell(Enrolled())


__all__ = ["EnrolmentActor", "approve"]
