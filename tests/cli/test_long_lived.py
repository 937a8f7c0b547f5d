"""`long_lived`: no cyclic collection while start-up objects are made, and those objects
frozen afterwards; the collector is back on (or left off) as it was, whatever happens."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from partout.cli.common import long_lived
from partout.cli.main import cli


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def test_collection_is_off_inside_and_back_on_after_with_the_survivors_frozen() -> None:
    gc.unfreeze()
    assert gc.isenabled()
    with long_lived():
        assert not gc.isenabled()
        kept = [[index] for index in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(kept)


def test_an_error_in_the_block_still_turns_collection_back_on() -> None:
    with pytest.raises(ValueError, match="bad policy"), long_lived():
        raise ValueError("bad policy")
    assert gc.isenabled()


def test_collection_that_was_off_stays_off() -> None:
    gc.disable()
    with long_lived():
        pass
    assert not gc.isenabled()


def test_a_cycle_made_after_the_block_is_still_collected() -> None:
    with long_lived():
        pass

    class Node:
        other: object = None

    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2


def test_apply_leaves_collection_on_for_the_run_and_after(tmp_path: Path) -> None:
    # `apply --watch` stays up: the collector must be running once start-up is over.
    policy = tmp_path / "empty.p2"
    policy.write_text("")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    result = CliRunner().invoke(cli, ["apply", "--state-dir", str(state), str(policy)])
    assert result.exit_code == 0, result.output
    assert "0 resources" in result.output
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_with_collect_the_garbage_the_block_left_is_collected_not_frozen() -> None:
    import weakref

    class Node:
        other: object = None

    with long_lived():
        pass  # what came before is frozen: the block below is walked alone
    before = gc.get_freeze_count()
    with long_lived(collect=True):
        first, second = Node(), Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second
        kept = [Node() for _ in range(100)]
    assert gone() is None  # collected, not frozen with the survivors
    assert gc.get_freeze_count() >= before + len(kept)
    assert gc.isenabled()
