"""The fleet as the tests drive it: a secured partout-nats, a real master answering its
auth callout, and real agents (in this process, each with its own key, connection and
temp root). Policies write under each agent's root, read from its `root` custom fact."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helpers import eventually

from partout.agent.config import AgentConfig
from partout.agent.daemon import Agent
from partout.master.config import AutoApproveRule, MasterConfig
from partout.master.daemon import Master
from partout.nats.launcher import Backbone, start_backbone
from partout.operator import OperatorClient, default_key_file
from partout.wire.fleet import RunReport

STARTED = re.compile(r"^partout master [A-Z0-9]{56} on ", re.MULTILINE)
SITE = 'p2.file(facts.custom.get("root", "/tmp/partout-fleet") + "/motd", content={content!r}, watch=True)\n'
TOKEN = "fleet-test-token-0123"


def site(content: str) -> str:
    return SITE.format(content=content)


class FleetAgent:
    """An Agent plus what it reported, for assertions."""

    def __init__(self, agent: Agent, root: Path) -> None:
        self.agent = agent
        self.root = root
        self.reports: list[RunReport] = []
        self.lock = threading.Lock()
        agent.on_report = self._record

    def _record(self, report: RunReport) -> None:
        with self.lock:
            self.reports.append(report)

    @property
    def motd(self) -> Path:
        return self.root / "motd"

    def content(self) -> str | None:
        try:
            return self.motd.read_text()
        except FileNotFoundError:
            return None

    def runs(self) -> list[RunReport]:
        with self.lock:
            return list(self.reports)


class Fleet:
    def __init__(self, directory: Path, backbone: Backbone) -> None:
        self.directory = directory
        self.backbone = backbone
        self.environments = directory / "environments"
        self.master: Master | None = None
        self.agents: list[FleetAgent] = []
        self._operator: OperatorClient | None = None

    @property
    def urls(self) -> list[str]:
        return self.backbone.urls

    @property
    def nats_state(self) -> Path:
        return self.backbone.state_dir

    def write_policy(self, environment: str, content: str) -> None:
        folder = self.environments / environment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "site.p2").write_text(site(content))

    def master_config(self) -> MasterConfig:
        return MasterConfig(
            nats_urls=tuple(self.urls), nats_state=self.nats_state, state_dir=self.directory / "master",
            environments=self.environments, sample_facts=self.directory / "sample-facts.json", debounce=0.05,
            report_ack_wait=1.0,
            auto_approve=(AutoApproveRule(environment="production", hostname="prod-*"),
                          AutoApproveRule(environment="staging", hostname="stage-*"),
                          AutoApproveRule(environment="production", token=TOKEN)),
        )

    def start_master(self) -> Master:
        self.master = Master(self.master_config()).start()
        return self.master

    def stop_master(self) -> None:
        if self.master is not None:
            self.master.stop()
            self.master = None

    def agent_config(self, hostname: str, **options: Any) -> AgentConfig:
        root = self.directory / "roots" / hostname
        root.mkdir(parents=True, exist_ok=True)
        facts = self.directory / "facts" / f"{hostname}.json"
        facts.parent.mkdir(exist_ok=True)
        facts.write_text(json.dumps({"hostname": hostname, "custom": {"root": str(root)}}))
        fields: dict[str, Any] = dict(
            servers=tuple(self.urls), state_dir=self.directory / "agents" / hostname, hostname=hostname,
            facts_file=facts, master_key=self.master.public_key if self.master else None,
            enrol_interval=0.1, enrol_max_interval=0.5, interval=3600,
        )
        fields.update(options)
        return AgentConfig(**fields)

    def agent(self, hostname: str, **options: Any) -> FleetAgent:
        config = self.agent_config(hostname, **options)
        agent = FleetAgent(Agent(config), self.directory / "roots" / hostname)
        agent.agent.start()
        self.agents.append(agent)
        return agent

    @property
    def operator(self) -> OperatorClient:
        if self._operator is None:
            self._operator = OperatorClient.connect(self.urls, key_file=default_key_file(self.nats_state))
        return self._operator

    def operator_args(self) -> list[str]:
        return ["--nats", self.urls[0], "--nats-state", str(self.nats_state)]

    def close(self) -> None:
        for agent in self.agents:
            agent.agent.stop()
        if self._operator is not None:
            self._operator.close()
        self.stop_master()


class MasterProcess:
    """`partout master` as a child process, to be killed like a crashed daemon. Several side
    by side take a `name` each (their state dir and log) and `options` such as `--store`."""

    def __init__(self, fleet: Fleet, name: str = "master", options: tuple[str, ...] = ()) -> None:
        self.fleet = fleet
        self.name = name
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.fleet.directory / f"{self.name}.log"

    def start(self) -> None:
        fleet = self.fleet
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "partout", "master", "--nats", fleet.urls[0], "--nats-state", str(fleet.nats_state),
             "--state-dir", str(fleet.directory / self.name), "--environments", str(fleet.environments),
             "--sample-facts", str(fleet.directory / "sample-facts.json"), "--auto-approve", "prod-*=production",
             *self.options],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

    def times_started(self) -> int:
        """How often this master has said it runs (it prints its key once started)."""
        try:
            return len(STARTED.findall(self.log_file.read_text(errors="replace")))
        except FileNotFoundError:
            return 0

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def agent_process(fleet: Fleet, hostname: str, log_path: Path) -> subprocess.Popen[str]:
    """`partout agent` as a child process with the fleet's token, its output in `log_path`."""
    config = fleet.agent_config(hostname)
    with log_path.open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "partout", "agent", "--nats", fleet.urls[0], "--state-dir",
             str(config.state_dir), "--hostname", hostname, "--facts", str(config.facts_file),
             "--token", TOKEN, "--master-key", str(config.master_key), "--enrol-interval", "0.1"],
            stdout=log, stderr=subprocess.STDOUT, text=True)


@contextmanager
def running_fleet(directory: Path, *, master: bool = True) -> Iterator[Fleet]:
    backbone = start_backbone(directory / "nats", port=0, log_to_files=True)
    fleet = Fleet(directory, backbone)
    (directory / "sample-facts.json").write_text(json.dumps({"hostname": "sample",
                                                             "custom": {"root": "/tmp/partout-sample"}}))
    fleet.write_policy("production", "production 1\n")
    fleet.write_policy("staging", "staging 1\n")
    try:
        if master:
            fleet.start_master()
        yield fleet
    finally:
        try:
            fleet.close()
        finally:
            backbone.stop()


@contextmanager
def fleet_with_site(directory: Path, site_text: str, **config: Any) -> Iterator[Fleet]:
    """A running fleet whose production policy is `site_text` from the master's first publish
    (so agents apply no other one first), its master configured with `config` on top."""
    with running_fleet(directory, master=False) as fleet:
        (fleet.environments / "production" / "site.p2").write_text(site_text)
        fleet.master = Master(fleet.master_config().model_copy(update=config)).start()
        yield fleet


def approved(agent: FleetAgent, timeout: float = 15.0) -> bool:
    return eventually(lambda: agent.agent.agent_id is not None and agent.agent.state == "running", timeout=timeout)
