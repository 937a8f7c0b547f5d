from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from catalogs import catalog, resource
from helpers import snapshot

from partout.engine import Engine
from partout.report import Report, Status


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    running = Engine(state, facts={"hostname": "test"})
    yield running
    running.stop()


def statuses(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {result.id: result.status.value for result in report.results}


def test_first_run_creates_files_and_second_run_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    policy = catalog(*(resource("probe", str(root / f"f{i}"), content=f"{i}\n", mode="0640") for i in range(50)))
    first = engine.run(policy)
    assert first.count(Status.CHANGED) == 50
    assert (root / "f7").read_text() == "7\n"
    assert (root / "f7").stat().st_mode & 0o777 == 0o640
    second = engine.run(policy)
    assert second.count(Status.CHANGED) == 0
    assert second.count(Status.OK) == 50


def test_report_lists_results_in_catalog_order(engine: Engine, tmp_path: Path) -> None:
    # Later-declared resources finish first (smaller delays); the report keeps declaration order.
    policy = catalog(*(resource("probe", str(tmp_path / f"f{i}"), content="x", delay=0.002 * (10 - i))
                       for i in range(10)))
    report = engine.run(policy)
    assert [result.id for result in report.results] == [item.id for item in policy.resources]


def test_noop_changes_nothing_and_shows_diffs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "motd").write_text("old\n")
    before = snapshot(root)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    engine = Engine(state, facts={}, noop=True)
    try:
        report = engine.run(catalog(resource("probe", str(root / "motd"), content="new\n"),
                                    resource("probe", str(root / "other"), content="x\n")))
    finally:
        engine.stop()
    assert snapshot(root) == before
    assert report.noop
    motd = report.results[0]
    assert motd.status is Status.CHANGED
    assert motd.diff is not None and "-old" in motd.diff and "+new" in motd.diff
    assert "would change" in report.summary_line()


def test_failing_resource_skips_its_dependents_only(engine: Engine, tmp_path: Path) -> None:
    broken = resource("probe", str(tmp_path / "broken"), fail=True)
    dependent = resource("probe", str(tmp_path / "dependent"), content="x", require=[broken.id])
    second_hand = resource("probe", str(tmp_path / "second"), content="x", require=[dependent.id])
    bystander = resource("probe", str(tmp_path / "bystander"), content="x")
    report = engine.run(catalog(broken, dependent, second_hand, bystander))
    assert statuses(report) == {broken.id: "failed", dependent.id: "skipped", second_hand.id: "skipped",
                                bystander.id: "changed"}
    assert report.results[1].summary == f"requires {broken.id} which failed"
    assert report.results[2].summary == f"requires {dependent.id} which was skipped"
    assert "fail=True" in report.results[0].summary
    assert not (tmp_path / "dependent").exists()
    assert (tmp_path / "bystander").exists()


def test_unexpected_exception_fails_with_its_type_and_message(engine: Engine, tmp_path: Path) -> None:
    report = engine.run(catalog(resource("probe", str(tmp_path / "x"), crash=True)))
    assert report.results[0].status is Status.FAILED
    assert report.results[0].summary == "RuntimeError: probe crashed on purpose"


def test_steps_run_in_declaration_order_around_concurrent_files(engine: Engine, tmp_path: Path) -> None:
    journal = str(tmp_path / "journal")
    items = []
    for number in range(4):
        items.append(resource("step", f"s{number}", journal=journal))
        items.extend(resource("probe", str(tmp_path / f"f{number}-{i}"), content="x", journal=journal,
                              delay=0.001) for i in range(5))
    engine.run(catalog(*items))
    lines = Path(journal).read_text().splitlines()
    positions = {line: index for index, line in enumerate(lines)}
    for number in range(4):
        step = positions[f"step s{number}"]
        files = [positions[f"apply {tmp_path}/f{number}-{i}"] for i in range(5)]
        assert all(step < position for position in files)
        if number < 3:
            assert all(position < positions[f"step s{number + 1}"] for position in files)


def test_require_and_before_override_declaration_order(engine: Engine, tmp_path: Path) -> None:
    journal = str(tmp_path / "journal")
    first = resource("step", "declared-first", journal=journal, require=["step:declared-last"])
    middle = resource("step", "middle", journal=journal)
    last = resource("step", "declared-last", journal=journal, before=["step:middle"])
    engine.run(catalog(first, middle, last))
    assert Path(journal).read_text().splitlines() == ["step declared-last", "step declared-first", "step middle"]


def test_changed_event_runs_the_listener_action(engine: Engine, tmp_path: Path) -> None:
    journal = str(tmp_path / "journal")
    config = resource("probe", str(tmp_path / "app.conf"), content="v1\n")
    service = resource("step", "app", journal=journal, on={f"{config.id}:changed": "restart"})
    first = engine.run(catalog(config, service))
    assert Path(journal).read_text().splitlines() == ["step app", "restart app"]
    assert f"restart (on {config.id}:changed)" in first.results[1].summary
    second = engine.run(catalog(config, service))
    assert Path(journal).read_text().splitlines() == ["step app", "restart app"]
    assert second.results[1].status is Status.OK


def test_refresh_only_resource_runs_only_when_triggered(engine: Engine, tmp_path: Path) -> None:
    journal = str(tmp_path / "journal")
    config = resource("probe", str(tmp_path / "app.conf"), content="v1\n")
    reload = resource("step", "reload", journal=journal, always=True, refresh_only=True,
                      on={f"{config.id}:changed": "run"})
    policy = catalog(config, reload)
    engine.run(policy)
    assert Path(journal).read_text().splitlines() == ["step reload"]
    second = engine.run(policy)
    assert second.results[1].status is Status.OK
    assert second.results[1].summary == "not triggered"
    assert Path(journal).read_text().splitlines() == ["step reload"]


def test_failed_event_listener_runs_when_its_source_fails(engine: Engine, tmp_path: Path) -> None:
    journal = str(tmp_path / "journal")
    broken = resource("probe", str(tmp_path / "broken"), fail=True)
    alarm = resource("step", "alarm", journal=journal, refresh_only=True, on={f"{broken.id}:failed": "run"})
    report = engine.run(catalog(broken, alarm))
    assert statuses(report) == {broken.id: "failed", alarm.id: "changed"}
    assert Path(journal).read_text().splitlines() == ["step alarm"]


def test_noop_reports_would_for_triggered_actions(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    config = resource("probe", str(tmp_path / "app.conf"), content="v1\n")
    service = resource("step", "app", journal=str(journal), on={f"{config.id}:changed": "restart"})
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    engine = Engine(state, facts={}, noop=True)
    try:
        report = engine.run(catalog(config, service))
    finally:
        engine.stop()
    assert f"would restart (on {config.id}:changed)" in report.results[1].summary
    assert not journal.exists()


@pytest.mark.parametrize(("guards", "expected"), [
    ({"onlyif": "true"}, "changed"),
    ({"onlyif": "exit 3"}, "skipped"),
    ({"unless": "true"}, "skipped"),
    ({"unless": "false"}, "changed"),
    ({"onlyif": False}, "skipped"),
    ({"unless": False}, "changed"),
])
def test_guards_decide_whether_a_resource_runs(engine: Engine, tmp_path: Path, guards: dict[str, object],
                                              expected: str) -> None:
    target = tmp_path / "guarded"
    report = engine.run(catalog(resource("probe", str(target), content="x", **guards)))
    assert report.results[0].status.value == expected
    assert target.exists() == (expected == "changed")
    if expected == "skipped":
        assert report.results[0].summary.startswith(("onlyif", "unless"))


def test_guard_skip_does_not_skip_dependents(engine: Engine, tmp_path: Path) -> None:
    guarded = resource("probe", str(tmp_path / "guarded"), content="x", onlyif=False)
    dependent = resource("probe", str(tmp_path / "dependent"), content="x", require=[guarded.id])
    report = engine.run(catalog(guarded, dependent))
    assert statuses(report) == {guarded.id: "skipped", dependent.id: "changed"}


def test_batch_module_applies_consecutive_resources_in_one_call(engine: Engine, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    items = [resource("batch", name, journal=str(journal), broken=name == "bad") for name in ("a", "b", "bad", "c")]
    report = engine.run(catalog(*items))
    assert journal.read_text().splitlines() == ["prepare 4", "batch a,b,c"]
    assert statuses(report) == {"batch:a": "changed", "batch:b": "changed", "batch:bad": "failed",
                                "batch:c": "changed"}
    assert report.results[2].summary == "no such package bad"


def test_hidden_resources_stay_hidden_in_the_report(engine: Engine, tmp_path: Path) -> None:
    report = engine.run(catalog(resource("probe", str(tmp_path / "h"), content="x", hidden=True)))
    assert report.results[0].hidden


def test_an_empty_catalog_gives_an_empty_report(engine: Engine) -> None:
    report = engine.run(catalog())
    assert report.results == []
    assert report.summary_line().startswith("0 resources: 0 changed")


def test_a_new_catalog_reuses_unchanged_resources_and_applies_changed_ones(engine: Engine, tmp_path: Path) -> None:
    kept = resource("probe", str(tmp_path / "kept"), content="same\n")
    engine.run(catalog(kept, resource("probe", str(tmp_path / "edited"), content="v1\n"),
                       resource("probe", str(tmp_path / "dropped"), content="x\n")))
    report = engine.run(catalog(kept, resource("probe", str(tmp_path / "edited"), content="v2\n")))
    assert statuses(report) == {kept.id: "ok", f"probe:{tmp_path}/edited": "changed"}
    assert (tmp_path / "edited").read_text() == "v2\n"


def test_secret_option_values_never_reach_the_report(engine: Engine, tmp_path: Path) -> None:
    report = engine.run(catalog(resource("probe", str(tmp_path / "x"), crash=True, secret="s3cr3t-value")))
    result = report.results[0]
    assert result.status is Status.FAILED
    assert "s3cr3t-value" not in report.model_dump_json()
    assert result.summary == "RuntimeError: probe crashed on purpose with **********"


def test_a_report_the_engine_builds_unvalidated_is_what_validation_makes_of_it(engine: Engine, tmp_path: Path) -> None:
    # The engine builds results and reports with model_construct (no schema build, no second
    # validation): they must hold exactly the values and types a validated report holds.
    (tmp_path / "same").write_text("x")
    broken = resource("probe", str(tmp_path / "broken"), fail=True)
    policy = catalog(resource("probe", str(tmp_path / "new"), content="new\n"),
                     resource("probe", str(tmp_path / "same"), content="x"),
                     broken, resource("probe", str(tmp_path / "after"), content="x", require=[broken.id]))
    report = engine.run(policy)
    assert statuses(report) == {f"probe:{tmp_path}/new": "changed", f"probe:{tmp_path}/same": "ok",
                                broken.id: "failed", f"probe:{tmp_path}/after": "skipped"}
    validated = Report.model_validate(report.model_dump())
    assert validated == report
    assert Report.model_validate_json(report.model_dump_json()) == report
    for built, checked in zip(report.results, validated.results, strict=True):
        assert type(built.status) is Status and built.status is checked.status
        assert built.model_dump() == checked.model_dump()
