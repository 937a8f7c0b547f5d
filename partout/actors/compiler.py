"""`CompilerActor`: turns policy source + facts into a Catalog, off the caller's thread.

The agent asks it when a new policy or new facts arrive; `partout apply` calls the
compiler directly instead, since it has nothing else to do meanwhile and an actor
hop would only add start-up work.

    ref = CompilerActor.start()
    catalog = ref.ask(Compile(path, facts), timeout=60)      # raises PolicyError
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from partout.actors.pool import PooledActor, WorkerPool
from partout.dsl.catalog import Catalog
from partout.dsl.nodes import Inventory
from partout.dsl.triggers import Trigger


@dataclass(frozen=True)
class Compile:
    """Compile the policy file `path` for a node with `facts`."""

    path: Path
    facts: object
    roles_dirs: Sequence[Path] = ()
    inventory: Inventory | None = None  # answers p2.nodes (partout.dsl.nodes)
    triggers: tuple[Trigger, ...] = ()  # fired, for p2.on_trigger (partout.dsl.triggers)


@dataclass(frozen=True)
class CompileSource:
    """Compile policy text received over the bus as if it were the file `filename`."""

    source: str
    filename: str
    facts: object
    roles_dirs: Sequence[Path] = ()


class CompilerActor(PooledActor):
    def __init__(self, *, pool: WorkerPool | None = None) -> None:
        super().__init__(pool=pool)

    def on_receive(self, message: Any) -> Any:
        from partout.dsl.compiler import compile_policy, compile_source

        match message:
            case Compile(path=path, facts=facts, roles_dirs=roles_dirs, inventory=inventory, triggers=triggers):
                catalog: Catalog = compile_policy(path, facts, roles_dirs=roles_dirs, inventory=inventory,
                                                  triggers=triggers)
                return catalog
            case CompileSource(source=source, filename=filename, facts=facts, roles_dirs=roles_dirs):
                return compile_source(source, filename=filename, facts=facts, roles_dirs=roles_dirs)
            case _:
                return super().on_receive(message)
