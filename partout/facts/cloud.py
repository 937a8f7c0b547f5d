"""The cloud this machine runs in, from what cloud-init already fetched at boot
(/run/cloud-init/instance-data.json): no network call at fact time, so facts stay as
fast and as offline as the rest.

Only the world-readable instance data is read, never instance-data-sensitive.json: the
facts are published to the master, and user data or credentials must not go with them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from partout.facts.model import CloudFacts

INSTANCE_DATA = "run/cloud-init/instance-data.json"
# cloud-init puts this in place of a sensitive value in the world-readable file
_REDACTED = "redacted for non-root user"
# v1 key of instance-data.json -> CloudFacts field
_V1_FIELDS = {
    "cloud_name": "provider", "platform": "platform", "instance_id": "instance_id", "region": "region",
    "availability_zone": "availability_zone", "local_hostname": "local_hostname",
    "instance_type": "instance_type",
}


def cloud_facts(root: Path = Path("/")) -> CloudFacts | None:
    """None when cloud-init left no instance data (not a cloud machine, or no cloud-init);
    an unreadable or malformed file counts as none: a fact, not an error."""
    try:
        data = json.loads((root / INSTANCE_DATA).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("v1"), dict):
        return None
    v1: dict[str, Any] = data["v1"]
    values: dict[str, Any] = {
        field: str(v1[key]) for key, field in _V1_FIELDS.items() if isinstance(v1.get(key), str | int)
    }
    datasource = data.get("ds")
    meta_data = datasource.get("meta_data") if isinstance(datasource, dict) else None
    if isinstance(meta_data, dict):
        values["metadata"] = _without_redacted(meta_data)
        if "instance_type" not in values:
            kind = meta_data.get("instance-type", meta_data.get("instance_type"))
            if isinstance(kind, str):
                values["instance_type"] = kind
    return CloudFacts.model_validate(values)


def _without_redacted(value: Any) -> Any:
    """`value` with every entry cloud-init redacted left out (it would only say "redacted")."""
    if isinstance(value, dict):
        return {key: _without_redacted(item) for key, item in value.items() if item != _REDACTED}
    if isinstance(value, list):
        return [_without_redacted(item) for item in value if item != _REDACTED]
    return value


__all__ = ["INSTANCE_DATA", "cloud_facts"]
