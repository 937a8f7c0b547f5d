"""Building a bundle, on the master: collect an environment directory, archive it
deterministically, hash every file into the manifest and sign it."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from partout.bundle.format import MAX_BUNDLE_BYTES, BundleError, Manifest, seal, sha256

SKIPPED_NAMES = frozenset({"__pycache__"})


def collect(environment_dir: Path) -> dict[str, tuple[bytes, int]]:
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


def archive_files(files: dict[str, tuple[bytes, int]]) -> bytes:
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

    files = collect(environment_dir)
    archive = archive_files(files)
    try:
        key_pair = nkeys.from_seed(bytearray(signing_seed))
    except Exception as exc:  # nkeys raises bare errors of several kinds
        raise BundleError(f"the master signing seed is not a valid nkey seed ({type(exc).__name__})") from None
    manifest = Manifest(
        environment=environment,
        sequence=sequence,
        created_at=created_at or datetime.now(UTC),
        signer=key_pair.public_key.decode(),
        archive_sha256=sha256(archive),
        files={name: sha256(content) for name, (content, _mode) in sorted(files.items())},
    )
    manifest_text = manifest.model_dump_json()
    signature = key_pair.sign(manifest_text.encode())
    key_pair.wipe()
    data = seal(manifest_text, signature, archive)
    if len(data) > max_bytes:
        raise BundleError(
            f"bundle for environment {environment!r} is {len(data)} bytes, over the {max_bytes}-byte limit; "
            f"move large files out of {environment_dir}"
        )
    return data
