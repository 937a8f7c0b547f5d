"""A catalog's dependency edges, derived here and nowhere else.

Three meta-options make one resource wait for another: `require=` (it waits for the
named ones), `before=` (the named ones wait for it) and `on=` (it waits for the source
of each event it listens to). The compiler checks these edges (every named id is
declared, no cycle: `partout.dsl.graph`) and the run plan schedules by them
(`partout.actors.plan`); both read them from `edges()`, so they cannot disagree.
Works on compiled `Resource`s and on the compiler's mutable `Entry`s alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

EVENT_STATUSES = ("changed", "failed", "ok")

Option = Literal["require", "before", "on"]


class Linked(Protocol):
    """What edges are read from: a resource's id and its three ordering meta-options."""

    @property
    def id(self) -> str: ...

    @property
    def require(self) -> Sequence[str]: ...

    @property
    def before(self) -> Sequence[str]: ...

    @property
    def on(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class Edge:
    """`waiter` starts only once `first` has finished, because of one option."""

    first: str
    waiter: str
    option: Option
    # for option "on": the status of `first` listened to (changed, failed, ok)
    status: str | None = None

    @property
    def declared_by(self) -> str:
        """The resource whose option made this edge."""
        return self.first if self.option == "before" else self.waiter

    @property
    def named(self) -> str:
        """The id the option names (the other end from `declared_by`)."""
        return self.waiter if self.option == "before" else self.first


def split_event(event: str) -> tuple[str, str]:
    """'file:/etc/x:changed' -> ('file:/etc/x', 'changed'). Titles may contain ':'."""
    resource, _, status = event.rpartition(":")
    if not resource or status not in EVENT_STATUSES:
        raise ValueError(
            f"event {event!r} must be 'module:title:changed', ':failed' or ':ok'"
        )
    return resource, status


def edges(resources: Iterable[Linked]) -> Iterator[Edge]:
    """Every edge, in declaration order; per resource: require, before, then on."""
    for resource in resources:
        for target in resource.require:
            yield Edge(first=target, waiter=resource.id, option="require")
        for later in resource.before:
            yield Edge(first=resource.id, waiter=later, option="before")
        for event in resource.on:
            source, status = split_event(event)
            yield Edge(first=source, waiter=resource.id, option="on", status=status)


def dependency_graph(resources: Sequence[Linked]) -> dict[str, list[str]]:
    """id -> the ids that must finish before it, in edge order. Every id an edge names
    must be declared (a `before=` naming an unknown id raises KeyError): check first."""
    graph: dict[str, list[str]] = {resource.id: [] for resource in resources}
    for edge in edges(resources):
        graph[edge.waiter].append(edge.first)
    return graph


def hard_dependencies(resources: Sequence[Linked]) -> dict[str, set[str]]:
    """id -> the ids whose failure (or skip) skips it: every edge, except from a source
    whose `:failed` event it listens to (that handler exists to run on failure)."""
    every = list(edges(resources))
    listens_failed = {(edge.waiter, edge.first) for edge in every if edge.option == "on" and edge.status == "failed"}
    hard: dict[str, set[str]] = {resource.id: set() for resource in resources}
    for edge in every:
        if edge.option != "on" or (edge.waiter, edge.first) not in listens_failed:
            hard[edge.waiter].add(edge.first)
    return hard
