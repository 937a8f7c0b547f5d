"""The ini_file role: keys set in sections, the rest of the file kept as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from role_support import Roles, changed, converge, result

from partout.errors import PolicyError

ORIGINAL = (
    "; settings of app\n"
    "top = 1\n"
    "\n"
    "[main]\n"
    "# the port\n"
    "port = 80\n"
    "name=app\n"
    "\n"
    "[other]\n"
    "x = y\n"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    (path / "app.ini").write_text(ORIGINAL)
    return path


def test_sets_a_key_and_keeps_comments_and_other_sections(roles: Roles, root: Path) -> None:
    _, first = converge(roles, f'p2.ini_file("{root}/app.ini", section="main", key="port", value=8080)\n', root)
    assert changed(first) == [f"ini:{root}/app.ini [main] port"]
    assert (root / "app.ini").read_text() == ORIGINAL.replace("port = 80\n", "port = 8080\n")
    assert "+port = 8080" in (result(first, f"ini:{root}/app.ini [main] port").diff or "")


def test_adds_missing_keys_and_sections_with_values(roles: Roles, root: Path) -> None:
    converge(roles, (
        f'p2.ini_file("{root}/app.ini", values={{"main": {{"debug": True, "name": "app"}}, '
        f'"db": {{"host": "db1", "port": 5432}}, "": {{"top": 2}}}})\n'
    ), root)
    assert (root / "app.ini").read_text() == (
        "; settings of app\n"
        "top = 2\n"
        "\n"
        "[main]\n"
        "# the port\n"
        "port = 80\n"
        "name=app\n"
        "debug = true\n"
        "\n"
        "[other]\n"
        "x = y\n"
        "\n"
        "[db]\n"
        "host = db1\n"
        "port = 5432\n"
    )


def test_creates_a_missing_file_with_the_given_mode(roles: Roles, root: Path) -> None:
    converge(roles, f'p2.ini_file("{root}/new.ini", section="s", key="k", value="v", mode="0600")\n', root)
    assert (root / "new.ini").read_text() == "[s]\nk = v\n"
    assert (root / "new.ini").stat().st_mode & 0o777 == 0o600


def test_absent_removes_a_key_or_a_whole_section(roles: Roles, root: Path) -> None:
    converge(roles, (
        f'p2.ini_file("{root}/app.ini", section="main", key="name", ensure="absent")\n'
        f'p2.ini_file("{root}/app.ini", section="other", ensure="absent")\n'
    ), root)
    assert (root / "app.ini").read_text() == "; settings of app\ntop = 1\n\n[main]\n# the port\nport = 80\n\n"


def test_two_calls_on_one_file_both_apply(roles: Roles, root: Path) -> None:
    converge(roles, (
        f'p2.ini_file("{root}/app.ini", section="main", key="port", value="81")\n'
        f'p2.ini_file("{root}/app.ini", section="other", key="x", value="z")\n'
    ), root)
    assert (root / "app.ini").read_text() == ORIGINAL.replace("port = 80", "port = 81").replace("x = y", "x = z")


def test_a_changed_file_is_backed_up(roles: Roles, root: Path) -> None:
    from partout.modules.files.backup import BackupStore

    roles.apply(f'p2.ini_file("{root}/app.ini", section="main", key="port", value="1")\n')
    entries = BackupStore(roles.state_dir).entries()
    assert [entry.path for entry in entries] == [str(root / "app.ini")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('section="main", value="1"', "ini_file: missing required option 'key'"),
        ('section="main", key="port"', "ini_file: missing required option 'value' for key 'port'"),
        ('values={"a": {"b": "c"}}, key="x", value="y"', "ini_file: give either values= or section=/key=/value=, not both"),
        ('section="main", key="port", value="1", colour="red"', "ini_file: unknown option 'colour'"),
    ],
)
def test_bad_options_are_policy_errors_naming_the_role_and_the_calling_line(
    roles: Roles, root: Path, options: str, message: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        roles.compile(f'\np2.ini_file("{root}/app.ini", {options})\n')
    text = str(caught.value)
    assert message in text
    assert f"{roles.policy}:2" in text


def test_a_value_with_a_newline_is_refused_at_compile_time(roles: Roles, root: Path) -> None:
    with pytest.raises(PolicyError, match="cannot hold a newline"):
        roles.compile(f'p2.ini_file("{root}/app.ini", section="main", key="port", value="1\\n[evil]")\n')


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('section="main", key="port", value=" 80"', "cannot hold a newline or surrounding spaces"),
        ('section="main", key=" port", value="80"', "must be non-empty, without '='"),
        ('section="main", key="#port", value="80"', "leading ';', '#' or '['"),
        ('section=" main", key="port", value="80"', "cannot hold ']', a newline or surrounding spaces"),
    ],
)
def test_what_a_reader_would_see_differently_is_refused(roles: Roles, root: Path, options: str, message: str) -> None:
    # Each of these would be rewritten on every run, since INI readers strip them.
    with pytest.raises(PolicyError) as caught:
        roles.compile(f'p2.ini_file("{root}/app.ini", {options})\n')
    assert message in str(caught.value)
