"""Signed policy bundles: the master builds them, the agent verifies them.

Policies are code run as root, so an agent applies nothing it has not verified.

Format, one JSON object (it goes into one NATS KV value):

    {"v": 1, "manifest": "<manifest JSON text>", "signature": "<b64>", "archive": "<b64>"}

- archive: a gzip'd tar of the environment directory, deterministic (sorted
  entries, mtime 0, uid/gid 0, no owner names, mode 0644 or 0755, regular files
  only), so the same directory always gives the same bytes;
- manifest: `Manifest` as JSON text, carrying sha256 of the archive and of every
  file; the manifest's own sha256 (`VerifiedBundle.digest`) names the policy version;
- signature: ed25519 over the manifest text's UTF-8 bytes with the master's nkey.
  The manifest is kept as text so that the signed bytes are exactly the sent ones.

The sequence rises with each publication; an agent refuses one below the next it
expects, so an old (validly signed) bundle cannot be replayed to roll it back."""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
import zlib
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from partout.errors import PartoutError

BUNDLE_VERSION = 1
MAX_BUNDLE_BYTES = 8 * 1024 * 1024
# Guards against a decompression bomb; checked before the archive is unpacked.
MAX_EXTRACTED_BYTES = 64 * 1024 * 1024
SKIPPED_NAMES = frozenset({"__pycache__"})


class BundleError(PartoutError):
    """A bundle cannot be built, or was refused: it must not be applied."""


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = BUNDLE_VERSION
    environment: str
    sequence: int = Field(ge=0, description="Rises with every publication; replays are refused.")
    created_at: datetime
    signer: str = Field(description="Public nkey of the master that signed; informative only.")
    archive_sha256: str
    files: dict[str, str] = Field(description="Relative POSIX path -> sha256 of the content.")


class VerifiedBundle:
    """A bundle whose signature, environment, sequence and hashes all checked out."""

    def __init__(self, manifest: Manifest, digest: str, files: dict[str, tuple[bytes, int]]) -> None:
        self.manifest = manifest
        self.digest = digest
        self._files = files

    @property
    def sequence(self) -> int:
        return self.manifest.sequence

    def file(self, path: str) -> bytes:
        return self._files[path][0]

    def extract(self, dest: Path) -> Path:
        """Write the files into `dest`, which must not exist yet: they go into a
        temporary sibling first, renamed into place when complete, so `dest` is
        never half-written. Swapping it in for the live policy is the caller's."""
        if dest.exists():
            raise BundleError(f"cannot extract bundle into {dest}: it exists already; give a fresh path")
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            for name, (content, mode) in self._files.items():
                target = staging.joinpath(*PurePosixPath(name).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(content)
                    handle.flush()
                    os.fsync(handle.fileno())
            os.rename(staging, dest)
        except BaseException:
            _remove_tree(staging)
            raise
        return dest

    def install(self, policies_dir: Path, *, keep: int = 2) -> Path:
        """Extract into `policies_dir/versions/<sequence>-<digest>` and point the
        `policies_dir/current` symlink at it in one rename, so a reader sees the old
        policy or the new one, never a mix. Keeps the newest `keep` versions; returns
        the path of `current`."""
        versions = policies_dir / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        target = versions / f"{self.sequence:012d}-{self.digest[:16]}"
        if not target.exists():
            self.extract(target)
        current = policies_dir / "current"
        link = policies_dir / f".current.{os.getpid()}"
        link.unlink(missing_ok=True)
        link.symlink_to(target.relative_to(policies_dir))
        os.replace(link, current)
        for old in sorted(path for path in versions.iterdir() if not path.name.startswith("."))[:-keep]:
            if old != target:
                _remove_tree(old)
        return current


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _unsafe_reason(name: str) -> str | None:
    """Why `name` may not be a bundle path, or None when it is a plain relative path."""
    if not name or "\x00" in name or "\\" in name:
        return "empty name, NUL byte or backslash"
    if name.startswith("/"):
        return "absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "'..', '.' or empty path component"
    return None


def _collect(environment_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Relative path -> (content, normalised mode), refusing links that leave the dir."""
    root = environment_dir.resolve()
    if not root.is_dir():
        raise BundleError(f"environment dir {environment_dir} does not exist or is not a directory")
    files: dict[str, tuple[bytes, int]] = {}
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(
            name for name in subdirectories if not name.startswith(".") and name not in SKIPPED_NAMES
        )
        for name in sorted(names):
            if name.startswith(".") or name.endswith(".pyc"):
                continue
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root) or not target.is_file():
                    raise BundleError(
                        f"{path}: symlink points outside the environment dir or not to a file; "
                        "replace it with a copy of the file"
                    )
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                raise BundleError(f"{path}: not a regular file; remove it from the environment dir")
            mode = 0o755 if info.st_mode & 0o111 else 0o644
            files[relative] = (path.read_bytes(), mode)
        # symlinked directories are listed with the files by os.walk and not followed
        for name in sorted(subdirectories):
            if (Path(directory) / name).is_symlink():
                raise BundleError(
                    f"{Path(directory) / name}: symlinked directories are not bundled; replace it with a copy"
                )
    return files


def _archive(files: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(files):
            content, mode = files[name]
            member = tarfile.TarInfo(name)
            member.size = len(content)
            member.mode = mode
            member.mtime = 0
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            archive.addfile(member, io.BytesIO(content))
    return gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0)


def build_bundle(
    environment_dir: Path,
    *,
    environment: str,
    signing_seed: bytes,
    sequence: int,
    created_at: datetime | None = None,
    max_bytes: int = MAX_BUNDLE_BYTES,
) -> bytes:
    """Archive, hash and sign `environment_dir`; the bytes to put in the policy KV key.

    Dotfiles, `__pycache__` and `*.pyc` are left out; a symlink is stored as the file
    it points to when that lies inside the directory, refused otherwise."""
    import nkeys

    files = _collect(environment_dir)
    archive = _archive(files)
    try:
        key_pair = nkeys.from_seed(bytearray(signing_seed))
    except Exception as exc:  # nkeys raises bare errors of several kinds
        raise BundleError(f"the master signing seed is not a valid nkey seed ({type(exc).__name__})") from None
    manifest = Manifest(
        environment=environment,
        sequence=sequence,
        created_at=created_at or datetime.now(UTC),
        signer=key_pair.public_key.decode(),
        archive_sha256=_sha256(archive),
        files={name: _sha256(content) for name, (content, _mode) in sorted(files.items())},
    )
    manifest_text = manifest.model_dump_json()
    signature = key_pair.sign(manifest_text.encode())
    key_pair.wipe()
    data = json.dumps(
        {
            "v": BUNDLE_VERSION,
            "manifest": manifest_text,
            "signature": base64.b64encode(signature).decode(),
            "archive": base64.b64encode(archive).decode(),
        },
        separators=(",", ":"),
    ).encode()
    if len(data) > max_bytes:
        raise BundleError(
            f"bundle for environment {environment!r} is {len(data)} bytes, over the {max_bytes}-byte limit; "
            f"move large files out of {environment_dir}"
        )
    return data


def public_key_bytes(public_key: str) -> bytes:
    """The raw 32-byte ed25519 key of a public nkey ('U...', 'A...', 'O...', 'N...'),
    checking prefix and CRC; BundleError when malformed."""
    import nkeys

    try:
        raw = base64.b32decode(public_key.encode())
    except (binascii.Error, ValueError):
        raise BundleError(f"{public_key!r} is not a public nkey (bad base32)") from None
    if len(raw) != 35 or not nkeys.valid_public_prefix_byte(raw[0]):
        raise BundleError(f"{public_key!r} is not a public nkey (wrong length or prefix)")
    if nkeys.crc16(bytearray(raw[:33])) != int.from_bytes(raw[33:], "little"):
        raise BundleError(f"{public_key!r} is not a public nkey (checksum mismatch)")
    return raw[1:33]


def verify_signature(public_key: str, data: bytes, signature: bytes) -> bool:
    """True when `signature` is `public_key`'s ed25519 signature of `data`."""
    from partout.nats.jwt import verify

    return verify(public_key, data, signature)


def peek_manifest(data: bytes, *, max_bytes: int = MAX_BUNDLE_BYTES) -> Manifest:
    """The manifest of a bundle, NOT verified: for logs and for the master to see
    what it last published (e.g. to skip republishing the same archive)."""
    manifest_text, _signature, _archive = _envelope(data, max_bytes)
    try:
        return Manifest.model_validate_json(manifest_text)
    except ValidationError as exc:
        raise BundleError(f"bundle refused: malformed manifest ({exc.error_count()} errors)") from None


def _envelope(data: bytes, max_bytes: int) -> tuple[str, bytes, bytes]:
    if len(data) > max_bytes:
        raise BundleError(f"bundle refused: {len(data)} bytes, over the {max_bytes}-byte limit")
    try:
        envelope: Any = json.loads(data)
        if envelope.get("v") != BUNDLE_VERSION:
            raise BundleError(f"bundle refused: format version {envelope.get('v')!r}, expected {BUNDLE_VERSION}")
        return (
            str(envelope["manifest"]),
            base64.b64decode(envelope["signature"], validate=True),
            base64.b64decode(envelope["archive"], validate=True),
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise BundleError("bundle refused: not a Partout policy bundle (malformed envelope)") from None


def _unpack(archive: bytes) -> dict[str, tuple[bytes, int]]:
    try:
        decompressor = zlib.decompressobj(wbits=31)  # gzip
        raw = decompressor.decompress(archive, MAX_EXTRACTED_BYTES + 1)
        if len(raw) > MAX_EXTRACTED_BYTES or decompressor.unconsumed_tail:
            raise BundleError(f"bundle refused: archive unpacks to more than {MAX_EXTRACTED_BYTES} bytes")
        files: dict[str, tuple[bytes, int]] = {}
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar:
                if (reason := _unsafe_reason(member.name)) is not None:
                    raise BundleError(f"bundle refused: archive member {member.name!r} is unsafe ({reason})")
                if not member.isreg():
                    raise BundleError(
                        f"bundle refused: archive member {member.name!r} is a link or special file, "
                        "only regular files are allowed"
                    )
                if member.name in files:
                    raise BundleError(f"bundle refused: archive member {member.name!r} appears twice")
                extracted = tar.extractfile(member)
                assert extracted is not None  # regular files always have content
                files[member.name] = (extracted.read(), 0o755 if member.mode & 0o111 else 0o644)
        return files
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise BundleError(f"bundle refused: archive is unreadable ({exc})") from None


def verify_bundle(
    data: bytes,
    *,
    master_public_key: str,
    environment: str,
    min_sequence: int,
    max_bytes: int = MAX_BUNDLE_BYTES,
) -> VerifiedBundle:
    """Check everything before anything is unpacked to disk, in this order: envelope,
    signature with the pinned key, environment, sequence (refused when below
    `min_sequence`: pass the last applied sequence + 1), archive hash, member names,
    members against the manifest. Raises BundleError naming what failed."""
    manifest_text, signature, archive = _envelope(data, max_bytes)
    manifest_bytes = manifest_text.encode()
    try:
        manifest = Manifest.model_validate_json(manifest_bytes)
    except ValidationError as exc:
        raise BundleError(f"bundle refused: malformed manifest ({exc.error_count()} errors)") from None
    if manifest.v != BUNDLE_VERSION:
        raise BundleError(f"bundle refused: manifest version {manifest.v}, expected {BUNDLE_VERSION}")
    if not verify_signature(master_public_key, manifest_bytes, signature):
        if manifest.signer != master_public_key:
            raise BundleError(
                f"bundle refused: signed by key {manifest.signer}, not by the pinned master key {master_public_key}"
            )
        raise BundleError(
            "bundle refused: the signature does not verify against the pinned master key "
            "(manifest or signature tampered with)"
        )
    if manifest.environment != environment:
        raise BundleError(
            f"bundle refused: it is for environment {manifest.environment!r}, this agent is in {environment!r}"
        )
    if manifest.sequence < min_sequence:
        raise BundleError(
            f"bundle refused: sequence {manifest.sequence} is older than expected (at least {min_sequence}); "
            "a replayed or rolled-back policy"
        )
    if _sha256(archive) != manifest.archive_sha256:
        raise BundleError("bundle refused: the archive does not match the manifest's archive_sha256 (tampered)")
    for name in manifest.files:
        if (reason := _unsafe_reason(name)) is not None:
            raise BundleError(f"bundle refused: manifest path {name!r} is unsafe ({reason})")
    files = _unpack(archive)
    if missing := sorted(set(manifest.files) - set(files)):
        raise BundleError(f"bundle refused: files in the manifest but not in the archive: {', '.join(missing)}")
    if extra := sorted(set(files) - set(manifest.files)):
        raise BundleError(f"bundle refused: files in the archive but not in the manifest: {', '.join(extra)}")
    for name, (content, _mode) in files.items():
        if _sha256(content) != manifest.files[name]:
            raise BundleError(f"bundle refused: {name} does not match its sha256 in the manifest")
    return VerifiedBundle(manifest, _sha256(manifest_bytes), files)
