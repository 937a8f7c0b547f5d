"""A service restarted by an event through the real `partout apply`."""

from __future__ import annotations

from pathlib import Path

from helpers import run_partout

SCRIPT = """#!/bin/sh
case "$1" in
  start) touch {state}; echo start >> {log} ;;
  stop) rm -f {state}; echo stop >> {log} ;;
  restart) echo restart >> {log} ;;
  status) [ -f {state} ] ;;
esac
"""


def test_a_changed_file_restarts_the_service_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc" / "init.d").mkdir(parents=True)
    script = root / "etc" / "init.d" / "tiny"
    log = tmp_path / "calls"
    script.write_text(SCRIPT.format(state=tmp_path / "running", log=log))
    script.chmod(0o755)
    config = tmp_path / "tiny.conf"
    policy = tmp_path / "service.p2"

    def write_policy(content: str) -> None:
        policy.write_text(f"(p2.file({str(config)!r}, content={content!r})\n"
                          f"   .service('tiny', ensure='running', enabled=True, root={str(root)!r},\n"
                          f"            on={{'file:{config}:changed': 'restart'}}))\n")

    write_policy("a=1\n")
    first = run_partout("apply", str(policy), "--state-dir", str(tmp_path / "state"))
    assert first.returncode == 0, first.stdout + first.stderr
    assert log.read_text().split()[0] == "start"
    calls_after_first = log.read_text()
    second = run_partout("apply", str(policy), "--state-dir", str(tmp_path / "state"))
    assert second.returncode == 0 and "0 changed" in second.stdout
    assert log.read_text() == calls_after_first
    write_policy("a=2\n")
    third = run_partout("apply", str(policy), "--state-dir", str(tmp_path / "state"))
    assert third.returncode == 0
    assert log.read_text() == calls_after_first + "restart\n"


def test_partout_doc_lists_every_service_option() -> None:
    from partout.modules.service import ServiceOptions
    result = run_partout("doc", "service")
    assert result.returncode == 0
    assert all(f"    {name}:" in result.stdout for name in ServiceOptions.model_fields)
