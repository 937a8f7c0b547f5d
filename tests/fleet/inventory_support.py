"""The load-balancer fleet of the inventory tests: LBs list the web nodes from `p2.nodes`."""

from __future__ import annotations

import json
from typing import Any

from fleetenv import Fleet, FleetAgent, approved
from helpers import eventually

from partout.agent.daemon import Agent

SITE = '''
root = facts.custom.get("root", "/tmp/partout-fleet")
if facts.custom.get("role") == "lb":
    backends = p2.nodes("role == 'web'", fields=["hostname", "port"])
    p2.file(root + "/backends", content="".join(f"server {b['hostname']}:{b['port']}\\n" for b in backends))
p2.file(root + "/motd", content="hello\\n")
'''
WINDOW = 0.3


def write_facts(fleet: Fleet, hostname: str, **custom: Any) -> None:
    path = fleet.directory / "facts" / f"{hostname}.json"
    path.parent.mkdir(exist_ok=True)
    root = fleet.directory / "roots" / hostname
    path.write_text(json.dumps({"hostname": hostname, "custom": {"root": str(root), **custom}}))


def start_agent(fleet: Fleet, hostname: str, agent_options: dict[str, Any] | None = None,
                **custom: Any) -> FleetAgent:
    """An agent whose custom facts are `custom`, its AgentConfig given `agent_options`."""
    # agent_config writes a facts file: ours replaces it before the start
    config = fleet.agent_config(hostname, **(agent_options or {}))
    write_facts(fleet, hostname, **custom)
    agent = FleetAgent(Agent(config), fleet.directory / "roots" / hostname)
    agent.agent.start()
    fleet.agents.append(agent)
    return agent


def started_with_role(fleet: Fleet, hostname: str, role: str, **agent_options: Any) -> FleetAgent:
    """An agent with custom fact `role`, approved, that applied its first policy ("hello")."""
    agent = start_agent(fleet, hostname, agent_options, role=role)
    assert approved(agent, timeout=30)
    assert eventually(lambda: agent.content() == "hello\n" and len(agent.runs()) >= 1, timeout=30)
    return agent


def written(agent: FleetAgent, name: str) -> str | None:
    """The file `name` under the agent's root, None while it does not exist."""
    try:
        return (agent.root / name).read_text()
    except FileNotFoundError:
        return None


def backends(agent: FleetAgent) -> str | None:
    return written(agent, "backends")
