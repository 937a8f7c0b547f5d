"""watch= on modules without state: an error on the resource, left out by a block."""

from __future__ import annotations

from pathlib import Path

import pytest
from dsl_support import Compile

from partout.errors import PolicyError


@pytest.mark.parametrize("directive", ['p2.command("echo hi", watch=True)',
                                       'p2.powershell("hello", script="Write-Host hi", watch=True)',
                                       'p2.message("hello", watch=True)'])
def test_watch_true_on_a_stateless_module_is_an_error_with_file_and_line(compile_text: Compile, tmp_path: Path,
                                                                         directive: str) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text(f'p2.file("{tmp_path}/a", content="a")\n{directive}\n')
    assert caught.value.line == 2
    assert str(caught.value).startswith(f"{tmp_path}/site.p2:2: ")
    assert "has no state to watch; use creates=/unless= and a schedule" in str(caught.value)


def test_a_watch_block_leaves_stateless_modules_out(compile_text: Compile, tmp_path: Path) -> None:
    catalog = compile_text(
        "with p2.watch():\n"
        f'    p2.file("{tmp_path}/a", content="a")\n'
        f'    p2.command("echo hi", creates="{tmp_path}/a")\n'
        '    p2.service("nginx")\n'
    )
    assert {resource.id: resource.watch for resource in catalog.resources} == {
        f"file:{tmp_path}/a": True, "command:echo hi": False, "service:nginx": True}


def test_watch_false_on_a_command_is_allowed(compile_text: Compile) -> None:
    catalog = compile_text('p2.command("echo hi", watch=False)\n')
    assert catalog.resources[0].watch is False
