"""Log in to ArangoDB and reach the store's database, creating it when the user may.

Every failure becomes a StoreError that names the server, the user and where the
password came from, never the password."""

from __future__ import annotations

import logging

import arango.errno as errno
from arango.client import ArangoClient
from arango.database import StandardDatabase
from arango.exceptions import ArangoError, ArangoServerError
from arango.http import DefaultHTTPClient

from partout.master.store.arango.location import ArangoLocation
from partout.master.store.base import StoreError

log = logging.getLogger(__name__)

_REFUSED = frozenset({401, 403})


def make_client(location: ArangoLocation) -> ArangoClient:
    """A client for the location's hosts; no request is sent yet."""
    # Few, short retries: a master that cannot reach its store should say so soon.
    http = DefaultHTTPClient(request_timeout=location.timeout, retry_attempts=2, backoff_factor=0.2)
    verify: bool | str | None = str(location.ca_file) if location.ca_file is not None else None
    return ArangoClient(hosts=list(location.hosts), http_client=http, verify_override=verify)


def _login(client: ArangoClient, location: ArangoLocation, name: str) -> StandardDatabase:
    return client.db(name, username=location.username, password=location.password.get_secret_value())


def _refused(location: ArangoLocation, what: str, exc: ArangoServerError) -> StoreError:
    return StoreError(
        f"store {location.describe()}: ArangoDB refused user {location.username!r} {what} "
        f"(HTTP {exc.http_code}: {exc.error_message}); check the user, its rights and the password "
        f"(from {location.password_source})"
    )


def _create_database(client: ArangoClient, location: ArangoLocation) -> None:
    try:
        _login(client, location, "_system").create_database(location.database)
        log.info("created store database", extra={"store": location.describe()})
    except ArangoServerError as exc:
        if exc.error_code == errno.DUPLICATE_NAME:  # another master was quicker
            return
        if exc.http_code in _REFUSED or exc.error_code == errno.FORBIDDEN:
            raise StoreError(
                f"store {location.describe()}: database {location.database!r} does not exist and user "
                f"{location.username!r} may not create it; have an administrator create it and grant "
                f"{location.username!r} read-write access"
            ) from exc
        raise


def open_database(client: ArangoClient, location: ArangoLocation) -> StandardDatabase:
    """The store's database, created if missing and the user may."""
    database = _login(client, location, location.database)
    try:
        try:
            database.properties()
        except ArangoServerError as exc:
            if exc.error_code != errno.DATABASE_NOT_FOUND and exc.http_code != 404:
                raise
            _create_database(client, location)
            database.properties()
    except ArangoServerError as exc:
        if exc.http_code in _REFUSED:
            raise _refused(location, f"access to database {location.database!r}", exc) from exc
        raise StoreError(f"store {location.describe()}: {exc.error_message or exc}") from exc
    except (ArangoError, OSError) as exc:  # no server there, TLS or DNS failure
        raise StoreError(
            f"store {location.describe()}: cannot reach ArangoDB at {', '.join(location.hosts)} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    return database
