"""The built-in roles through the real `partout apply`, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_partout, snapshot


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A policy using most roles, the root it manages, and the environment to run it in."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "app.ini").write_text("[main]\n; keep me\nport = 80\n")
    (root / "motd").write_text("Welcome to OLDNAME\n")
    (tmp_path / "logo.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    policy = tmp_path / "site.p2"
    policy.write_text(
        f'p2.ini_file("{root}/app.ini", section="main", key="port", value=8080)\n'
        f'p2.str_replace_infile("{root}/motd", pattern="OLDNAME", replacement=facts.hostname)\n'
        f'p2.binfile("{root}/logo.bin", source="logo.bin")\n'
        f'p2.set_env("APP_HOME", value="/opt/app", file="{root}/environment")\n'
        f'p2.add_fact("role", value="web")\n'
        f'p2.logmsg("site applied")\n'
        f'p2.sleep("0")\n'
        f'p2.wget("{root}/logo-copy.bin", url="file://{tmp_path}/logo.bin")\n'
        f'p2.reboot("if needed", flag="{root}/reboot-required", command="touch {root}/rebooted")\n'
    )
    state = tmp_path / "state"
    return policy, root, {"PARTOUT_FACTS_D": str(root / "facts.d"), "PARTOUT_STATE_DIR": str(state)}


def test_apply_then_a_second_run_changes_nothing(site: tuple[Path, Path, dict[str, str]]) -> None:
    policy, root, env = site
    first = run_partout("apply", str(policy), env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines()[-1].startswith("9 resources: 6 changed, 0 failed, 0 skipped")
    assert f"changed  ini:{root}/app.ini [main] port" in first.stdout
    assert "fact:role" not in first.stdout  # hidden
    assert (root / "app.ini").read_text() == "[main]\n; keep me\nport = 8080\n"
    assert json.loads((root / "facts.d" / "role.json").read_text()) == {"role": "web"}
    second = run_partout("apply", str(policy), env=env)
    assert second.returncode == 0, second.stderr
    # nothing changed: only logmsg's note and the summary are printed
    assert second.stdout.splitlines()[:-1] == ["note     site applied"]
    assert second.stdout.splitlines()[-1].startswith("9 resources: 0 changed, 0 failed, 0 skipped")


def test_noop_changes_nothing(site: tuple[Path, Path, dict[str, str]]) -> None:
    policy, root, env = site
    (root / "reboot-required").write_text("")
    before = snapshot(root)
    completed = run_partout("apply", "--noop", str(policy), env=env)
    assert completed.returncode == 0, completed.stderr
    assert snapshot(root) == before
    assert "would    reboot_host:if needed" in completed.stdout
    assert "+port = 8080" in completed.stdout


def test_the_report_json_holds_the_message(site: tuple[Path, Path, dict[str, str]]) -> None:
    policy, _, env = site
    completed = run_partout("apply", "--json", str(policy), env=env)
    results = {result["id"]: result for result in json.loads(completed.stdout)["results"]}
    assert results["message:site applied"]["status"] == "ok"
    assert results["fact:role"]["hidden"] is True


def test_a_bad_role_option_exits_2_naming_the_policy_line(tmp_path: Path) -> None:
    policy = tmp_path / "site.p2"
    policy.write_text('\n\np2.wget("/tmp/x", ulr="http://example.com/x")\n')
    completed = run_partout("apply", str(policy), env={"PARTOUT_STATE_DIR": str(tmp_path / "state")})
    assert completed.returncode == 2
    assert "wget: unknown option 'ulr'; did you mean 'url'?" in completed.stderr
    assert f"called from {policy}:3" in completed.stderr
