"""The agent's facts: gathered (or loaded from a file), the hostname overridable, and the
part of them sent to the master with a hash so that unchanged facts are not re-sent.

Which sections go to the master is the master's choice (`fact_sections` in its config):
agents start with the default and the master tells one that sends another set."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from partout.agent.config import AgentConfig

log = logging.getLogger(__name__)

# Sent with an enrolment request: the cheap sections, enough for auto-approval rules on facts,
# and small enough for the enrolment size limit whatever the machine.
ENROL_SECTIONS = frozenset({"hostname", "platform", "os", "cpus", "memory", "dmi", "python", "custom"})


def published_sections() -> frozenset[str]:
    """The sections published until the master asks for others (the master's default)."""
    from partout.facts import PUBLISHED_SECTIONS

    return frozenset(PUBLISHED_SECTIONS)


def known_sections(names: Iterable[object]) -> frozenset[str]:
    """The fact sections among `names` (from a master's control message: checked, not trusted)."""
    from partout.facts import SECTIONS

    return frozenset(name for name in names if isinstance(name, str) and name in SECTIONS)


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


def facts_payload(facts: Any, sections: Iterable[str] = ENROL_SECTIONS, *, limit: int | None = None) -> dict[str, Any]:
    """The JSON-ready `sections` of `facts`. Over `limit` bytes of JSON, the largest
    sections are left out (with a warning) until it fits: the master refuses larger."""
    data: dict[str, Any] = facts.model_dump(mode="json", include=set(sections))
    if limit is None:
        return data
    sizes = {name: len(json.dumps(value, default=str)) for name, value in data.items()}
    while data and sum(sizes.values()) + 64 * len(sizes) > limit:
        largest = max(sizes, key=lambda name: sizes[name])
        log.warning("fact section too large to publish, left out", extra={"section": largest, "bytes": sizes[largest]})
        del data[largest], sizes[largest]
    return data


def facts_hash(payload: dict[str, Any]) -> str:
    """sha256 of the canonical JSON, the same digest the master's store computes."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


__all__ = ["ENROL_SECTIONS", "facts_hash", "facts_payload", "known_sections", "load_facts", "published_sections"]
