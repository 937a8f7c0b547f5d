"""How an agent runs: where NATS is, where its state lives, whom it trusts, how often it applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from partout.actors.flap import RepairLimit

DEFAULT_INTERVAL = 1800.0
DEFAULT_SPOOL_BYTES = 64 * 1024 * 1024


def default_agent_state_dir() -> Path:
    from partout.state import default_state_dir

    return default_state_dir() / "agent"


class EventSettings(BaseModel):
    """How the agent batches its events until the master advises otherwise ([agent.events]),
    and how much disk its offline spool may use. The bounds are those of the master's Advice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    period: float = Field(10.0, ge=1.0, le=7 * 86400.0, description="Seconds per event batch (P) at start.")
    splay: float = Field(0.05, ge=0.0, le=1.0, description="Fraction of P by which the period varies.")
    alive_period: float = Field(86400.0, ge=60.0, le=31 * 86400.0,
                                description="Seconds between alive messages when nothing happens.")
    spool_max_bytes: int = Field(DEFAULT_SPOOL_BYTES, ge=4096,
                                 description="Bound of the offline spool (reports and event batches not yet "
                                 "acknowledged); at the bound event detail is folded, counts never dropped.")


class AgentConfig(BaseModel):
    """Everything `partout agent` takes on its command line (and config/agent.toml)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    servers: tuple[str, ...] = Field(("nats://127.0.0.1:4222",), description="NATS URLs of partout-nats.")
    state_dir: Path = Field(default_factory=default_agent_state_dir,
                            description="Identity, pinned master key, policies, backups (0700).")
    master_key: str | None = Field(
        None, description="The master's public nkey; without it the first key seen is trusted (TOFU).")
    token: str | None = Field(None, description="Pre-shared enrolment token for auto-approval.")
    interval: float = Field(DEFAULT_INTERVAL, gt=0, description="Seconds between re-applies of the policy.")
    splay: float = Field(0.1, ge=0, le=1, description="Random extra delay, a fraction of the interval.")
    enrol_interval: float = Field(1.0, gt=0, description="First wait between enrolment attempts (doubles).")
    enrol_max_interval: float = Field(30.0, gt=0, description="Longest wait between enrolment attempts.")
    request_timeout: float = Field(5.0, gt=0, description="Seconds to wait for the master's enrolment reply.")
    refused_max_wait: float = Field(
        300.0, gt=0, description="Longest pause between attempts while NATS refuses this agent's key (revoked, "
        "or the master's auth callout is down) or the master refuses its enrolment; pauses double up to it.")
    hostname: str | None = Field(None, description="Override the hostname fact (tests, benches).")
    facts_file: Path | None = Field(None, description="Facts from this JSON/YAML file, not this machine.")
    facts_d: Path | None = Field(None, description="Folder of custom facts (default /etc/partout/facts.d).")
    facts: Any = Field(None, description="A Facts object to use as is (in-process benches and tests).")
    watch: bool = Field(True, description="Repair drift of watched resources between runs.")
    repair_limit: RepairLimit = Field(default_factory=RepairLimit,
                                      description="Flap control of drift repairs: [agent.repair_limit] "
                                      "burst, rate (per second), max_delay (seconds).")
    keep_policies: int = Field(2, ge=1, description="Extracted policy versions kept on disk.")
    events: EventSettings = Field(default_factory=EventSettings,
                                  description="Event batching and the offline spool: [agent.events] period, "
                                  "splay, alive_period, spool_max_bytes.")


__all__ = ["DEFAULT_INTERVAL", "AgentConfig", "EventSettings", "default_agent_state_dir", "load_agent_config"]


def load_agent_config(path: Path | None, **overrides: Any) -> AgentConfig:
    """The config from a TOML file (its [agent] table, or the top level), with `overrides`
    (command-line options) on top; None overrides are ignored."""
    from partout.config_file import load_config_file

    def servers_as_tuple(data: dict[str, Any]) -> None:
        if isinstance(data.get("servers"), list):
            data["servers"] = tuple(data["servers"])

    return load_config_file(AgentConfig, path, table="agent", overrides=overrides, adjust=servers_as_tuple)
