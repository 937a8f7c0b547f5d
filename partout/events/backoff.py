"""The master's side of statistical backoff: measured rates in, `Advice` out.

The original Partout's rule (docs/Event_Sending_Statistical_Backoff.md), for a rate Em
in events per minute: Ps = int(Em / D), clamped to [Pmin, Pmax]; once Ps reaches Pmax the
level follows Em by thresholds T (default 500 / 2000 / 5000 / 10000): below T1 level 4,
then 3, 2, 1, and 0 from T4 on. Partout applies the rule twice, to the agent's own rate
and to the fleet's, each with its own numbers, and the stricter answer wins (the longer
period, the coarser level).

Rates are measured from the batches themselves. A batch covers the time since the
agent's previous one, so its count is spread evenly over that interval (put on the
master's clock by the smallest delay seen from that agent). An agent's rate is the events
per minute over the last `window` seconds of what the master knows about it: time its
batches covered, and time since its last batch in which it would have sent one had
anything happened (its advised period, plus `grace`). An agent that goes quiet therefore
fades to 0 within a window plus one period, and a spool drained after an outage counts at
the times its batches cover, not as a storm at arrival.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

from partout.events.wire import Advice, EventBatch, Level


class BackoffLimits(BaseModel):
    """The numbers of the original's rule, for one rate (an agent's, or the fleet's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    divisor: float = Field(100.0, gt=0, description="D: events per minute per second of period.")
    period_min: int = Field(10, ge=1, description="Pmin: the shortest period, seconds.")
    period_max: int = Field(3600, ge=1, le=7 * 86400, description="Pmax: the longest period, seconds.")
    thresholds: tuple[int, int, int, int] = Field(
        (500, 2000, 5000, 10000),
        description="Events per minute at which, once the period is Pmax, the level drops to 3, 2, 1 and 0.")

    @model_validator(mode="after")
    def _ordered(self) -> BackoffLimits:
        if self.period_min > self.period_max:
            raise ValueError(f"period_min {self.period_min} is above period_max {self.period_max}")
        if list(self.thresholds) != sorted(set(self.thresholds)) or self.thresholds[0] < 0:
            raise ValueError(f"thresholds {list(self.thresholds)} must rise strictly from 0 or more")
        return self


class ThrottleSettings(BaseModel):
    """Every number of the master's throttle (a section of the master's configuration)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fleet: BackoffLimits = Field(default_factory=BackoffLimits,
                                 description="Applied to the events per minute of all agents together.")
    agent: BackoffLimits = Field(
        default_factory=lambda: BackoffLimits(divisor=1.0, period_min=10, period_max=300),
        description="Applied to one agent's events per minute: one noisy agent backs off alone.")
    splay: float = Field(0.05, ge=0.0, le=1.0, description="Fraction of P by which agents vary their period.")
    alive_period: int = Field(86400, ge=60, le=31 * 86400, description="Seconds between alive messages.")
    window: float = Field(300.0, gt=0, description="Seconds of known history a rate is measured over.")
    grace: float = Field(30.0, ge=0, description="Seconds a batch may take to arrive after its period.")
    fleet_refresh: float = Field(1.0, ge=0, description="Seconds the fleet rate is reused before a new sum.")

    @property
    def initial(self) -> Advice:
        """What an agent uses before the master's first answer."""
        return Advice(period=float(max(self.agent.period_min, self.fleet.period_min)), splay=self.splay,
                      level=Level.MESSAGE, alive_period=float(self.alive_period))


def period_and_level(rate: float, limits: BackoffLimits) -> tuple[int, Level]:
    """The original's rule for `rate` events per minute."""
    period = min(max(int(rate / limits.divisor), limits.period_min), limits.period_max)
    if period < limits.period_max:
        return period, Level.MESSAGE
    for level, threshold in zip((Level.MESSAGE, Level.OBJECT, Level.MODULE, Level.AGENT), limits.thresholds,
                                strict=True):
        if rate < threshold:
            return period, level
    return period, Level.ALIVE


def advise(agent_rate: float, fleet_rate: float, settings: ThrottleSettings) -> Advice:
    """The stricter of the rule for the agent's rate and the rule for the fleet's."""
    agent_period, agent_level = period_and_level(agent_rate, settings.agent)
    fleet_period, fleet_level = period_and_level(fleet_rate, settings.fleet)
    return Advice(period=float(max(agent_period, fleet_period)), splay=settings.splay,
                  level=min(agent_level, fleet_level), alive_period=float(settings.alive_period))


@dataclass
class _Agent:
    # (start, end, count, received) with start/end on the agent's clock, seconds
    batches: deque[tuple[float, float, int, float]] = field(default_factory=deque)
    told: Advice | None = None
    last_received: float = 0.0


class Throttle:
    """Rates and advice for a fleet; owned by the master's throttle actor. Times are
    seconds on the master's clock (any epoch, the same for every call)."""

    def __init__(self, settings: ThrottleSettings | None = None) -> None:
        self.settings = settings or ThrottleSettings()
        self._agents: dict[str, _Agent] = {}
        self._fleet_rate = 0.0
        self._fleet_at: float | None = None

    def __len__(self) -> int:
        return len(self._agents)

    def record(self, batch: EventBatch, received_at: float) -> None:
        """Count a stored batch (after deduplication: a redelivered batch must not come here)."""
        self.record_count(batch.agent_id, batch.period_start.timestamp(), batch.period_end.timestamp(), batch.count,
                          received_at)

    def record_count(self, agent_id: str, start: float, end: float, count: int, received_at: float) -> None:
        """Count `count` events an agent had from `start` to `end` (its clock, epoch seconds)."""
        agent = self._agents.setdefault(agent_id, _Agent())
        agent.batches.append((start, end, count, received_at))
        agent.last_received = max(agent.last_received, received_at)
        # every window ends at or after the newest known end, so what ended a window before
        # it can never count again
        offset = self._offset(agent)
        horizon = max(end for _, end, _, _ in agent.batches) + offset - self.settings.window
        while len(agent.batches) > 1 and agent.batches[0][1] + offset < horizon:
            agent.batches.popleft()

    def agent_rate(self, agent_id: str, now: float) -> float:
        """The agent's events per minute, 0 for an agent never heard of."""
        agent = self._agents.get(agent_id)
        if agent is None or not agent.batches:
            return 0.0
        offset = self._offset(agent)
        last_end = max(end for _, end, _, _ in agent.batches) + offset
        known_until = min(now, max(last_end, now - self._gap(agent) - self.settings.grace))
        window_start = known_until - self.settings.window
        covered_from = max(window_start, min(start for start, _, _, _ in agent.batches) + offset)
        if known_until <= covered_from:
            return 0.0
        events = 0.0
        for start, end, count, _ in agent.batches:
            start, end = start + offset, end + offset
            if end - start < 1.0:  # a batch of an instant: spread over its last second
                start = end - 1.0
            overlap = min(end, known_until) - max(start, window_start)
            if overlap > 0:
                events += count * overlap / (end - start)
        return events * 60.0 / (known_until - covered_from)

    def fleet_rate(self, now: float) -> float:
        """All agents' events per minute, summed at most once per `fleet_refresh` seconds."""
        if self._fleet_at is None or not 0 <= now - self._fleet_at < self.settings.fleet_refresh:
            self._fleet_rate = sum(self.agent_rate(agent_id, now) for agent_id in self._agents)
            self._fleet_at = now
        return self._fleet_rate

    def current(self, agent_id: str, now: float) -> Advice:
        """What the agent should do from now on. Nothing is remembered: the caller tells
        `note_told` what the agent was really told (by this master or another)."""
        return advise(self.agent_rate(agent_id, now), self.fleet_rate(now), self.settings)

    def note_told(self, agent_id: str, advice: Advice) -> None:
        """The agent was told `advice`: how long it may stay silent is judged by it."""
        self._agents.setdefault(agent_id, _Agent()).told = advice

    def told(self, agent_id: str) -> Advice | None:
        """What the agent was last told, as far as `note_told` knows (None: nothing yet)."""
        agent = self._agents.get(agent_id)
        return agent.told if agent is not None else None

    def changed(self, now: float, among: Callable[[str], bool] = lambda agent_id: True) -> dict[str, Advice]:
        """Agents (those `among` accepts) whose advice is no longer what they were told, with
        the new advice (to send on their control subject: an agent at a long period or at
        level 0 has no batch to answer soon). Nothing is remembered, as in `current`."""
        updates: dict[str, Advice] = {}
        for agent_id, agent in self._agents.items():
            if agent.told is None or not among(agent_id):
                continue
            advice = self.current(agent_id, now)
            if advice != agent.told:
                updates[agent_id] = advice
        return updates

    def forget_idle(self, now: float) -> list[str]:
        """Drop agents silent for over two alive periods (their rate is 0 long since)."""
        idle = [agent_id for agent_id, agent in self._agents.items()
                if now - agent.last_received > 2 * self.settings.alive_period]
        for agent_id in idle:
            del self._agents[agent_id]
        return idle

    def _gap(self, agent: _Agent) -> float:
        """The longest the agent may stay silent while events happen: its period (splay
        included) as told, or its alive period at level 0."""
        told = agent.told or self.settings.initial
        if told.level == Level.ALIVE:
            return told.alive_period
        return told.period * (1.0 + told.splay / 2.0)

    @staticmethod
    def _offset(agent: _Agent) -> float:
        """Agent clock -> master clock: the smallest delay seen, so that a batch that waited
        in a spool keeps the time it covers."""
        return min(received - end for _, end, _, received in agent.batches)


__all__ = ["BackoffLimits", "Throttle", "ThrottleSettings", "advise", "period_and_level"]
