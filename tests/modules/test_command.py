"""The command module, running real processes."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from pydantic import ValidationError

from helpers import eventually
from partout.errors import ResourceError
from partout.modules.base import RunContext
from partout.modules.command import MODULE, OUTPUT_LIMIT, CommandOptions


@pytest.fixture
def context(tmp_path: Path) -> RunContext:
    return RunContext(facts=None, state_dir=tmp_path / "state")


def run(spec: CommandOptions, context: RunContext) -> str | None:
    change = MODULE.check(spec, context)
    assert change is not None
    return MODULE.apply(spec, change, context)


def test_command_runs_and_its_output_is_returned(context: RunContext) -> None:
    assert run(CommandOptions(cmd="echo hello; echo oops >&2"), context) == "hello\noops\n"


def test_check_does_not_run_the_command(tmp_path: Path, context: RunContext) -> None:
    marker = tmp_path / "ran"
    change = MODULE.check(CommandOptions(cmd=f"touch {marker}"), context)
    assert change is not None and change.summary == f"would run: touch {marker}"
    assert not marker.exists()


def test_command_second_run_changes_nothing_with_creates(tmp_path: Path, context: RunContext) -> None:
    marker = tmp_path / "installed"
    spec = CommandOptions(cmd=f"echo once >> {tmp_path / 'log'}; touch {marker}", creates=marker)
    run(spec, context)
    assert MODULE.check(spec, context) is None
    assert (tmp_path / "log").read_text() == "once\n"


def test_failing_command_reports_exit_code_and_output(context: RunContext) -> None:
    with pytest.raises(ResourceError, match=r"exited with code 3 \(accepted: 0\):\nbroken"):
        run(CommandOptions(cmd="echo broken; exit 3"), context)


def test_returns_accepts_other_exit_codes(context: RunContext) -> None:
    assert run(CommandOptions(cmd="echo fine; exit 2", returns=[0, 2]), context) == "fine\n"


def test_hanging_command_is_killed_with_its_process_group(tmp_path: Path, context: RunContext) -> None:
    pid_file = tmp_path / "child.pid"
    spec = CommandOptions(cmd=f"sleep 60 & echo $! > {pid_file}; echo started; wait", timeout=0.5)
    with pytest.raises(ResourceError, match=r"timed out after 0.5 s; killed:\nstarted"):
        run(spec, context)
    child = int(pid_file.read_text())

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        # A zombie awaiting its reaper counts as dead.
        return Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"

    assert eventually(gone, timeout=5)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        CommandOptions(cmd="true", timeout=0)


def test_env_is_passed(context: RunContext) -> None:
    assert run(CommandOptions(cmd="echo $GREETING", env={"GREETING": "bonjour"}), context) == "bonjour\n"


def test_cwd_is_used(tmp_path: Path, context: RunContext) -> None:
    assert run(CommandOptions(cmd="pwd", cwd=tmp_path), context) == f"{tmp_path}\n"


def test_missing_cwd_is_a_clear_error(tmp_path: Path, context: RunContext) -> None:
    with pytest.raises(ResourceError, match="cwd .*nope does not exist"):
        run(CommandOptions(cmd="true", cwd=tmp_path / "nope"), context)


def test_shell_false_runs_the_program_directly(tmp_path: Path, context: RunContext) -> None:
    assert run(CommandOptions(cmd="echo '$HOME stays literal'", shell=False), context) == "$HOME stays literal\n"
    with pytest.raises(ResourceError, match="cannot run 'no-such-program-xyz'"):
        run(CommandOptions(cmd="no-such-program-xyz", shell=False), context)


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root")
def test_user_runs_the_command_as_that_user(context: RunContext) -> None:
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    assert run(CommandOptions(cmd="id -u", user="nobody", cwd=Path("/")), context) == f"{nobody.pw_uid}\n"


def test_unknown_user_is_a_clear_error(context: RunContext) -> None:
    with pytest.raises(ResourceError, match="'no-such-user-xyz' does not exist"):
        run(CommandOptions(cmd="true", user="no-such-user-xyz"), context)


def test_long_output_keeps_the_tail(context: RunContext) -> None:
    output = run(CommandOptions(cmd="seq 1 100000"), context)
    assert output is not None
    assert output.startswith("[output truncated")
    assert output.endswith("99999\n100000\n")
    assert len(output.encode()) < OUTPUT_LIMIT + 100


def test_run_action_runs_unless_creates_exists(tmp_path: Path, context: RunContext) -> None:
    marker = tmp_path / "marker"
    action = MODULE.actions["run"]
    assert action(CommandOptions(cmd=f"touch {marker}; echo done", creates=marker), context) == "done\n"
    assert marker.exists()
    assert action(CommandOptions(cmd="echo again", creates=marker), context) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root")
def test_user_gets_its_own_home(context: RunContext) -> None:
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    output = run(CommandOptions(cmd="echo $HOME $USER", user="nobody", cwd=Path("/")), context)
    assert output == f"{nobody.pw_dir} nobody\n"
