"""What `partout up --example NAME --role ROLE --extra-agent ROLE` adds to `partout up`: an
example environment other than `production`'s served as production, a role for the local
agent (custom fact `role`), and more local agents with roles of their own, e.g. the webfarm
example's load balancer and web nodes:

    partout up --example webfarm --role lb --extra-agent web --extra-agent web

Each extra agent is a full agent in the same process: its own key and state dir
(<dir>/agents/<role>-<n>), custom facts (<dir>/agents/<role>-<n>/facts.d), managed files
(<dir>/managed-<role>-<n>) and hostname (<this host>-<role>-<n>)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from partout.errors import PartoutError

if TYPE_CHECKING:
    from partout.agent.daemon import Agent
    from partout.wire.fleet import RunReport

ROLE_FILE = "role.json"


def example_source(name: str) -> Path | None:
    """examples/environments/<name> of this checkout, if Partout runs from one."""
    import partout

    candidate = Path(partout.__file__).resolve().parent.parent / "examples" / "environments" / name
    return candidate if (candidate / "site.p2").is_file() else None


def checked_example(name: str) -> Path:
    source = example_source(name)
    if source is None:
        known = sorted(path.parent.name for path in (example_source("production") or Path("/nonexistent")).parent.glob(
            "*/site.p2"))
        raise PartoutError(f"no example environment {name!r}" + (f"; known: {', '.join(known)}" if known else ""))
    return source


def write_role(facts_d: Path, role: str | None) -> None:
    """The custom fact `role` of the agent reading `facts_d` (none: the fact is removed)."""
    path = facts_d / ROLE_FILE
    if role is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(json.dumps({"role": role}) + "\n")


def extra_agents(directory: Path, roles: Sequence[str], *, servers: Sequence[str], master_key: str, token: str,
                 interval: float, on_report: Callable[[RunReport], None]) -> list[Agent]:
    """Start one agent per role (see the module docstring); the caller stops them."""
    from partout.agent.config import AgentConfig
    from partout.agent.daemon import Agent
    from partout.cli.up_events import agent_events
    from partout.state import ensure_state_dir

    started: list[Agent] = []
    counts: dict[str, int] = {}
    for role in roles:
        counts[role] = number = counts.get(role, 0) + 1
        name = f"{role}-{number}"
        home = ensure_state_dir(directory / "agents" / name, private=True)
        facts_d = home / "facts.d"
        facts_d.mkdir(exist_ok=True)
        managed = directory / f"managed-{name}"
        (facts_d / "partout-up.json").write_text(json.dumps({"partout_up": {"managed_dir": str(managed)}}) + "\n")
        write_role(facts_d, role)
        agent = Agent(AgentConfig(servers=tuple(servers), state_dir=home / "agent", master_key=master_key,
                                  token=token, interval=interval, facts_d=facts_d,
                                  hostname=f"{socket.gethostname()}-{name}", events=agent_events()),
                      on_report=on_report)
        agent.start()
        started.append(agent)
    return started


__all__ = ["checked_example", "example_source", "extra_agents", "write_role"]
