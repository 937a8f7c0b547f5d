"""What only the ArangoDB backend promises, against a real server: they run only when
PARTOUT_TEST_ARANGO_URL names one (e.g. arangodb://root@127.0.0.1:8529, the password
in PARTOUT_STORE_PASSWORD, authentication on); no server can be installed on our build
machines."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from arangoenv import ARANGO_URL, drop_arango_database, fresh_arango_location

from partout.master.store import StoreError, open_store
from partout.master.store.arango import ArangoStore, parse_arango_url
from partout.master.store.arango.connection import make_client
from partout.master.store.arango.location import PASSWORD_ENV
from partout.master.store.arango.schema import COLLECTIONS, META, SCHEMA_DOCUMENT_KEY, SCHEMA_VERSION

pytestmark = [pytest.mark.arango, pytest.mark.skipif(not ARANGO_URL, reason="PARTOUT_TEST_ARANGO_URL is not set")]


@pytest.fixture
def location() -> Iterator[str]:
    url = fresh_arango_location()
    yield url
    drop_arango_database(url)


def test_opening_creates_the_database_collections_and_indexes(location: str) -> None:
    store = open_store(location)
    assert isinstance(store, ArangoStore)
    store.close()
    parsed = parse_arango_url(location)
    client = make_client(parsed)
    try:
        database = client.db(parsed.database, username=parsed.username, password=parsed.password.get_secret_value())
        for spec in COLLECTIONS:
            assert database.has_collection(spec.name), spec.name
            names = {index["name"] for index in database.collection(spec.name).indexes()}
            assert {index.name for index in spec.indexes} <= names, spec.name
        assert database.collection(META.name).get(SCHEMA_DOCUMENT_KEY)["version"] == SCHEMA_VERSION
    finally:
        client.close()


def test_a_database_from_a_newer_partout_is_refused(location: str) -> None:
    open_store(location).close()
    parsed = parse_arango_url(location)
    client = make_client(parsed)
    try:
        database = client.db(parsed.database, username=parsed.username, password=parsed.password.get_secret_value())
        database.collection(META.name).insert({"_key": SCHEMA_DOCUMENT_KEY, "version": SCHEMA_VERSION + 1},
                                              overwrite=True)
    finally:
        client.close()
    with pytest.raises(StoreError, match="newer than this Partout"):
        open_store(location)


def test_a_wrong_password_names_the_user_and_its_source_but_not_the_password(
    location: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = f"not-the-password-{uuid.uuid4().hex}"
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreError, match=f"refused user .*from environment variable {PASSWORD_ENV}") as caught:
        open_store(location)
    assert wrong not in str(caught.value)
    assert wrong not in caplog.text
