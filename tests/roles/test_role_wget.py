"""The wget role: download with a sha256 check, only when the file is missing or differs."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import snapshot
from role_support import Roles, changed, converge, failed

from partout.errors import PolicyError

PAYLOAD = bytes(range(256)) * 64


class Served:
    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.directory = directory
        self.requests: list[str] = []


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A real HTTP server on 127.0.0.1 serving tmp_path/www, counting GET requests."""
    directory = tmp_path / "www"
    directory.mkdir()
    (directory / "tool.bin").write_bytes(PAYLOAD)
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    result = Served(f"http://127.0.0.1:{server.server_address[1]}", directory)
    result.requests = requests
    try:
        yield result
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_downloads_once_over_http_and_checks_offline_afterwards(roles: Roles, root: Path, served: Served) -> None:
    policy = f'p2.wget("{root}/tool", url="{served.url}/tool.bin", sha256="{SHA}", mode="0755")\n'
    noop, first = converge(roles, policy, root)
    assert changed(first) == [f"download:{root}/tool"]
    assert (root / "tool").read_bytes() == PAYLOAD
    assert (root / "tool").stat().st_mode & 0o777 == 0o755
    # noop and the second run never went to the network: one GET, by the real run
    assert served.requests == ["/tool.bin"]


def test_a_file_whose_hash_differs_is_downloaded_again(roles: Roles, root: Path, served: Served) -> None:
    (root / "tool").write_bytes(b"old version")
    report = roles.apply(f'p2.wget("{root}/tool", url="{served.url}/tool.bin", sha256="{SHA}")\n')
    assert changed(report) == [f"download:{root}/tool"]
    assert (root / "tool").read_bytes() == PAYLOAD


def test_a_wrong_hash_fails_and_leaves_the_old_file(roles: Roles, root: Path, served: Served) -> None:
    (root / "tool").write_bytes(b"old version")
    before = snapshot(root)
    report = roles.apply(f'p2.wget("{root}/tool", url="{served.url}/tool.bin", sha256="{"0" * 64}")\n')
    message = failed(report)[f"download:{root}/tool"]
    assert f"sha256 is {SHA}, expected {'0' * 64}" in message
    assert snapshot(root) == before  # no temp file left behind either


def test_a_missing_url_fails_and_leaves_nothing(roles: Roles, root: Path, served: Served) -> None:
    report = roles.apply(f'p2.wget("{root}/tool", url="{served.url}/nope.bin")\n')
    assert "cannot download" in failed(report)[f"download:{root}/tool"]
    assert list(root.iterdir()) == []


def test_file_urls_work_and_without_sha256_only_a_missing_file_is_fetched(roles: Roles, root: Path, served: Served) -> None:
    source = served.directory / "tool.bin"
    converge(roles, f'p2.wget("{root}/tool", url="file://{source}")\n', root)
    assert (root / "tool").read_bytes() == PAYLOAD
    source.write_bytes(b"new upstream")
    assert changed(roles.apply(f'p2.wget("{root}/tool", url="file://{source}")\n')) == []
    assert (root / "tool").read_bytes() == PAYLOAD


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('sha256="abc"', "missing required option 'url'"),
        ('url="gopher://x/y"', "must start with http://, https://, ftp:// or file://"),
        ('url="http://x/y", sha256="abc"', "sha256 must be 64 hexadecimal digits"),
    ],
)
def test_bad_options_are_policy_errors(roles: Roles, root: Path, options: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace(".", r"\.").replace("/", "/")):
        roles.compile(f'p2.wget("{root}/tool", {options})\n')
