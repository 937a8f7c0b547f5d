"""`partout doc --wire`: the JSON schemas of the event messages integrations read."""

from __future__ import annotations

import json

from helpers import run_partout

from partout.events.wire import NodeEvent


def test_doc_wire_prints_every_event_message_schema_with_its_subject() -> None:
    result = run_partout("doc", "--wire")
    assert result.returncode == 0, result.stderr
    documents = json.loads(result.stdout)
    assert {"event", "event-batch", "event-advice", "node-event", "control", "event-rejection"} <= set(documents)
    node = documents["node-event"]
    assert node["subject"].startswith("partout.node.<agent id>")
    assert node["schema"] == NodeEvent.model_json_schema()
    assert "v" in node["schema"]["properties"]  # versioned
