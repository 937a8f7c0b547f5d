"""The agent's facts: gathered (or loaded from a file), the hostname overridable, and the
part of them sent to the master with a hash so that unchanged facts are not re-sent."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from partout.agent.config import AgentConfig

# Sent to the master: the cheap sections plus custom facts. Packages, services, users and
# devices cost a subprocess or a scan each and are read by a policy only when it needs them.
SENT_SECTIONS = frozenset({"hostname", "os", "cpus", "memory", "dmi", "python", "custom"})


def load_facts(config: AgentConfig) -> Any:
    """This machine's facts (or the configured ones), with the hostname override applied."""
    from partout import facts as facts_module

    if config.facts is not None:
        facts = config.facts
    elif config.facts_file is not None:
        facts = facts_module.load(config.facts_file)
    else:
        facts = facts_module.gather(facts_d=config.facts_d)
    if config.hostname is not None and getattr(facts, "hostname", None) != config.hostname:
        facts = facts.model_copy(update={"hostname": config.hostname})
    return facts


def facts_payload(facts: Any) -> dict[str, Any]:
    """The JSON-ready facts the master stores (cheap sections only)."""
    data: dict[str, Any] = facts.model_dump(mode="json", include=set(SENT_SECTIONS))
    return data


def facts_hash(payload: dict[str, Any]) -> str:
    """sha256 of the canonical JSON, the same digest the master's store computes."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


__all__ = ["SENT_SECTIONS", "facts_hash", "facts_payload", "load_facts"]
