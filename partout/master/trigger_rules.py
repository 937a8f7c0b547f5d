"""Rules of the master config that turn agents' events into triggers.

    [[trigger_rules]]
    name = "openssl-restarts-app"      # the trigger's sender is shown as rule:<name>
    event = "package:openssl:changed"  # module:title:status; the title may be a glob (fnmatch)
    from = "role == 'db'"              # inventory query the sending agent must match (default: any)
    trigger = "restart-app"
    where = "role == 'app'"
    data = { reason = "openssl updated" }

Checked at load (a query that does not parse names the rule, the field and the column).
`RuleMatcher` looks only at the event leaves whose (module, status) some rule names, so
event ingest stays as fast without rules; the `from` query is the router's business (it
needs the store).
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from partout.events.counts import leaves_of
from partout.events.wire import EventBatch
from partout.report import Status
from partout.wire.triggers import TRIGGER_NAME_PATTERN

MODULE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


def check_query(text: str, rule: str, field: str) -> None:
    from partout.inventory import Query, QueryError

    try:
        Query.parse(text)
    except QueryError as error:
        raise ValueError(f"trigger rule {rule!r}: {field}: {error}") from None


class TriggerRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(pattern=TRIGGER_NAME_PATTERN, description="The rule's name; its triggers' sender is rule:<name>.")
    event: str = Field(description="module:title:status, e.g. 'package:openssl:changed'; the title may be a "
                                   "glob ('*' matches batches too coarse to name titles).")
    from_: str | None = Field(None, alias="from", description="Inventory query the agent whose event it is must "
                                                              "match (default: any approved agent).")
    trigger: str = Field(pattern=TRIGGER_NAME_PATTERN, description="The trigger fired.")
    where: str = Field("true", description="Inventory query selecting the agents the trigger reaches.")
    data: dict[str, Any] = Field(default_factory=dict, description="Given to the p2.on_trigger blocks.")

    @model_validator(mode="after")
    def _checked(self) -> TriggerRule:
        import re

        module, _, rest = self.event.partition(":")
        title, _, status = rest.rpartition(":")
        if not title or not re.match(MODULE_PATTERN, module) or status not in {s.value for s in Status}:
            raise ValueError(f"trigger rule {self.name!r}: event {self.event!r} is not module:title:status "
                             f"(status one of {', '.join(s.value for s in Status)})")
        if self.from_ is not None:
            check_query(self.from_, self.name, "from")
        check_query(self.where, self.name, "where")
        return self

    @property
    def module(self) -> str:
        return self.event.partition(":")[0]

    @property
    def title(self) -> str:
        return self.event.partition(":")[2].rpartition(":")[0]

    @property
    def status(self) -> str:
        return self.event.rpartition(":")[2]

    def matches_title(self, title: str | None) -> bool:
        if title is None:  # a batch too coarse to name titles
            return self.title == "*"
        return fnmatch.fnmatchcase(title, self.title)


@dataclass(frozen=True)
class RuleHit:
    """An agent's batch had an event that rule `rule` names (told to the trigger router)."""

    rule: str
    agent_id: str


class RuleMatcher:
    """The rules, indexed by (module, status): most leaves of a batch are looked up and skipped."""

    def __init__(self, rules: tuple[TriggerRule, ...]) -> None:
        self._by_kind: dict[tuple[str, str], list[TriggerRule]] = defaultdict(list)
        for rule in rules:
            self._by_kind[(rule.module, rule.status)].append(rule)

    def __bool__(self) -> bool:
        return bool(self._by_kind)

    def hits(self, batch: EventBatch) -> list[RuleHit]:
        """The rules an event of `batch` matches (each once)."""
        if not self._by_kind:
            return []
        fired: dict[str, RuleHit] = {}
        for module, title, _message, status in leaves_of(batch):
            for rule in self._by_kind.get((str(module), str(status)), ()):
                if rule.name not in fired and rule.matches_title(title):
                    fired[rule.name] = RuleHit(rule.name, batch.agent_id)
        return list(fired.values())


__all__ = ["RuleHit", "RuleMatcher", "TriggerRule", "check_query"]
