"""Whole-catalog checks once every resource is declared: references name declared
resources, and require/before/on form no cycle. The edges come from
`partout.dsl.dependencies`, as the run plan's do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from partout.dsl.dependencies import dependency_graph, edges
from partout.dsl.state import Entry
from partout.errors import PolicyError


def check_graph(entries: Sequence[Entry], by_id: Mapping[str, Entry]) -> None:
    check_references(entries, by_id)
    check_cycles(entries, by_id)


def check_references(entries: Sequence[Entry], by_id: Mapping[str, Entry]) -> None:
    for edge in edges(entries):
        target = edge.named
        if target in by_id:
            continue
        declared_by = by_id[edge.declared_by]
        message = f"{edge.option} names {target!r}, which is not declared for this node"
        others = [known for known in by_id if known != declared_by.id]
        import difflib  # only for a policy error: not part of every compile's start-up

        close = difflib.get_close_matches(target, others, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        raise declared_by.error(message)


def check_cycles(entries: Sequence[Entry], by_id: Mapping[str, Entry]) -> None:
    """Depth-first search without recursion (a 10,000-resource chain must not overflow)."""
    graph = dependency_graph(entries)
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
