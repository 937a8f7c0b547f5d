"""What the agent's actors tell each other (frozen dataclasses), the identity they all
start from (`AgentContext`) and the status the supervisor shows the `Agent` facade.

Children address each other by name through the supervisor (`Send(name, message)`,
partout.actors.supervisor): the names are the keys of `partout.agent.supervisor.CHILDREN`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from partout.agent.config import AgentConfig
from partout.dsl.triggers import Trigger
from partout.wire.fleet import RunReport

if TYPE_CHECKING:
    from partout.bus.facade import Bus
    from partout.facts import Facts

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2

# the children's names (the keys of partout.agent.supervisor.CHILDREN)
ENROLMENT, BUS, POLICY_FEED, RUNNER, OUTBOX, FACTS = "enrolment", "bus", "policy-feed", "runner", "outbox", "facts"

AgentState = Literal["created", "pending", "running", "refused", "failed", "stopped"]


@dataclass(frozen=True)
class AgentContext:
    """Who the agent is once approved; every operational child starts from a copy."""

    config: AgentConfig
    agent_id: str
    environment: str
    master_public_key: str
    seed_path: Path
    on_report: Callable[[RunReport], None] | None = None
    on_policy: Callable[[int], None] | None = None  # the KV revision of each policy value as it arrives


@dataclass(frozen=True)
class AgentStatus:
    """A snapshot, replaced (never changed) by the supervisor and shown by the facade."""

    state: AgentState = "created"
    error: str | None = None
    agent_id: str | None = None
    environment: str | None = None
    applied_sequence: int = 0
    bus: Bus | None = None
    policy_updates_dropped: int = 0  # updates without the policy stream's headers (feed.py)
    restarts: Mapping[str, int] = field(default_factory=dict)  # child name -> restarts so far


# -- status, told to the supervisor --------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """The agent's state changed (pending, running, refused)."""

    state: AgentState
    error: str | None = None


@dataclass(frozen=True)
class Enrolled:
    """The enrolment child is done: the identity is approved (now or earlier)."""


@dataclass(frozen=True)
class Applying:
    """The runner puts policy `sequence` in force now."""

    sequence: int


@dataclass(frozen=True)
class UpdatesDropped:
    count: int


# -- the connection ---------------------------------------------------------------------


@dataclass(frozen=True)
class BusReady:
    """A connection is up (a new one, or `reconnected` after a network break): subscribe on
    it, publish again what may have been lost. Told by the bus child, fanned out by the
    supervisor, and told again to a child that restarts."""

    bus: Bus
    generation: int
    reconnected: bool = False


@dataclass(frozen=True)
class Reconnect:
    """Replace the connection (the policy feed keeps failing on this one)."""

    reason: str


# -- the policy -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyInForce:
    """A verified policy on disk to apply; `trigger` is the report's trigger."""

    sequence: int
    digest: str
    directory: Path
    trigger: str
    # the first policy found on connecting: the agent counts as running once it is applied
    # and watched (so "running" means the policy is in force, not merely on its way)
    then_running: bool = False


@dataclass(frozen=True)
class AnnouncePolicy:
    """Tell the runner the policy in force (it restarted and knows none)."""


@dataclass(frozen=True)
class ApplyNow:
    """Apply the policy in force now; `trigger` is the report's trigger, `triggers` the fired
    ones its `p2.on_trigger` blocks see (Control "trigger")."""

    trigger: str
    triggers: tuple[Trigger, ...] = ()


@dataclass(frozen=True)
class BundleRefused:
    """The feed refused a bundle: the runner reports it (the last good policy stays)."""

    reason: str


# -- reports and facts ------------------------------------------------------------------


@dataclass(frozen=True)
class SendReport:
    report: RunReport


@dataclass(frozen=True)
class FactsGathered:
    """The facts of this run; `force`: publish even when unchanged."""

    facts: Facts
    force: bool = False


@dataclass(frozen=True)
class ResendFacts:
    """Tell the facts publisher the last facts (it restarted)."""


@dataclass(frozen=True)
class FactSections:
    """The master asks for these fact sections from now on."""

    sections: frozenset[str]


__all__ = [
    "BUS", "ENROLMENT", "EXIT_FAILED", "EXIT_OK", "EXIT_REFUSED", "FACTS", "OUTBOX", "POLICY_FEED", "RUNNER",
    "AgentContext", "AgentState", "AgentStatus", "AnnouncePolicy", "Applying", "ApplyNow", "BusReady", "Enrolled",
    "FactSections", "FactsGathered", "PolicyInForce", "Reconnect", "BundleRefused", "ResendFacts", "SendReport",
    "Standing", "UpdatesDropped",
]
