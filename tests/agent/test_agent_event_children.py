"""The agent's event children without a master: resource results as events, the
[agent.events] settings, the events actor's batches, advice and last counts at stop, and
the outbox when its spool has no room for a report (kept in memory, still delivered)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pykka
import pytest
from helpers import eventually
from natsenv import NatsEnv, secured_backbone
from test_agent_support import Inbox, approved_agent, file_policy, master_bus, Publisher

from partout import subjects
from partout.actors.supervisor import Send
from partout.agent.config import AgentConfig, EventSettings, load_agent_config
from partout.agent.daemon import EXIT_FAILED, Agent
from partout.agent.event_messages import EventsNotice, Outcomes, SpoolBatch
from partout.agent.events_actor import OTHER_MODULE, EventsActor, event_of
from partout.agent.messages import OUTBOX, AgentContext
from partout.errors import StateError
from partout.events.wire import MAX_MESSAGE_CHARS, MAX_TITLE_CHARS, EventBatch, Level, parse_batch
from partout.report import Report, ResourceResult, Status
from partout.wire.fleet import RunReport

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def result(result_id: str, summary: str = "", status: Status = Status.CHANGED) -> ResourceResult:
    return ResourceResult(id=result_id, status=status, summary=summary)


@pytest.mark.parametrize(("result_id", "module", "title"), [
    ("file:/etc/motd", "file", "/etc/motd"),
    ("policy:compile", "policy", "compile"),
    ("service:nginx:extra", "service", "nginx:extra"),
    ("no-module-here", OTHER_MODULE, "no-module-here"),
    ("9file:/x", OTHER_MODULE, "9file:/x"),
    ("file:", OTHER_MODULE, "file:"),
    ("fi le:/x", OTHER_MODULE, "fi le:/x"),
])
def test_a_result_id_gives_the_module_and_the_title(result_id: str, module: str, title: str) -> None:
    event = event_of(result(result_id), agent_id="web1", sequence=3, when=NOW)
    assert (event.module, event.title, event.sequence, event.agent_time) == (module, title, 3, NOW)


def test_long_titles_and_messages_are_cut_and_only_the_first_line_is_the_message() -> None:
    event = event_of(result("file:/" + "x" * 5000, "line one\nline two\n" + "y" * 5000), agent_id="web1",
                     sequence=0, when=NOW)
    assert len(event.title) == MAX_TITLE_CHARS and event.message == "line one"
    event = event_of(result("file:/x", "z" * 5000), agent_id="web1", sequence=0, when=NOW)
    assert len(event.message) == MAX_MESSAGE_CHARS


def test_the_event_settings_load_from_the_agent_file_and_bad_ones_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("[agent]\n[agent.events]\nperiod = 30\nalive_period = 3600\nspool_max_bytes = 1048576\n")
    settings = load_agent_config(path).events
    assert (settings.period, settings.splay, settings.alive_period, settings.spool_max_bytes) == (30, 0.05, 3600,
                                                                                                  1 << 20)
    assert AgentConfig().events == EventSettings()
    path.write_text("[agent.events]\nperiod = 0.1\n")
    with pytest.raises(StateError, match=r"agent.toml: events.period: Input should be greater than or equal to 1"):
        load_agent_config(path)
    path.write_text("[agent.events]\nperiodd = 10\n")
    with pytest.raises(StateError, match=r"events.periodd: Extra inputs"):
        load_agent_config(path)


class Recorder:
    """What the child sent its parent."""

    def __init__(self) -> None:
        self.sent: list[object] = []
        self.lock = threading.Lock()

    def batches(self) -> list[EventBatch]:
        with self.lock:
            return [message.batch for message in self.sent if isinstance(message, SpoolBatch)]


class Parent(pykka.ThreadingActor):
    """Stands in for the supervisor: records the messages its child sends (told or asked)."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Send) and message.to == OUTBOX:
            with self.recorder.lock:
                self.recorder.sent.append(message.message)
        return None


def run_report(count: int, sequence: int = 4) -> RunReport:
    report = Report(policy="site.p2", started_at=datetime.now(UTC),
                    results=[result(f"file:/srv/{number}", "content changed") for number in range(count)])
    return RunReport(report_id=f"r{count}", agent_id="web1", environment="production", sequence=sequence,
                     report=report)


@pytest.fixture
def events_actor(tmp_path: Path) -> Iterator[tuple[pykka.ActorRef[Any], Recorder]]:
    recorder = Recorder()
    parent_ref = Parent.start(recorder)
    config = AgentConfig(state_dir=tmp_path, events=EventSettings(period=1, splay=0.0))
    context = AgentContext(config, "web1", "production", "UMASTER", tmp_path / "agent.nk")
    child = EventsActor.start(parent_ref, context)
    try:
        yield child, recorder
    finally:
        child.stop()
        parent_ref.stop()


def test_the_events_actor_sends_one_batch_per_period_and_its_last_counts_at_stop(
        events_actor: tuple[pykka.ActorRef[Any], Recorder]) -> None:
    child, recorder = events_actor
    child.tell(Outcomes(run_report(3)))
    child.tell(Outcomes(run_report(2)))
    assert eventually(lambda: sum(batch.count for batch in recorder.batches()) == 5, timeout=15)
    first = recorder.batches()
    assert len(first) == 1 and first[0].level == Level.MESSAGE and first[0].sequence == 4
    assert first[0].by_status == {Status.CHANGED: 5}

    # level 0 from the master: counts wait for the alive message, or the stop
    child.tell(EventsNotice({"advice": {"period": 1, "splay": 0, "level": 0, "alive_period": 3600}}))
    child.tell(Outcomes(run_report(7)))
    child.stop()
    last = recorder.batches()[-1]
    assert (last.count, last.level) == (7, Level.ALIVE)
    assert last.period_start == first[0].period_end


def test_a_report_the_spool_has_no_room_for_is_kept_in_memory_and_still_delivered(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="partout.agent")
    with secured_backbone(tmp_path / "nats") as env:
        inbox = Inbox()
        buses = master_bus(env, inbox)
        bus = next(buses)
        try:
            publisher = Publisher(env, bus, tmp_path / "environments")
            target = tmp_path / "big.txt"
            # a report with a diff far over the spool's bound
            publisher.put(publisher.bundle({"site.p2": file_policy(target, "line\n" * 3000)}))
            config = approved_agent(env, tmp_path / "agent", "web1",
                                    events=EventSettings(period=1, spool_max_bytes=4096))
            agent = Agent(config)
            agent.start()
            try:
                assert eventually(lambda: len(inbox.runs()) == 1, timeout=30)
                target.write_text("drift\n" * 3000)
                assert eventually(lambda: len(inbox.runs("watch")) == 1, timeout=30)
            finally:
                agent.stop()
        finally:
            next(buses, None)
    full = [r for r in caplog.records if r.getMessage().startswith("report kept in memory")]
    assert len(full) == 1  # logged once for both reports
    assert not [r for r in caplog.records if r.getMessage().startswith("report lost")]


def test_run_once_publishes_the_runs_events_in_one_batch(tmp_path: Path) -> None:
    with secured_backbone(tmp_path / "nats") as env:
        inbox = Inbox()
        buses = master_bus(env, inbox)
        bus = next(buses)
        received: list[EventBatch] = []
        try:
            bus.subscribe(subjects.AGENT_EVENTS_ALL, lambda message: received.append(parse_batch(message.data)))
            bus.flush().get(timeout=10)
            publisher = Publisher(env, bus, tmp_path / "environments")
            policy = file_policy(tmp_path / "a", "a\n") + file_policy(tmp_path / "missing" / "b", "b\n")
            publisher.put(publisher.bundle({"site.p2": policy}))
            config = approved_agent(env, tmp_path / "agent", "web1")
            assert Agent(config).run_once(wait=10) == EXIT_FAILED
            assert eventually(lambda: len(received) == 1, timeout=10)
        finally:
            next(buses, None)
    batch = received[0]
    assert batch.agent_id == "web1" and batch.count == 2 and batch.level == Level.MESSAGE
    assert batch.by_status == {Status.CHANGED: 1, Status.FAILED: 1}
    report = inbox.runs("run")[0]
    assert batch.period_start == report.report.started_at and batch.sequence == report.sequence
