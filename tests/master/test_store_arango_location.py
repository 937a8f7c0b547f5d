"""The ArangoDB store's URL and password, checked without a server: every bad field is
named, and the password shows in no message, repr or log."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest

from partout.master.store import StoreError, open_store
from partout.master.store.arango.location import (
    PASSWORD_ENV,
    PASSWORD_FILE_ENV,
    ArangoLocation,
    parse_arango_url,
    read_password_file,
)

SECRET = "hunter2-Correct-Horse"
NO_ENVIRONMENT: dict[str, str] = {}


def password_file(tmp_path: Path, content: str = SECRET + "\n", mode: int = 0o600) -> Path:
    path = tmp_path / "arango.password"
    path.write_text(content)
    path.chmod(mode)
    return path


def parse(url: str, environ: dict[str, str] | None = None, **kwargs: Path) -> ArangoLocation:
    return parse_arango_url(url, environ=NO_ENVIRONMENT if environ is None else environ, **kwargs)


def test_a_full_url_gives_hosts_database_and_user() -> None:
    location = parse("arangodb://partout@db1.example.com:8530/fleet")
    assert location.hosts == ("http://db1.example.com:8530",)
    assert (location.database, location.username, location.tls) == ("fleet", "partout", False)


def test_defaults_are_port_8529_database_partout_and_user_root() -> None:
    location = parse("arangodb://127.0.0.1")
    assert location.hosts == ("http://127.0.0.1:8529",)
    assert (location.database, location.username) == ("partout", "root")
    assert location.password.get_secret_value() == ""


def test_arangodbs_speaks_tls_and_takes_a_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    location = parse(f"arangodbs://partout@db:8529/partout?ca_file={ca}")
    assert location.hosts == ("https://db:8529",) and location.tls
    assert location.ca_file == ca
    assert parse("arangodb+https://db/partout").hosts == ("https://db:8529",)


def test_several_coordinators_and_ipv6_hosts() -> None:
    location = parse("arangodb://partout@db1:8529,db2,[::1]:9000/partout")
    assert location.hosts == ("http://db1:8529", "http://db2:8529", "http://[::1]:9000")
    assert location.describe() == "arangodb://partout@db1:8529,db2:8529,[::1]:9000/partout"


def test_container_service_names_with_underscores_are_hosts() -> None:
    assert parse("arangodb://partout@arango_db_1/partout").hosts == ("http://arango_db_1:8529",)


def test_a_percent_encoded_user_is_decoded() -> None:
    assert parse("arangodb://ops%2Bpartout@db/partout").username == "ops+partout"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("mongodb://db/partout", "scheme"),
        ("arango://db/partout", "scheme"),
        ("arangodb://partout@/partout", "host"),
        ("arangodb://partout@db:http/partout", "port"),
        ("arangodb://partout@db:70000/partout", "port"),
        ("arangodb://partout@db:0/partout", "port"),
        ("arangodb://partout@-db/partout", "host"),
        ("arangodb://partout@db$1/partout", "host"),
        ("arangodb://partout@db1,,db2/partout", "host"),
        ("arangodb://@db/partout", "user"),
        ("arangodb://partout@db/fleet/extra", "database"),
        ("arangodb://partout@db/1fleet", "database"),
        ("arangodb://partout@db/partout?pasword_file=/x", "parameter 'pasword_file'"),
        ("arangodb://partout@db/partout?timeout=1&timeout=2", "parameter 'timeout'"),
        ("arangodb://partout@db/partout?timeout=soon", "parameter 'timeout'"),
        ("arangodb://partout@db/partout?timeout=0", "parameter 'timeout'"),
        ("arangodb://partout@db/partout?ca_file=/etc/hostname", "parameter 'ca_file'"),
        ("arangodbs://partout@db/partout?ca_file=/nonexistent/ca.pem", "parameter 'ca_file'"),
    ],
)
def test_a_bad_url_is_refused_naming_the_field(url: str, field: str) -> None:
    with pytest.raises(StoreError, match=f"store URL .*: {field}: "):
        parse(url)


@pytest.mark.parametrize(
    "url",
    [
        f"arangodb://root:{SECRET}@db:8529/partout",
        f"arangodb://:{SECRET}@db/partout",
        f"arangodb://root:{SECRET[:6]}@{SECRET[6:]}@db/partout",  # an unencoded "@" in the password
        f"mongodb://root:{SECRET}@db/partout",  # refused for its scheme, shown without the password
    ],
)
def test_a_password_in_the_url_is_refused_without_being_shown(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        parse(url)
    message = str(caught.value)
    assert "password" in message or "scheme" in message
    for fragment in (SECRET, SECRET[:6], SECRET[6:]):
        assert fragment not in message


def test_the_password_comes_from_the_environment() -> None:
    location = parse("arangodb://partout@db/partout", {PASSWORD_ENV: SECRET})
    assert location.password.get_secret_value() == SECRET
    assert location.password_source == f"environment variable {PASSWORD_ENV}"


def test_the_password_file_takes_the_first_line_only(tmp_path: Path) -> None:
    path = password_file(tmp_path, SECRET + "\r\nsecond line\n")
    assert read_password_file(path) == SECRET


def test_password_sources_in_order_file_argument_url_parameter_file_variable_variable(tmp_path: Path) -> None:
    def file_with(name: str, content: str) -> Path:
        path = tmp_path / name
        path.write_text(content)
        path.chmod(0o600)
        return path

    argument, parameter, variable_file = file_with("a", "from-argument"), file_with("b", "from-url"), file_with(
        "c", "from-env-file")
    url = f"arangodb://partout@db/partout?password_file={parameter}"
    environ = {PASSWORD_FILE_ENV: str(variable_file), PASSWORD_ENV: "from-env"}

    def password(url: str, environ: dict[str, str], **kwargs: Path) -> str:
        return parse(url, environ, **kwargs).password.get_secret_value()

    assert password(url, environ, password_file=argument) == "from-argument"
    assert password(url, environ) == "from-url"
    assert password("arangodb://partout@db/partout", environ) == "from-env-file"
    assert password("arangodb://partout@db/partout", {PASSWORD_ENV: "from-env"}) == "from-env"


@pytest.mark.parametrize(
    ("content", "mode", "problem"),
    [
        (SECRET, 0o644, "mode 0644 lets every user read it; chmod 600"),
        (SECRET, 0o604, "mode 0604"),
        ("\nsecond line", 0o600, "the first line is empty"),
        ("", 0o600, "the first line is empty"),
        (None, 0o600, "No such file"),
    ],
)
def test_a_bad_password_file_is_refused_naming_it_and_not_its_content(
    tmp_path: Path, content: str | None, mode: int, problem: str
) -> None:
    path = tmp_path / "arango.password"
    if content is not None:
        path.write_text(content)
        path.chmod(mode)
    with pytest.raises(StoreError, match=problem) as caught:
        parse("arangodb://partout@db/partout", password_file=path)
    assert str(path) in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_directory_is_not_a_password_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a regular file"):
        read_password_file(tmp_path)


def test_the_password_is_in_no_repr_str_or_dump(tmp_path: Path) -> None:
    location = parse("arangodb://partout@db/partout", password_file=password_file(tmp_path))
    assert location.password.get_secret_value() == SECRET
    for shown in (repr(location), str(location), location.describe(), location.model_dump_json(),
                  str(location.model_dump()), f"{location}", location.password_source):
        assert SECRET not in shown
    assert location.password_source == f"file {tmp_path / 'arango.password'}"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: connections are refused


def test_no_server_is_a_store_error_naming_the_host_and_never_the_password(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Real python-arango against a real closed port: the whole login path up to the socket."""
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    port = closed_port()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreError, match=f"cannot reach ArangoDB at http://127.0.0.1:{port}") as caught:
        open_store(f"arangodb://partout@127.0.0.1:{port}/partout?timeout=2")
    assert "arangodb://partout@127.0.0.1" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text
    assert caplog.records, "python-arango and urllib3 log the attempts at DEBUG: the check above saw them"


def test_open_store_routes_only_arango_schemes_to_arangodb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StoreError, match="store URL arangodb://partout@db/x/y: database"):
        open_store("arangodb://partout@db/x/y")
    monkeypatch.chdir(tmp_path)
    os.mkdir("arangodb-like-dir", 0o700)
    store = open_store("arangodb-like-dir")  # a relative path, not a URL: SQLite
    store.close()
    assert (tmp_path / "arangodb-like-dir" / "store.sqlite").is_file()
