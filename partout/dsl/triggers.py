"""`p2.on_trigger(name)`: resources declared only in the run a trigger caused.

    with p2.on_trigger("deploy") as deploy:            # a block; `deploy.data` is {} unless fired
        p2.command(f"/opt/app/deploy {deploy.data.get('version', 'latest')}")
    p2.on_trigger("restart-app", lambda t: p2.service("app", state="restarted"))  # called only when fired

A trigger reaches an agent from the master (`partout trigger NAME --where QUERY --data JSON`,
an integration, or an event rule): the agent compiles and applies at once, with the fired
triggers in scope. Every other run (interval, policy change, drift) compiles the blocks
inactive, so what they declare runs once per trigger and is not kept or watched afterwards.
`partout apply --trigger NAME[=JSON]` fires one locally.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from partout.dsl.catalog import SourceLocation
from partout.errors import PolicyError

if TYPE_CHECKING:
    from partout.dsl.builder import Block
    from partout.dsl.compilation import Compilation

# one NATS subject token (partout.wire.triggers.TRIGGER_NAME_PATTERN)
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")


@dataclass(frozen=True)
class Trigger:
    """A trigger as a policy sees it: truthy only in the run it fired."""

    name: str
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sender: str = ""
    trigger_id: str = ""
    fired: bool = False

    def __bool__(self) -> bool:
        return self.fired


def check_trigger_name(name: object) -> str | None:
    """None when `name` can name a trigger, else why not."""
    if not isinstance(name, str) or not _NAME.match(name):
        return f"a trigger name is 1-100 letters, digits, '-' or '_', not {name!r}"
    return None


def fired(name: str, data: Mapping[str, Any] | None = None, *, sender: str = "", trigger_id: str = "") -> Trigger:
    """A fired trigger (its data read-only: a policy reads it, and one trigger may feed many blocks)."""
    return Trigger(name=name, data=MappingProxyType(dict(data or {})), sender=sender, trigger_id=trigger_id,
                   fired=True)


def on_trigger(compilation: Compilation, name: object, handlers: tuple[Any, ...], location: SourceLocation) -> Block:
    """The block of `p2.on_trigger(name, *handlers)`; callables among `handlers` are called
    with the Trigger inside it, only when it fired."""
    from partout.dsl.builder import TriggerBlock

    def fail(message: str) -> PolicyError:
        return PolicyError(f"p2.on_trigger: {message}", file=location.file, line=location.line)

    problem = check_trigger_name(name)
    if problem is not None:
        raise fail(problem)
    assert isinstance(name, str)
    for handler in handlers:
        if not callable(handler):
            raise fail(f"handlers are callables taking the trigger (lambda t: p2.command(...)), "
                       f"not {type(handler).__name__}")
    trigger = compilation.triggers.get(name) or Trigger(name=name)
    # inactive unless fired; a trigger's resources run once, so they are not watched
    scope = replace(compilation.scope, active=compilation.scope.active and trigger.fired, watch=False)
    block = TriggerBlock(compilation, scope, trigger)
    if trigger.fired:
        for handler in handlers:
            call: Callable[[Trigger], Any] = handler
            with block:
                call(trigger)
    return block


__all__ = ["Trigger", "check_trigger_name", "fired", "on_trigger"]
