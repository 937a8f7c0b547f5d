"""The `download` directive (wrapped by the `wget` role): fetch a URL to a path with
urllib (http, https, ftp, file), verified against a sha256.

Only when needed: with `sha256` the file is fetched when it is missing or its hash
differs; without it, only when it is missing (check never touches the network, so
`--noop` and no-op runs stay offline and fast). The download streams to a temp file in
the target's folder, is hashed on the way, and replaces the path by one rename only
when the hash matches; a mismatch fails the resource and leaves the old file alone.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from pydantic import Field, field_validator

from partout.errors import ResourceError
from partout.modules.base import BY_PATH, Change, Module, ModuleOptions, RunContext, Watch
from partout.modules.fields import OCTAL_MODE, AbsolutePath
from partout.modules.files import fileops
from partout.modules.files.owners import gid_of, uid_of

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 16


class DownloadOptions(ModuleOptions):
    """Download a URL to a file, verified by sha256, only when missing or different."""

    title_field = "path"

    path: AbsolutePath = Field(description="Absolute path to download to (the title).")
    url: str = Field(description="http://, https://, ftp:// or file:// URL.")
    sha256: str | None = Field(
        None, description="Expected sha256 (hex). Without it the file is fetched only when missing."
    )
    mode: str | None = Field(None, description="Octal mode, e.g. '0755'. Default: kept, or the umask default for a new file.")
    owner: str | int | None = Field(None, description="Owning user of the file.")
    group: str | int | None = Field(None, description="Owning group of the file.")
    timeout: float = Field(60, gt=0, description="Seconds of network silence before the download fails.")

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        if not re.match(r"^(https?|ftp|file)://", url):
            raise ValueError(f"url {url!r} must start with http://, https://, ftp:// or file://")
        return url

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _SHA256.match(value):
            raise ValueError("sha256 must be 64 hexadecimal digits")
        return value

    @field_validator("mode")
    @classmethod
    def _octal(cls, mode: str | None) -> str | None:
        if mode is not None and not OCTAL_MODE.match(mode):
            raise ValueError(f"mode {mode!r} is not an octal mode such as '0644'")
        return mode


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _attributes(spec: DownloadOptions, state: fileops.PathState) -> list[str]:
    parts = []
    if spec.mode is not None and state.mode != int(spec.mode, 8):
        parts.append(f"mode {state.mode:04o} -> {int(spec.mode, 8):04o}")
    if spec.owner is not None and state.uid != uid_of(spec.owner):
        parts.append(f"owner -> {spec.owner}")
    if spec.group is not None and state.gid != gid_of(spec.group):
        parts.append(f"group -> {spec.group}")
    return parts


def check(spec: DownloadOptions, context: RunContext) -> Change | None:
    state = fileops.inspect(spec.path)
    if state.kind == "missing":
        return Change(summary=f"download {spec.url}", data={"fetch": True})
    if state.kind != "file":
        raise ResourceError(f"{spec.path} is a {state.kind}, not a regular file; nothing changed")
    if spec.sha256 is not None:
        current = _file_sha256(spec.path)
        if current != spec.sha256:
            return Change(
                summary=f"download {spec.url} (sha256 {current[:16]} -> {spec.sha256[:16]})", data={"fetch": True}
            )
    parts = _attributes(spec, state)
    return Change(summary=", ".join(parts), data={"fetch": False}) if parts else None


def _fetch(spec: DownloadOptions) -> str:
    """Stream the URL into a temp file beside the path; its name, once the hash is right."""
    import urllib.error
    import urllib.request

    temporary = fileops.temporary_name(spec.path)
    digest = hashlib.sha256()
    size = 0
    with fileops.discarded_on_failure(temporary):
        try:
            descriptor = fileops.create_private(temporary)
            with os.fdopen(descriptor, "wb") as out, urllib.request.urlopen(spec.url, timeout=spec.timeout) as response:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
        except FileNotFoundError as exc:
            if not spec.path.parent.is_dir():
                raise ResourceError(f"{spec.path}: parent directory {spec.path.parent} does not exist; declare it first") from exc
            raise ResourceError(f"cannot download {spec.url}: {exc.strerror or exc}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise ResourceError(f"cannot download {spec.url}: {reason}; {spec.path} left as it was") from exc
        got = digest.hexdigest()
        if spec.sha256 is not None and got != spec.sha256:
            raise ResourceError(
                f"{spec.url}: sha256 is {got}, expected {spec.sha256}; {spec.path} left as it was"
            )
    return str(temporary)


def apply(spec: DownloadOptions, change: Change, context: RunContext) -> str | None:
    mode = int(spec.mode, 8) if spec.mode is not None else None
    uid = uid_of(spec.owner) if spec.owner is not None else -1
    gid = gid_of(spec.group) if spec.group is not None else -1
    try:
        if change.data.get("fetch", True):
            state = fileops.inspect(spec.path)
            temporary = Path(_fetch(spec))
            with fileops.discarded_on_failure(temporary):
                keep_mode = state.mode if state.kind == "file" else fileops.default_file_mode()
                fileops.set_attributes(temporary, mode=mode if mode is not None else keep_mode, uid=uid, gid=gid)
                os.rename(temporary, spec.path)
            fileops.fsync_directory(spec.path.parent)
            return None
        fileops.set_attributes(spec.path, mode=mode, uid=uid, gid=gid)
    except OSError as exc:
        raise ResourceError(f"{spec.path}: {exc.strerror or exc}") from exc
    return None


def watch(spec: DownloadOptions, context: RunContext) -> Watch:
    return Watch(paths=(spec.path,))


MODULE = Module(
    name="download",
    options=DownloadOptions,
    check=check,
    apply=apply,
    watching=BY_PATH,
    watch=watch,
    concurrent=True,
    summary="Download a URL to a file with a sha256 check, only when missing or different (the wget role wraps it).",
)
