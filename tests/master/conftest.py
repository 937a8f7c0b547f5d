"""The `store_factory` fixture: every contract test runs against every backend.

SQLite always; ArangoDB only when PARTOUT_TEST_ARANGO_URL points at a server
(e.g. arangodb://root@127.0.0.1:8529, the password in PARTOUT_STORE_PASSWORD), each
test in a fresh database, dropped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from arangoenv import ARANGO_URL, drop_arango_database, fresh_arango_location

from partout.master.store import Store, open_store

StoreFactory = Callable[[], Store]


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "arango",
            marks=[
                pytest.mark.arango,
                pytest.mark.skipif(not ARANGO_URL, reason="PARTOUT_TEST_ARANGO_URL is not set"),
            ],
        ),
    ]
)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens the same store location each time it is called (to test reopening);
    closes everything it opened afterwards."""
    if request.param == "sqlite":
        state_dir = tmp_path / "master-state"
        location = f"sqlite://{state_dir / 'store.sqlite'}"
        state_dir.mkdir(mode=0o700)
    else:
        location = fresh_arango_location()
    opened: list[Store] = []

    def factory() -> Store:
        store = open_store(location)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()
    if request.param == "arango" and opened:
        drop_arango_database(location)


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    return store_factory()
