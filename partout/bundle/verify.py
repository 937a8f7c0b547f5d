"""Verifying a bundle, on the agent: everything is checked before anything is written,
then the verified files are installed as the current policy in one rename."""

from __future__ import annotations

import base64
import binascii
import io
import os
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

from partout.bundle.format import (
    BUNDLE_VERSION, MAX_BUNDLE_BYTES, BundleError, Manifest, open_envelope, parse_manifest, sha256, unsafe_reason,
)

# Guards against a decompression bomb; checked before the archive is unpacked.
MAX_EXTRACTED_BYTES = 64 * 1024 * 1024


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


def _unpack(archive: bytes) -> dict[str, tuple[bytes, int]]:
    try:
        decompressor = zlib.decompressobj(wbits=31)  # gzip
        raw = decompressor.decompress(archive, MAX_EXTRACTED_BYTES + 1)
        if len(raw) > MAX_EXTRACTED_BYTES or decompressor.unconsumed_tail:
            raise BundleError(f"bundle refused: archive unpacks to more than {MAX_EXTRACTED_BYTES} bytes")
        files: dict[str, tuple[bytes, int]] = {}
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar:
                if (reason := unsafe_reason(member.name)) is not None:
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
    manifest_text, signature, archive = open_envelope(data, max_bytes)
    manifest_bytes = manifest_text.encode()
    manifest = parse_manifest(manifest_bytes)
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
    if sha256(archive) != manifest.archive_sha256:
        raise BundleError("bundle refused: the archive does not match the manifest's archive_sha256 (tampered)")
    for name in manifest.files:
        if (reason := unsafe_reason(name)) is not None:
            raise BundleError(f"bundle refused: manifest path {name!r} is unsafe ({reason})")
    files = _unpack(archive)
    if missing := sorted(set(manifest.files) - set(files)):
        raise BundleError(f"bundle refused: files in the manifest but not in the archive: {', '.join(missing)}")
    if extra := sorted(set(files) - set(manifest.files)):
        raise BundleError(f"bundle refused: files in the archive but not in the manifest: {', '.join(extra)}")
    for name, (content, _mode) in files.items():
        if sha256(content) != manifest.files[name]:
            raise BundleError(f"bundle refused: {name} does not match its sha256 in the manifest")
    return VerifiedBundle(manifest, sha256(manifest_bytes), files)
