"""A test-only module `probe`: a few typed options, an action, and a resolve that can fail."""

from __future__ import annotations

from pydantic import Field

from partout.errors import PolicyError
from partout.modules.base import Change, CompileContext, Module, ModuleOptions, RunContext


class ProbeOptions(ModuleOptions):
    """A probe."""

    name: str = Field(description="The title.")
    mode: str | None = Field(None, pattern=r"^0[0-7]{3}$", description="An octal mode.")
    count: int = Field(1, ge=0, description="A number.")
    fail: str | None = Field(None, description="'value' or 'partout': resolve raises that kind of error.")
    resolved_in: str | None = Field(None, description="Set by resolve: the policy directory it saw.")
    greeting: str | None = Field(None, description="Set by resolve from facts and title.")


def resolve(spec: ProbeOptions, context: CompileContext) -> ProbeOptions:
    if spec.fail == "value":
        raise ValueError("the probe cannot resolve this")
    if spec.fail == "partout":
        raise PolicyError("probe source 'missing.txt' not found")
    facts = context.facts
    hostname = facts["hostname"] if isinstance(facts, dict) else facts.hostname
    return spec.model_copy(update={"resolved_in": str(context.policy_dir), "greeting": f"{context.title}@{hostname}"})


def check(spec: ProbeOptions, context: RunContext) -> Change | None:
    return None


def apply(spec: ProbeOptions, change: Change, context: RunContext) -> str | None:
    return None


def refresh(spec: ProbeOptions, context: RunContext) -> str | None:
    return None


MODULE = Module(
    name="probe", options=ProbeOptions, check=check, apply=apply, resolve=resolve,
    actions={"refresh": refresh, "stop": refresh},
)


def pair_role(p2: object, title: str) -> None:
    """A role written in plain Python (not a policy file), for location tests."""
    p2.probe(title + "-1").probe(title + "-2", count=-1)  # type: ignore[attr-defined]
