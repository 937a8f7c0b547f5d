"""Whole-catalog checks once every resource is declared: references name declared
resources, and require/before/on form no cycle."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from partout.dsl.catalog import split_event
from partout.dsl.state import Entry
from partout.errors import PolicyError


def check_graph(entries: Sequence[Entry], by_id: Mapping[str, Entry]) -> None:
    check_references(entries, by_id)
    check_cycles(entries, by_id)


def check_references(entries: Sequence[Entry], by_id: Mapping[str, Entry]) -> None:
    for entry in entries:
        named = [("require", target) for target in entry.require]
        named += [("before", target) for target in entry.before]
        named += [("on", split_event(event)[0]) for event in entry.on]
        for option, target in named:
            if target not in by_id:
                message = f"{option} names {target!r}, which is not declared for this node"
                others = [known for known in by_id if known != entry.id]
                close = difflib.get_close_matches(target, others, n=1)
                if close:
                    message += f"; did you mean {close[0]!r}?"
                raise entry.error(message)


def dependencies(entries: Sequence[Entry]) -> dict[str, list[str]]:
    """id -> ids that must finish first, the same edges as `Catalog.dependencies`."""
    graph: dict[str, list[str]] = {entry.id: [] for entry in entries}
    for entry in entries:
        graph[entry.id].extend(entry.require)
        for later in entry.before:
            graph[later].append(entry.id)
        graph[entry.id].extend(split_event(event)[0] for event in entry.on)
    return graph


def check_cycles(entries: Sequence[Entry], by_id: Mapping[str, Entry]) -> None:
    """Depth-first search without recursion (a 10,000-resource chain must not overflow)."""
    graph = dependencies(entries)
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        pending = [iter(graph[root])]
        while pending:
            target = next(pending[-1], None)
            if target is None:
                pending.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif target in on_path:
                raise cycle_error(path[path.index(target):], by_id)
            elif target not in done:
                path.append(target)
                on_path.add(target)
                pending.append(iter(graph[target]))


def cycle_error(cycle: list[str], by_id: Mapping[str, Entry]) -> PolicyError:
    # Each id waits for the next one; start at the earliest declared so the message is stable.
    order = {resource_id: index for index, resource_id in enumerate(by_id)}
    start = min(range(len(cycle)), key=lambda index: order[cycle[index]])
    cycle = cycle[start:] + cycle[:start]
    steps = " -> ".join(f"{resource_id} ({by_id[resource_id].source})" for resource_id in cycle)
    first = by_id[cycle[0]]
    return PolicyError(
        f"dependency cycle: {steps} -> {cycle[0]} (each waits for the next through require/before/on); "
        "remove one of these links",
        file=first.source.file,
        line=first.source.line,
    )
