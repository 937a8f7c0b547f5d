"""Inventory queries over a SQLite table of generated agents: SQL versus Python.

    python3 bench/inventory_query.py [--agents 10000] [--repeat 5]

For each query, prints the median time to answer through SQLite (to_sql + the table's
rows, answer_from_table with sorting and warnings) and through the Python evaluator over
documents already in memory, and how many agents matched. SQLite reads the JSON facts
column row by row (the paths are bind parameters, so no expression index applies).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from partout.inventory import Query, answer, answer_from_table, node_document, register_functions  # noqa: E402

QUERIES = [
    'role == "web" and env == "prod"',
    'os.family in ["debian", "redhat"] and cpus >= 4',
    'hostname =~ "^db-\\d+$"',
    "not decommissioned and exists(custom.rack)",
    'rol == "web"',
]


def generate(rng: random.Random, index: int) -> dict[str, Any]:
    role = rng.choice(["web", "db", "lb", "app"])
    facts = {
        "os": {"family": rng.choice(["debian", "redhat", "alpine"]), "major": str(rng.randrange(8, 13))},
        "cpus": rng.choice([1, 2, 4, 8, 16]),
        "memory": rng.randrange(1, 64) << 30,
        "packages": {f"package-{number}": "1.0" for number in range(40)},
        "custom": {"role": role, "rack": f"r{rng.randrange(20)}", "decommissioned": rng.random() < 0.05},
    }
    return node_document(id=f"agent-{index:06d}", hostname=f"{role}-{index}", environment=rng.choice(["prod", "dev"]),
                         status="approved", last_seen="2025-01-31T12:00:00+00:00", facts=facts)


def median_seconds(action: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=10_000, help="agents in the table")
    parser.add_argument("--repeat", type=int, default=5, help="runs per query (the median is printed)")
    options = parser.parse_args()
    rng = random.Random(1)
    documents = [generate(rng, index) for index in range(options.agents)]
    with tempfile.TemporaryDirectory() as folder:
        connection = sqlite3.connect(Path(folder) / "inventory.db")
        register_functions(connection)
        connection.execute("CREATE TABLE agents (id TEXT PRIMARY KEY, hostname TEXT, environment TEXT, "
                           "status TEXT, last_seen TEXT, facts TEXT)")
        connection.executemany("INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?)", [
            (d["id"], d["hostname"], d["environment"], d["status"], d["last_seen"], json.dumps(d["facts"]))
            for d in documents])
        connection.commit()
        print(f"{options.agents} agents; median of {options.repeat} runs")
        print(f"{'query':52} {'matches':>8} {'sqlite ms':>10} {'python ms':>10}")
        for text in QUERIES:
            query = Query.parse(text)
            fields = ["hostname", "os.family"]
            result = answer_from_table(connection, "agents", query, fields=fields)
            sql = median_seconds(lambda: answer_from_table(connection, "agents", query, fields=fields), options.repeat)
            python = median_seconds(lambda: answer(query, documents, fields=fields), options.repeat)
            print(f"{text:52} {len(result.rows):>8} {sql * 1000:>10.1f} {python * 1000:>10.1f}")
        connection.close()


if __name__ == "__main__":
    main()
