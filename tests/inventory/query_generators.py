"""Random nodes and random queries for the inventory tests, from one seeded Random.

Values are drawn from small pools shared by documents and queries, so that random
queries do match some nodes, and cover the awkward cases: a number stored as a string,
true beside 1, null beside missing, lists and objects where a scalar is expected,
astral characters, keys with dots, colons and dashes, paths through scalars.
"""

from __future__ import annotations

import random
from typing import Any

from partout.inventory import node_document
from partout.inventory.text import format_literal

STRINGS = ["web", "db", "lb", "Web", "web-1", "", "debian", "redhat", "é", "x\U0001f600y", "4", "true", "a.b", "z"]
NUMBERS: list[Any] = [0, 1, 4, 8, -3, 2.5, 4.0, 1e20, -0.5]
SCALARS: list[Any] = [*STRINGS, *NUMBERS, True, False, None]
PATTERNS = ["^web", "\\d", "(?i)DB", "é", "^$", ".", "-1$", "^[a-z]+$", "\U0001f600"]
HOSTNAMES = ["web-1", "web-2", "db-1", "lb", "Web-3", "école", "db-10", "x\U0001f600y"]

# names a query may use, in several spellings, unknown ones and paths through scalars
NAMES = [
    "id", "hostname", "env", "environment", "status", "last_seen",
    "role", "custom.role", "facts.custom.role", "rack", "custom.rack", 'custom."rack-id"',
    "decommissioned", "tags", "cpus", "facts.cpus", "memory", "os", "os.family", "facts.os.family",
    "os.major", 'packages."libc6:amd64"', 'custom."a.b"', "custom.nested.deep", "custom.nested",
    "cpus.x", "role.sub", "unknown", "custom.nope", "facts.hostname",
]


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.8 or depth > 1:
        return rng.choice(SCALARS)
    if roll < 0.9:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(["x", "deep", "role"]): random_value(rng, depth + 1) for _ in range(rng.randrange(3))}


def _maybe(rng: random.Random, target: dict[str, Any], key: str, value: Any) -> None:
    if rng.random() < 0.8:
        target[key] = value


def random_facts(rng: random.Random) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    _maybe(rng, facts, "hostname", rng.choice(HOSTNAMES))
    _maybe(rng, facts, "cpus", rng.choice([1, 2, 4, 8, 16, "4", 4.0, True, None]))
    _maybe(rng, facts, "memory", rng.choice([0, 1 << 30, 1 << 33, 2.5e9]))
    os_facts: dict[str, Any] = {}
    _maybe(rng, os_facts, "family", rng.choice(["debian", "redhat", "alpine", "Debian", None, 1]))
    _maybe(rng, os_facts, "major", rng.choice(["12", "9", "3", 12]))
    _maybe(rng, facts, "os", rng.choice([os_facts, os_facts, os_facts, "linux", [os_facts]]))
    _maybe(rng, facts, "packages", {rng.choice(["libc6:amd64", "nginx", "a.b"]): rng.choice(["2.36", "1.22", None])})
    custom: dict[str, Any] = {}
    _maybe(rng, custom, "role", rng.choice(["web", "db", "lb", "Web", ["web", "db"], None, 1, True]))
    _maybe(rng, custom, "rack", rng.choice(["r1", "r2", 7, None, ""]))
    _maybe(rng, custom, "rack-id", rng.choice(["r1", 3]))
    _maybe(rng, custom, "decommissioned", rng.choice([True, False, "yes", 1, None]))
    _maybe(rng, custom, "tags", random_value(rng))
    _maybe(rng, custom, "a.b", random_value(rng))
    _maybe(rng, custom, "nested", rng.choice([{"deep": random_value(rng)}, "flat", None]))
    _maybe(rng, facts, "custom", custom)
    return facts


def random_document(rng: random.Random, index: int) -> dict[str, Any]:
    return node_document(
        id=f"agent-{index:04d}",
        hostname=rng.choice(HOSTNAMES),
        environment=rng.choice(["prod", "dev", "staging", None]),
        status=rng.choice(["approved", "pending", "revoked"]),
        last_seen=rng.choice([None, "2025-01-31T12:00:00+00:00", "2025-02-01T08:30:00+00:00"]),
        facts=random_facts(rng),
    )


def random_literal(rng: random.Random, *, orderable: bool = False) -> str:
    pool = [*STRINGS, *NUMBERS] if orderable else SCALARS
    value = rng.choice(pool)
    text = format_literal(value)
    if isinstance(value, str) and "'" not in value and rng.random() < 0.3:
        text = "'" + text[1:-1].replace('\\"', '"') + "'"  # single quotes, as in a .p2 file
    return text


def random_query(rng: random.Random, depth: int = 0) -> str:
    """A valid query, as a person might write it (odd spacing and parentheses included)."""
    roll = rng.random()
    if depth < 3 and roll < 0.15:
        return f"not {_atom(rng, depth)}"
    if depth < 3 and roll < 0.35:
        joiner = rng.choice([" and ", " or ", "  and\n", " or  "])
        return joiner.join(_atom(rng, depth) for _ in range(rng.randrange(2, 4)))
    return _leaf(rng)


def _atom(rng: random.Random, depth: int) -> str:
    inner = random_query(rng, depth + 1)
    return f"({inner})" if " " in inner or rng.random() < 0.1 else inner


def _leaf(rng: random.Random) -> str:
    name = rng.choice(NAMES)
    roll = rng.random()
    if roll < 0.3:
        return f"{name} {rng.choice(['==', '!='])} {random_literal(rng)}"
    if roll < 0.5:
        return f"{name}{rng.choice(['<', '<=', '>', '>=', ' < ', ' >= '])}{random_literal(rng, orderable=True)}"
    if roll < 0.62:
        items = ", ".join(random_literal(rng) for _ in range(rng.randrange(4)))
        return f"{name} {rng.choice(['in', 'not in'])} [{items}]"
    if roll < 0.74:
        return f"{name} {rng.choice(['=~', '!~'])} {format_literal(rng.choice(PATTERNS))}"
    if roll < 0.86:
        return f"exists({name})"
    if roll < 0.97:
        return name
    return rng.choice(["true", "false"])
