"""Users and groups through the real `partout apply`: the password hash never reaches output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import run_partout

from partout.modules.accounts import read_accounts

HASH = "$6$clisalt$Q9uQ0rM2cH5y8wT3pV6nK1jL4fD7sA0zX2cV5bN8mQ1wE4rT7yU0iO3pA6sD9fG2hJ5kL8zX1cV4bN7mQ0wE3"


def test_partout_apply_creates_group_and_user_without_showing_the_hash(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        shutil.copy2(Path("/etc") / name, root / "etc" / name)
    policy = tmp_path / "users.p2"
    policy.write_text(f"(p2.group('deploy', gid=2600, root={str(root)!r})\n"
                      f"   .user('deploy', uid=2600, gid='deploy', password={HASH!r}, root={str(root)!r}))\n")
    outputs = []
    for extra in (["--noop", "-v"], [], ["--json"]):
        result = run_partout("apply", str(policy), *extra, "--state-dir", str(tmp_path / "state"))
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(result.stdout + result.stderr)
    assert "password <secret>" in outputs[1]
    assert all(HASH not in output and "Q9uQ0rM2" not in output for output in outputs)
    accounts = read_accounts(root)
    assert accounts.users["deploy"].gid == accounts.groups["deploy"].gid == 2600
    assert accounts.shadow["deploy"].password == HASH
    report = json.loads(outputs[2])  # the third run: nothing left to change
    assert {result["status"] for result in report["results"]} == {"ok"}


def test_partout_doc_lists_every_user_and_group_option() -> None:
    from partout.modules.group import GroupOptions
    from partout.modules.user import UserOptions
    for module, options in (("user", UserOptions), ("group", GroupOptions)):
        result = run_partout("doc", module)
        assert result.returncode == 0
        assert all(f"    {name}:" in result.stdout for name in options.model_fields)
