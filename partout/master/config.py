"""The master's configuration: a pydantic model, loaded from TOML (config/master.toml).

    config = load_config(Path("/etc/partout/master.toml"), nats_urls=["nats://10.0.0.1:4222"])
    master = Master(config).start()

Paths left unset are derived: keys from `nats_state`/keys (partout-nats' state dir), the
store and environments under `state_dir`.
"""

from __future__ import annotations

import fnmatch
import hmac
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from partout.errors import StateError
from partout.master.events_config import EventsConfig
from partout.master.trigger_rules import TriggerRule
from partout.state import default_state_dir


class AutoApproveRule(BaseModel):
    """Approve an enrolling agent at once when it matches; the first matching rule wins.

    Every condition given must hold (hostname glob AND token AND facts); a rule with no
    condition matches nothing (use `hostname = "*"` to approve everyone, on purpose)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str = Field("production", pattern=r"^[A-Za-z0-9_\-]+$",
                             description="Environment given to the agents this rule approves.")
    hostname: str | None = Field(None, description="Glob on the agent's hostname, e.g. 'web-*.example.com'.")
    token: str | None = Field(None, min_length=8, repr=False, description="Pre-shared enrolment token the agent must send.")
    facts: dict[str, Any] = Field(
        default_factory=dict, description="Dotted fact path -> required value, e.g. {'os.family' = 'debian'}."
    )

    def matches(self, hostname: str, token: str | None, facts: dict[str, Any]) -> bool:
        if self.hostname is None and self.token is None and not self.facts:
            return False
        if self.hostname is not None and not fnmatch.fnmatchcase(hostname, self.hostname):
            return False
        # constant time: a token compared byte by byte leaks its prefix through timing
        if self.token is not None and not (token and hmac.compare_digest(token.encode(), self.token.encode())):
            return False
        return all(_fact(facts, path) == value for path, value in self.facts.items())

    def describe(self) -> str:
        parts = [f"hostname {self.hostname}"] if self.hostname else []
        parts += ["token"] if self.token else []
        parts += [f"{path}={value!r}" for path, value in self.facts.items()]
        return "auto-approve rule (" + ", ".join(parts) + ")"


_MISSING = object()


def _fact(facts: dict[str, Any], path: str) -> Any:
    current: Any = facts
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _published_sections() -> tuple[str, ...]:
    from partout.facts import PUBLISHED_SECTIONS

    return PUBLISHED_SECTIONS


class MasterConfig(BaseModel):
    """Everything `partout master` needs; every field has a working default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nats_urls: tuple[str, ...] = Field(("nats://127.0.0.1:4222",), description="NATS servers, any node of the cluster.")
    nats_state: Path | None = Field(
        None, description="partout-nats' state dir; its keys/ has master.nk, operator.nk and the callout keys."
    )
    master_key: Path | None = Field(None, description="Seed file of the master's nkey (default <nats_state>/keys/master.nk).")
    callout_service_key: Path | None = Field(None, description="Seed of the callout service user (default from nats_state).")
    callout_issuer_key: Path | None = Field(None, description="Seed of the callout issuer account (default from nats_state).")
    callout: bool = Field(True, description="Answer NATS auth callout requests (one master at least must).")
    state_dir: Path = Field(default_factory=lambda: default_state_dir() / "master", description="Master state (store).")
    environments: Path | None = Field(None, description="One directory per environment (default <state_dir>/environments).")
    store: str | None = Field(None, description="Store path or URL (default SQLite <state_dir>/store.sqlite).")
    auto_approve: tuple[AutoApproveRule, ...] = ()
    max_pending: int = Field(
        10_000, ge=1, description="New agents beyond this many waiting for approval are refused (enrolment floods)."
    )
    enrol_rate: float = Field(
        500.0, gt=0, description="Enrolment requests handled per second, all agents together (bursts of twice "
        "that); each key also gets at most 1 per second (bursts of 5). Requests beyond are dropped and counted."
    )
    default_environment: str = Field(
        "production", pattern=r"^[A-Za-z0-9_\-]+$",
        description="Environment of agents an operator approves without naming one (`partout agents approve ID`).",
    )
    operator_keys: tuple[str, ...] = Field(
        (), description="Public nkeys of operators (default: the key of <nats_state>/keys/operator.nk)."
    )
    sample_facts: Path | None = Field(
        None, description="Facts file (JSON/YAML) policies are test-compiled against (default: this machine's)."
    )
    fact_sections: tuple[str, ...] = Field(
        default_factory=_published_sections,
        description="Fact sections agents publish and the master keeps for inventory queries "
        "(default: all but packages and services, which are large).",
    )
    debounce: float = Field(0.2, ge=0, description="Seconds of quiet after a change before a policy is rebuilt.")
    report_ack_wait: float = Field(10.0, gt=0, description="Seconds before an unacknowledged report is redelivered.")
    agent_credentials_ttl: float | None = Field(
        86400.0, gt=0, description="Lifetime in seconds of an agent's NATS credentials (a day by default; "
        "None: no expiry). The server then closes the agent's connection and the agent connects again at "
        "once, which asks this master again: an approved agent gets fresh credentials, a revoked one is "
        "refused even if the kick at revocation never reached it."
    )
    stream_replicas: int | None = Field(
        None, ge=1, le=3, description="Replicas of the streams and the policy bucket (default: min(3, cluster "
        "size), asked of the servers at start and raised when the cluster grows). Set, it is applied as is."
    )
    replica_check_interval: float = Field(
        60.0, gt=0, description="Seconds between two checks of the cluster size (automatic replicas only)."
    )
    events: EventsConfig = Field(default_factory=EventsConfig,
                                 description="Event ingest, throttle (statistical backoff) and retention.")

    inventory_scope: Literal["environment", "all"] = Field(
        "environment", description="What `p2.nodes` in an agent's policy may see: the nodes of the agent's own "
        "environment ('environment'), or, when the policy asks for it (scope='all'), every environment ('all')."
    )
    data_changed_window: float = Field(
        1.0, ge=0, description="Seconds: an agent whose `p2.nodes` answers changed gets at most one "
        "data-changed (recompile and apply) per window; a burst of changes is one re-apply."
    )

    trigger_window: float | None = Field(
        None, ge=0, description="Seconds: an agent gets at most one Control 'trigger' per window, carrying every "
        "trigger that arrived meanwhile (a storm is one re-apply); a rule fires at most once per window. "
        "Default: data_changed_window."
    )
    trigger_rules: tuple[TriggerRule, ...] = Field(
        (), description="Agents' events that fire triggers (see partout.master.trigger_rules)."
    )
    trigger_rate: float = Field(
        5.0, gt=0, description="Triggers per second each sender (an operator key, a trigger integration) may "
        "fire, in bursts of four times that (at least one); beyond, the sender is answered 'slow down' and counted."
    )
    trigger_overall_rate: float = Field(
        200.0, gt=0, description="Triggers per second the master handles from integrations together (bursts "
        "of twice that); operators have the same budget of their own, which integrations cannot spend."
    )

    @field_validator("trigger_rules")
    @classmethod
    def _rule_names_unique(cls, rules: tuple[TriggerRule, ...]) -> tuple[TriggerRule, ...]:
        names = [rule.name for rule in rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"trigger rule names must be unique: {', '.join(repeated)}")
        return rules

    @property
    def trigger_coalesce_window(self) -> float:
        return self.data_changed_window if self.trigger_window is None else self.trigger_window

    @field_validator("fact_sections")
    @classmethod
    def _sections_known(cls, sections: tuple[str, ...]) -> tuple[str, ...]:
        import difflib

        from partout.facts import SECTIONS

        for name in sections:
            if name not in SECTIONS:
                close = difflib.get_close_matches(name, SECTIONS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(SECTIONS)}"
                raise ValueError(f"unknown fact section {name!r}{hint}")
        return tuple(dict.fromkeys(sections))

    @model_validator(mode="after")
    def _keys_known(self) -> MasterConfig:
        if self.nats_state is None and self.master_key is None:
            raise ValueError("set nats_state (partout-nats' state dir) or master_key")
        if self.callout and self.nats_state is None and None in (self.callout_service_key, self.callout_issuer_key):
            raise ValueError("the auth callout needs nats_state, or callout_service_key and callout_issuer_key")
        return self

    def key_path(self, name: str) -> Path:
        explicit = {"master.nk": self.master_key, "callout-service.nk": self.callout_service_key,
                    "callout-issuer.nk": self.callout_issuer_key}.get(name)
        if explicit is not None:
            return explicit
        if self.nats_state is None:
            raise StateError(f"no key file for {name}: set nats_state in the master config")
        return self.nats_state / "keys" / name

    @property
    def environments_dir(self) -> Path:
        return self.environments or self.state_dir / "environments"

    @property
    def store_location(self) -> str:
        return self.store or str(self.state_dir / "store.sqlite")


def load_config(path: Path | None, **overrides: Any) -> MasterConfig:
    """The config from a TOML file (or none), with `overrides` (CLI options) on top; None values ignored."""
    from partout.config_file import load_config_file

    return load_config_file(MasterConfig, path, table="master", overrides=overrides)
