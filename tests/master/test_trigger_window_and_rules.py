"""The per-key window shared by the dependency tracker and the trigger router, and the
trigger rules of the master config (validation at load, matching of event batches)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from partout.events.counts import Leaves, build_batch, coarsen
from partout.events.wire import EventBatch, Level
from partout.master.coalesce import KeyedWindow
from partout.master.config import MasterConfig, load_config
from partout.master.trigger_rules import RuleHit, RuleMatcher, TriggerRule
from partout.report import Status

AGENT = "0b1c7e4e-0000-4000-8000-000000000001"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def window_of(clock: Clock) -> tuple[KeyedWindow[dict[str, int]], list[tuple[str, dict[str, int]]], list[float]]:
    sent: list[tuple[str, dict[str, int]]] = []
    scheduled: list[float] = []
    window: KeyedWindow[dict[str, int]] = KeyedWindow(
        1.0, send=lambda key, value: sent.append((key, value)), merge=lambda old, new: {**old, **new},
        schedule=scheduled.append, clock=clock)
    return window, sent, scheduled


def test_the_first_value_goes_at_once_and_a_burst_is_one_merged_send_at_the_window_end() -> None:
    clock = Clock()
    window, sent, scheduled = window_of(clock)
    window.add("a", {"deploy": 1})
    assert sent == [("a", {"deploy": 1})] and scheduled == []
    for n in range(200):  # a storm within the window
        clock.now += 0.001
        window.add("a", {"deploy": n, f"t{n % 3}": n})
    assert len(sent) == 1 and scheduled == [pytest.approx(0.999)]  # one wake-up, at the window's end
    window.due()  # too early: nothing, and a wake-up scheduled for the rest of the window
    assert len(sent) == 1 and len(scheduled) == 2
    clock.now = 101.0
    window.due()
    assert sent[1] == ("a", {"deploy": 199, "t0": 198, "t1": 199, "t2": 197})  # the latest of each name wins
    assert window.waiting() == {} and window.sent == 2


def test_keys_have_windows_of_their_own() -> None:
    clock = Clock()
    window, sent, scheduled = window_of(clock)
    window.add("a", {"x": 1})
    window.add("b", {"x": 1})
    clock.now += 0.5
    window.add("a", {"x": 2})
    window.add("c", {"x": 1})
    assert [key for key, _ in sent] == ["a", "b", "c"] and window.waiting() == {"a": {"x": 2}}
    clock.now += 0.6
    window.due()
    assert sent[-1] == ("a", {"x": 2})
    clock.now += 5
    window.add("a", {"x": 3})  # a quiet key goes at once again
    assert sent[-1] == ("a", {"x": 3}) and len(scheduled) == 1


def rule(**fields: object) -> TriggerRule:
    values: dict[str, object] = {"name": "openssl-restarts-app", "event": "package:openssl:changed",
                                 "from": "role == 'db'", "trigger": "restart-app", "where": "role == 'app'"}
    values.update(fields)
    return TriggerRule.model_validate(values)


def test_a_rule_with_a_bad_query_names_itself_the_field_and_the_column() -> None:
    with pytest.raises(ValidationError) as raised:
        rule(where="role == ")
    assert "trigger rule 'openssl-restarts-app': where: query, line 1, column 9" in str(raised.value)
    with pytest.raises(ValidationError, match="trigger rule 'openssl-restarts-app': from: .*column"):
        rule(**{"from": "role = = 'db'"})


@pytest.mark.parametrize("fields, message", [
    ({"trigger": "restart app"}, "trigger"),
    ({"name": "a.b"}, "name"),
    ({"event": "package:changed"}, "not module:title:status"),
    ({"event": "package:openssl:done"}, "status one of ok, changed, failed, skipped"),
    ({"event": "Pack age:x:changed"}, "not module:title:status"),
])
def test_a_rule_with_a_bad_name_or_event_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        rule(**fields)


def test_rules_load_from_the_master_config_file_and_names_are_unique(tmp_path: Path) -> None:
    path = tmp_path / "master.toml"
    path.write_text('[master]\nmaster_key = "/k"\ncallout = false\n[[master.trigger_rules]]\nname = "r1"\n'
                    'event = "package:openssl*:changed"\nfrom = "role == \'db\'"\ntrigger = "restart-app"\n'
                    'where = "role == \'app\'"\ndata = { reason = "openssl updated" }\n')
    config = load_config(path)
    assert config.trigger_rules[0].data == {"reason": "openssl updated"} and config.trigger_rules[0].from_ is not None
    assert config.trigger_coalesce_window == config.data_changed_window
    with pytest.raises(ValidationError, match="trigger rule names must be unique: r1"):
        MasterConfig(master_key=Path("/k"), callout=False, trigger_rules=(rule(name="r1"), rule(name="r1")))


def test_the_example_config_documents_rules_that_validate() -> None:
    example = (Path(__file__).parents[2] / "config" / "master.toml").read_text()
    block = example.split("# [[trigger_rules]]\n")[1].split("\n\n")[0]
    text = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    import tomllib

    assert TriggerRule.model_validate(tomllib.loads(text)).trigger == "restart-app"


def batch(*events: tuple[str, str, Status], level: Level = Level.OBJECT) -> EventBatch:
    now = datetime.now(UTC)
    leaves: Leaves = Counter({(module, title, None, status): 1 for module, title, status in events})
    return build_batch(coarsen(leaves, level), level, agent_id=AGENT, period_start=now, period_end=now, sent_at=now,
                       batch_id="b" * 12)


def test_the_matcher_finds_the_rules_an_event_of_a_batch_matches_once_each() -> None:
    matcher = RuleMatcher((rule(event="package:openssl*:changed"), rule(name="any-user", event="user:*:changed"),
                           rule(name="failed", event="service:*:failed")))
    found = matcher.hits(batch(("package", "openssl", Status.CHANGED), ("package", "openssl-dev", Status.CHANGED),
                               ("package", "curl", Status.CHANGED), ("user", "bob", Status.OK)))
    assert found == [RuleHit("openssl-restarts-app", AGENT)]
    assert matcher.hits(batch(("package", "openssl", Status.OK), ("file", "openssl", Status.CHANGED))) == []
    # a batch too coarse to name titles matches only a rule whose title is "*"
    coarse = batch(("user", "bob", Status.CHANGED), ("package", "openssl", Status.CHANGED), level=Level.MODULE)
    assert matcher.hits(coarse) == [RuleHit("any-user", AGENT)]
    assert not RuleMatcher(()) and RuleMatcher(()).hits(coarse) == []


def test_many_large_triggers_of_one_window_are_split_to_fit_messages() -> None:
    from partout.master.triggers import MAX_CONTROL_BYTES, message_sized
    from partout.wire.triggers import FiredTrigger

    fired = [FiredTrigger(name=f"t{n}", trigger_id=str(n), data={"x": "y" * 60_000}) for n in range(20)]
    parts = message_sized(fired)
    assert [one for part in parts for one in part] == fired and len(parts) > 1
    assert all(sum(len(one.model_dump_json()) for one in part) <= MAX_CONTROL_BYTES for part in parts)
    assert message_sized(fired[:2]) == [fired[:2]]
