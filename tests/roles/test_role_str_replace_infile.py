"""The str_replace_infile role: a regex replacement that converges."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import snapshot
from role_support import Roles, changed, converge, failed

from partout.errors import PolicyError

CONFIG = "listen 80;\nserver_name old.example.com;\n# listen 80 here too\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    (path / "site.conf").write_text(CONFIG)
    return path


def test_replaces_every_match_and_a_second_run_changes_nothing(roles: Roles, root: Path) -> None:
    _, first = converge(roles, f'p2.str_replace_infile("{root}/site.conf", pattern=r"\\blisten 80\\b", replacement="listen 8080")\n', root)
    assert changed(first) == [f"replace:{root}/site.conf s/\\blisten 80\\b/"]
    assert (root / "site.conf").read_text() == CONFIG.replace("listen 80", "listen 8080")


def test_groups_and_flags_work(roles: Roles, root: Path) -> None:
    converge(roles, (
        f'p2.str_replace_infile("{root}/site.conf", pattern=r"^SERVER_NAME OLD\\.(\\S+);$", '
        f'replacement=r"server_name new.\\1;", flags="im")\n'
    ), root)
    assert (root / "site.conf").read_text() == CONFIG.replace("old.example.com", "new.example.com")


def test_a_replacement_that_matches_again_fails_without_changing_the_file(roles: Roles, root: Path) -> None:
    before = snapshot(root)
    report = roles.apply(f'p2.str_replace_infile("{root}/site.conf", pattern="listen 80", replacement="listen 8080")\n')
    message = next(iter(failed(report).values()))
    assert "is not idempotent" in message and "negative lookahead" in message
    assert snapshot(root) == before


def test_a_lookahead_makes_the_same_edit_idempotent(roles: Roles, root: Path) -> None:
    converge(roles, f'p2.str_replace_infile("{root}/site.conf", pattern="listen 80(?!80)", replacement="listen 8080")\n', root)
    assert (root / "site.conf").read_text() == CONFIG.replace("listen 80", "listen 8080")


def test_a_missing_file_fails_clearly(roles: Roles, root: Path) -> None:
    report = roles.apply(f'p2.str_replace_infile("{root}/nope.conf", pattern="a", replacement="b")\n')
    assert failed(report) == {
        f"replace:{root}/nope.conf s/a/": f"{root}/nope.conf does not exist; nothing to replace in (declare the file first)"
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('replacement="b"', "missing required option 'pattern'"),
        ('pattern="a"', "missing required option 'replacement'"),
        ('pattern="(", replacement="b"', "pattern or replacement is not valid"),
        ('pattern="a", replacement="b", flags="q"', "unknown regex flag 'q'"),
    ],
)
def test_bad_options_are_policy_errors(roles: Roles, root: Path, options: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        roles.compile(f'p2.str_replace_infile("{root}/site.conf", {options})\n')
    assert message in str(caught.value)
