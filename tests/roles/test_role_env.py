"""The set_env and source_env roles: variables in /etc/environment-style and profile.d
files, and loaded into the environment of later commands."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from role_support import Roles, changed, converge, failed, result

from partout.errors import PolicyError
from partout.report import Status


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    (path / "profile.d").mkdir()
    (path / "environment").write_text('# system-wide\nPATH="/usr/local/bin:/usr/bin"\nLANG=C\n')
    return path


@pytest.fixture(autouse=True)
def restore_environment() -> Iterator[None]:
    """source_env changes the test process's environment: put it back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_set_env_in_an_environment_file_keeps_other_lines(roles: Roles, root: Path) -> None:
    _, first = converge(roles, (
        f'p2.set_env("LANG", value="en_GB.UTF-8", file="{root}/environment")\n'
        f'p2.set_env("EDITOR", value="vim", file="{root}/environment")\n'
    ), root)
    assert changed(first) == [f"env_var:LANG in {root}/environment", f"env_var:EDITOR in {root}/environment"]
    assert (root / "environment").read_text() == (
        '# system-wide\nPATH="/usr/local/bin:/usr/bin"\nLANG="en_GB.UTF-8"\nEDITOR="vim"\n'
    )


def test_set_env_in_a_profile_d_file_exports_and_escapes(roles: Roles, root: Path) -> None:
    converge(roles, f'p2.set_env("GREETING", value=\'say "hi" to $USER\', file="{root}/profile.d/app.sh")\n', root)
    text = (root / "profile.d" / "app.sh").read_text()
    assert text == 'export GREETING="say \\"hi\\" to \\$USER"\n'
    # a real shell reads back exactly the value
    import subprocess

    shown = subprocess.run(["/bin/sh", "-c", f". {root}/profile.d/app.sh && printf %s \"$GREETING\""],
                           capture_output=True, text=True, check=True).stdout
    assert shown == 'say "hi" to $USER'


def test_set_env_absent_removes_the_variable(roles: Roles, root: Path) -> None:
    converge(roles, f'p2.set_env("LANG", ensure="absent", file="{root}/environment")\n', root)
    assert (root / "environment").read_text() == '# system-wide\nPATH="/usr/local/bin:/usr/bin"\n'


def test_source_env_gives_later_commands_the_variables(roles: Roles, root: Path) -> None:
    os.environ.pop("APP_MODE", None)
    policy = (
        f'p2.set_env("APP_MODE", value="blue green", file="{root}/environment")\n'
        f'p2.source_env("{root}/environment")\n'
        f'p2.command(\'printf %s "$APP_MODE" > {root}/mode\', creates="{root}/mode")\n'
    )
    _, first = converge(roles, policy, root)
    assert result(first, f"env_load:{root}/environment").status is Status.OK
    assert (root / "mode").read_text() == "blue green"


def test_source_env_under_noop_lets_guards_see_the_variables(roles: Roles, root: Path) -> None:
    (root / "environment").write_text('FEATURE=on\n')
    report = roles.apply(
        f'p2.source_env("{root}/environment")\n'
        f'p2.file("{root}/feature", content="on\\n", onlyif=\'test "$FEATURE" = on\')\n',
        noop=True,
    )
    assert changed(report) == [f"file:{root}/feature"]
    assert not (root / "feature").exists()


def test_source_env_of_a_missing_file_loads_nothing_unless_required(roles: Roles, root: Path) -> None:
    report = roles.apply(f'p2.source_env("{root}/none")\n')
    assert result(report, f"env_load:{root}/none").status is Status.OK
    report = roles.apply(f'p2.source_env("{root}/none", required=True)\n')
    assert failed(report) == {f"env_load:{root}/none": f"{root}/none does not exist (required=True)"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('p2.set_env("LANG")', "set_env: missing required option 'value' for LANG"),
        ('p2.set_env("1BAD", value="x")', "variable name '1BAD' must be letters"),
        ('p2.set_env("X", value=\'a"b\')', "cannot hold '\"'"),
        ('p2.set_env("X", value="a", fiel="/x")', "did you mean 'file'?"),
    ],
)
def test_bad_calls_are_policy_errors(roles: Roles, call: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        roles.compile(call + "\n")
    assert message in str(caught.value)


def test_source_env_reads_quotes_like_a_shell_without_running_one(roles: Roles, root: Path) -> None:
    (root / "vars").write_text(
        "# comment\n"
        "PLAIN=one\n"
        "export DOUBLE=\"two \\\"quoted\\\" \\$HOME\"\n"
        "SINGLE='three $HOME'\n"
        "TRAILING=four # comment\n"
        "not an assignment\n"
        "#HIDDEN=no\n"
    )
    roles.apply(f'p2.source_env("{root}/vars")\n')
    loaded = {name: os.environ.get(name) for name in ("PLAIN", "DOUBLE", "SINGLE", "TRAILING", "HIDDEN")}
    assert loaded == {
        "PLAIN": "one", "DOUBLE": 'two "quoted" $HOME', "SINGLE": "three $HOME", "TRAILING": "four", "HIDDEN": None,
    }
