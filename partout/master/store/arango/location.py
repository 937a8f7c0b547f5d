"""Where the ArangoDB store lives and how to log in: `arangodb://user@host:8529/db`.

    arangodb://partout@db1:8529,db2:8529/partout?password_file=/etc/partout/arango.password
    arangodbs://partout@db.example.com/partout?ca_file=/etc/partout/arango-ca.pem

`arangodbs://` (or `arangodb+https://`) speaks TLS. Several comma-separated hosts are
coordinators of one cluster, tried in turn. The password never sits in the URL (the URL
is printed at start-up and shows in process lists): it comes from, first found,
`open_store`'s `password_file` argument, the URL's `password_file`
parameter, the file named by PARTOUT_STORE_PASSWORD_FILE, or PARTOUT_STORE_PASSWORD;
none means an empty password (a server without authentication)."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from partout.master.store.base import StoreError

PASSWORD_ENV = "PARTOUT_STORE_PASSWORD"
PASSWORD_FILE_ENV = "PARTOUT_STORE_PASSWORD_FILE"
DEFAULT_PORT = 8529
DEFAULT_DATABASE = "partout"
DEFAULT_USERNAME = "root"
DEFAULT_TIMEOUT = 30.0
SCHEMES = {"arangodb": "http", "arangodbs": "https", "arangodb+http": "http", "arangodb+https": "https"}
URL_PARAMETERS = ("password_file", "ca_file", "timeout")

# ArangoDB's traditional database names; extended (Unicode) names are refused to keep
# them safe in URLs and file names.
_DATABASE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
# Host names as resolvers take them ("_" too: container service names use it).
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\]")


def _refuse(shown_url: str, field: str, problem: str) -> StoreError:
    return StoreError(f"store URL {shown_url}: {field}: {problem}")


class ArangoLocation(BaseModel):
    """A parsed store URL with its credentials; the password shows nowhere (SecretStr)."""

    model_config = ConfigDict(frozen=True)

    scheme: str = Field(description="The URL's scheme, as given.")
    hosts: tuple[str, ...] = Field(description="Endpoint base URLs, e.g. http://db1:8529.")
    database: str
    username: str
    password: SecretStr = Field(repr=False)
    password_source: str = Field(description="Where the password came from, for error messages.")
    ca_file: Path | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def tls(self) -> bool:
        return self.hosts[0].startswith("https://")

    def describe(self) -> str:
        """The URL without credentials, fit for logs and messages."""
        netlocs = ",".join(host.split("://", 1)[1] for host in self.hosts)
        return f"{self.scheme}://{self.username}@{netlocs}/{self.database}"

    def __str__(self) -> str:
        return self.describe()


def _split_host(shown_url: str, text: str, http_scheme: str) -> str:
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text.partition("]")
        host += "]"
        port_text = rest.removeprefix(":") if rest.startswith(":") else None
        if rest and port_text is None:
            raise _refuse(shown_url, "host", f"{text!r} is not [IPv6] or [IPv6]:port")
    else:
        host, colon, port_text_or_empty = text.partition(":")
        port_text = port_text_or_empty if colon else None
    if not host:
        raise _refuse(shown_url, "host", "missing; e.g. arangodb://partout@db1:8529/partout")
    if not _HOST_NAME.fullmatch(host):
        raise _refuse(shown_url, "host", f"{host!r} is not a host name or address")
    port = DEFAULT_PORT
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise _refuse(shown_url, "port", f"{port_text!r} is not a port number (1-65535)")
        port = int(port_text)
    return f"{http_scheme}://{host}:{port}"


def read_password_file(path: Path) -> str:
    """The first line of `path`. The file must exist, be a regular file no other user can
    read, and not be empty; errors name the file, never its content."""
    try:
        status = path.stat()
    except OSError as exc:
        raise StoreError(f"store password file {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(status.st_mode):
        raise StoreError(f"store password file {path}: not a regular file")
    if status.st_mode & 0o007:
        raise StoreError(
            f"store password file {path}: mode {stat.S_IMODE(status.st_mode):04o} lets every user read it; "
            f"chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"store password file {path}: cannot be read as UTF-8 text ({type(exc).__name__})") from exc
    password = text.split("\n", 1)[0].removesuffix("\r")
    if not password:
        raise StoreError(f"store password file {path}: the first line is empty; put the password there")
    return password


def _password(
    password_file: Path | None, url_password_file: str | None, environ: Mapping[str, str]
) -> tuple[str, str]:
    """(password, where it came from)."""
    if password_file is not None:
        return read_password_file(password_file), f"file {password_file}"
    if url_password_file:
        return read_password_file(Path(url_password_file)), f"file {url_password_file}"
    if environ.get(PASSWORD_FILE_ENV):
        path = environ[PASSWORD_FILE_ENV]
        return read_password_file(Path(path)), f"file {path} (from {PASSWORD_FILE_ENV})"
    if PASSWORD_ENV in environ:
        return environ[PASSWORD_ENV], f"environment variable {PASSWORD_ENV}"
    return "", f"none (set {PASSWORD_ENV} or use a password file)"


def parse_arango_url(
    url: str, *, password_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> ArangoLocation:
    """Parse `url` and find its password. Raises StoreError naming the bad field; the
    messages show the URL with any password cut out."""
    environ = os.environ if environ is None else environ
    scheme, separator, rest = url.partition("://")
    # Everything before the last "@" is user information: shown only up to a colon.
    userinfo, at, hostpart = rest.rpartition("@")
    username_text, colon, password_text = userinfo.partition(":")
    shown_url = f"{scheme}://{username_text + '@' if at else ''}{hostpart}"
    if not separator or scheme.lower() not in SCHEMES:
        raise _refuse(shown_url, "scheme", f"{scheme!r} is not one of {', '.join(SCHEMES)}")
    if colon:
        raise _refuse(
            shown_url, "password",
            "do not put the password in the URL (it would show in logs and process lists); "
            f"use ?password_file=PATH, {PASSWORD_FILE_ENV} or {PASSWORD_ENV}",
        )
    username = unquote(username_text) if at else DEFAULT_USERNAME
    if not username:
        raise _refuse(shown_url, "user", "empty user name before '@'")
    netloc_and_path, _, query = hostpart.partition("?")
    netloc, _, path = netloc_and_path.partition("/")
    http_scheme = SCHEMES[scheme.lower()]
    hosts = tuple(_split_host(shown_url, host, http_scheme) for host in netloc.split(","))
    database = unquote(path.rstrip("/")) or DEFAULT_DATABASE
    if not _DATABASE_NAME.fullmatch(database):
        raise _refuse(
            shown_url, "database",
            f"{database!r} is not a database name (a letter, then up to 63 letters, digits, '_' or '-')",
        )
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in URL_PARAMETERS:
            raise _refuse(shown_url, f"parameter {name!r}", f"unknown; known: {', '.join(URL_PARAMETERS)}")
        if name in parameters:
            raise _refuse(shown_url, f"parameter {name!r}", "given twice")
        parameters[name] = value
    ca_file = Path(parameters["ca_file"]) if parameters.get("ca_file") else None
    if ca_file is not None:
        if http_scheme != "https":
            raise _refuse(shown_url, "parameter 'ca_file'", "only with TLS (arangodbs://)")
        if not ca_file.is_file():
            raise _refuse(shown_url, "parameter 'ca_file'", f"{ca_file} is not a file")
    timeout = DEFAULT_TIMEOUT
    if "timeout" in parameters:
        try:
            timeout = float(parameters["timeout"])
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= 3600:
            raise _refuse(shown_url, "parameter 'timeout'", f"{parameters['timeout']!r} is not 0 < seconds <= 3600")
    password, source = _password(password_file, parameters.get("password_file"), environ)
    return ArangoLocation(
        scheme=scheme.lower(), hosts=hosts, database=database, username=username,
        password=SecretStr(password), password_source=source, ca_file=ca_file, timeout=timeout,
    )
