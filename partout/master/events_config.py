"""The `[master.events]` section of the master's configuration: the throttle's numbers
(DESIGN.md, "Events and statistical backoff"), the store's retention, and how often and how
fast the master talks to agents about their events."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from partout.events.backoff import ThrottleSettings
from partout.events.rollup import RetentionPolicy


class EventsConfig(BaseModel):
    """Every number of the master's event pipeline; the defaults are the original's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings,
                                       description="Period and level rule, per agent and fleet-wide.")
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy,
                                       description="Raw 1 day, hourly 7 days, daily 31 days, weekly after; reports "
                                                   "are kept as long as daily counts.")
    ack_wait: float = Field(10.0, gt=0, description="Seconds before an unacknowledged batch is redelivered.")
    advice_interval: float = Field(5.0, gt=0, description="Seconds between two looks for agents whose advice "
                                                          "changed while they sent nothing (calm, or level 0).")
    advice_min_gap: float = Field(10.0, ge=0, description="Seconds: one agent is sent new advice at most this "
                                                          "often (the latest advice goes when the gap is over).")
    advice_per_look: int = Field(2000, ge=1, description="Advice messages sent at most per look (the rest on the "
                                                         "next ones): a fleet-wide change does not flood the bus.")
    notice_gap: float = Field(60.0, ge=0, description="Seconds between two notices to one agent about batches "
                                                      "the master dropped.")
    republish: bool = Field(True, description="Republish stored events on partout.node.<id>.<module>.<status>.")


__all__ = ["EventsConfig"]
