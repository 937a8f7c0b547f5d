"""How `partout up` times events. `up` is the "show me" mode: a repair should show in
`partout events --follow` within seconds, not after the production default period (10 s
at least, and minutes once the master's per-agent rule sees a first run of many resources).

The backoff rule still applies (DESIGN.md, "Events and statistical backoff"): P is
EVENT_PERIOD while the local agents are calm and lengthens under a storm of events, only
later than in production (a larger divisor for one agent's rate)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from partout.agent.config import EventSettings
    from partout.master.events_config import EventsConfig

EVENT_PERIOD = 2  # seconds: P of the local agents while calm (said in the banner)
AGENT_DIVISOR = 10.0  # an agent's events per minute per second of P (production: 1.0)


def master_events() -> EventsConfig:
    """The master's event settings in `up`: the production ones with P from EVENT_PERIOD."""
    from partout.events.backoff import BackoffLimits, ThrottleSettings
    from partout.master.events_config import EventsConfig

    throttle = ThrottleSettings(agent=BackoffLimits(divisor=AGENT_DIVISOR, period_min=EVENT_PERIOD, period_max=300),
                                fleet=BackoffLimits(period_min=EVENT_PERIOD))
    return EventsConfig(throttle=throttle)


def agent_events() -> EventSettings:
    """A local agent's event settings in `up`: P from EVENT_PERIOD before the master's first advice."""
    from partout.agent.config import EventSettings

    return EventSettings(period=float(EVENT_PERIOD), splay=master_events().throttle.splay)


__all__ = ["AGENT_DIVISOR", "EVENT_PERIOD", "agent_events", "master_events"]
