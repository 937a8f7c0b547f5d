"""The agent's cache of the master's `p2.nodes` answers: what it keeps, and a bad file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from partout.agent.nodes_cache import AnswerCache, answer_key

WEB = answer_key("role == 'web'", ["hostname"], "environment")
DB = answer_key("role == 'db'", ["hostname"], "environment")


def test_answers_survive_a_restart_and_only_those_the_last_compile_used_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    cache = AnswerCache(path)
    cache.new_compile()
    cache.answered(WEB, [{"hostname": "web1"}])
    cache.answered(DB, [{"hostname": "db1"}])
    cache.compiled()
    later = AnswerCache(path)
    found = later.fallback(WEB)
    assert found is not None and found.rows == [{"hostname": "web1"}]

    later.new_compile()
    later.answered(WEB, [{"hostname": "web2"}])
    later.compiled()  # the policy no longer asks for the db nodes
    again = AnswerCache(path)
    assert again.fallback(DB) is None
    answer = again.fallback(WEB)
    assert answer is not None and answer.rows == [{"hostname": "web2"}]


def test_a_failed_compile_keeps_the_answers_it_had(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    cache = AnswerCache(path)
    cache.new_compile()
    cache.answered(WEB, [])
    cache.compiled()
    cache.new_compile()  # this compile fails before compiled(): nothing is forgotten
    cache.new_compile()
    assert AnswerCache(path).fallback(WEB) is not None


@pytest.mark.parametrize("content", [b"{not json", b'{"answers": {"k": {"rows": "x"}}}', b"\xff\xfe"])
def test_an_unreadable_cache_is_a_warning_and_an_empty_cache(tmp_path: Path, content: bytes,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partout")
    path = tmp_path / "answers.json"
    path.write_bytes(content)
    assert AnswerCache(path).fallback(WEB) is None
    assert "p2.nodes answer cache unreadable" in caplog.text
