"""The schedule of a run: what each resource waits for, and what its failure skips.

Order rules, in this priority:
1. explicit edges (`require=`, `before=`, event sources) always hold;
2. otherwise declaration order: resources are linearised by a topological sort that
   picks the earliest-declared ready resource first;
3. on that line, a non-concurrent resource (command, package, service) is a barrier:
   it waits for everything before it and everything after it waits for it. Concurrent
   resources (files) between two barriers run in parallel.
Consecutive resources of one module with `apply_batch` form one barrier group, so
their applies can be made in a single call.
"""

from __future__ import annotations

import heapq
import os
from dataclasses import dataclass, field
from typing import Any

from partout.dsl.catalog import Catalog
from partout.dsl.dependencies import hard_dependencies
from partout.errors import PolicyError
from partout.modules.base import Module


@dataclass
class Plan:
    order: list[str]
    # id -> ids that must finish first (explicit and implicit)
    waits: dict[str, set[str]]
    # id -> ids whose failure (or skip because of a failure) skips it
    hard: dict[str, set[str]]
    # id -> the ids of its batch group (only for groups of two or more)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def dependents(self) -> dict[str, list[str]]:
        reverse: dict[str, list[str]] = {rid: [] for rid in self.order}
        for rid, waits in self.waits.items():
            for dependency in waits:
                reverse[dependency].append(rid)
        return reverse


def linearise(catalog: Catalog, graph: dict[str, set[str]]) -> list[str]:
    """Topological order of the explicit graph, earliest declaration first."""
    index = {resource.id: position for position, resource in enumerate(catalog.resources)}
    for rid, dependencies in graph.items():
        for dependency in dependencies:
            if dependency not in index:
                resource = catalog.by_id()[rid]
                raise PolicyError(f"{rid} depends on {dependency}, which the policy does not declare",
                                  file=resource.source.file, line=resource.source.line)
    remaining = {rid: len(dependencies) for rid, dependencies in graph.items()}
    dependents: dict[str, list[str]] = {rid: [] for rid in graph}
    for rid, dependencies in graph.items():
        for dependency in dependencies:
            dependents[dependency].append(rid)
    ready = [index[rid] for rid, count in remaining.items() if count == 0]
    heapq.heapify(ready)
    ids = [resource.id for resource in catalog.resources]
    order: list[str] = []
    while ready:
        rid = ids[heapq.heappop(ready)]
        order.append(rid)
        for later in dependents[rid]:
            remaining[later] -= 1
            if remaining[later] == 0:
                heapq.heappush(ready, index[later])
    if len(order) != len(ids):
        stuck = sorted((rid for rid in ids if remaining[rid] > 0), key=index.__getitem__)
        raise PolicyError(f"dependency cycle among {', '.join(stuck)}", file=catalog.policy)
    return order


def autorequire(catalog: Catalog) -> dict[str, set[str]]:
    """id -> the file resource managing its closest managed ancestor directory, as Puppet
    autorequires: files run concurrently, and a file cannot be made before its directory."""
    directories: dict[str, str] = {}
    for resource in catalog.resources:
        if resource.module == "file":
            directories.setdefault(str(getattr(resource.options, "path", "")), resource.id)
    edges: dict[str, set[str]] = {}
    if len(directories) < 2:
        return edges
    for resource in catalog.resources:
        path = getattr(resource.options, "path", None)
        if path is None:
            continue
        current = str(path)  # pathlib paths are already normalised
        # rpartition instead of os.path.dirname: this loop runs for every resource.
        while True:
            current = current.rpartition("/")[0]
            if not current:
                break
            owner = directories.get(current)
            if owner is not None:
                if owner != resource.id:
                    edges[resource.id] = {owner}
                break
    return edges


def make_plan(catalog: Catalog, modules: dict[str, Module[Any]]) -> Plan:
    graph = catalog.dependencies()
    implicit = autorequire(catalog)
    if implicit:
        with_implicit = {rid: dependencies | implicit.get(rid, set()) for rid, dependencies in graph.items()}
        try:
            order = linearise(catalog, with_implicit)
            graph = with_implicit
        except PolicyError:  # an explicit edge says otherwise: explicit edges win
            order = linearise(catalog, graph)
    else:
        order = linearise(catalog, graph)
    by_id = catalog.by_id()
    hard = hard_dependencies(catalog.resources)

    waits = {rid: set(dependencies) for rid, dependencies in graph.items()}
    groups: dict[str, tuple[str, ...]] = {}
    last_barrier: list[str] = []
    since_barrier: list[str] = []
    group_base: set[str] = set()
    previous: str | None = None
    for rid in order:
        resource = by_id[rid]
        module = modules[resource.module]
        if module.concurrent:
            waits[rid].update(last_barrier)
            since_barrier.append(rid)
        elif (previous is not None and not since_barrier and previous in last_barrier
              and module.apply_batch is not None and by_id[previous].module == resource.module
              and not resource.on and not resource.refresh_only
              and not by_id[previous].on and not by_id[previous].refresh_only
              and not (graph[rid] & set(last_barrier))):
            waits[rid].update(group_base)
            last_barrier.append(rid)
        else:
            group_base = set(last_barrier) | set(since_barrier)
            waits[rid].update(group_base)
            last_barrier = [rid]
            since_barrier = []
        if len(last_barrier) > 1 and rid == last_barrier[-1] and not module.concurrent:
            members = tuple(last_barrier)
            for member in members:
                groups[member] = members
        previous = rid
    return Plan(order=order, waits=waits, hard=hard, groups=groups)
