"""Signed policy bundles: what the master builds, the agent refuses unless all checks out."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import nkeys
import pytest

from partout.bundle import MAX_BUNDLE_BYTES, BundleError, VerifiedBundle, build_bundle, peek_manifest, verify_bundle


def new_seed() -> bytes:
    return bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_ACCOUNT))


def public_key(seed: bytes) -> str:
    return str(nkeys.from_seed(bytearray(seed)).public_key.decode())


@pytest.fixture
def master_seed() -> bytes:
    return new_seed()


@pytest.fixture
def environment_dir(tmp_path: Path) -> Path:
    root = tmp_path / "environments" / "production"
    (root / "templates").mkdir(parents=True)
    (root / "site.p2").write_text('p2.file("/etc/motd", content="hi\\n")\n')
    (root / "templates" / "motd.j2").write_text("Welcome to {{ facts.hostname }}\n")
    (root / "files").mkdir()
    script = root / "files" / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o700)
    return root


def build(directory: Path, seed: bytes, sequence: int = 5, environment: str = "production") -> bytes:
    return build_bundle(directory, environment=environment, signing_seed=seed, sequence=sequence)


def verify(data: bytes, seed: bytes, *, environment: str = "production", min_sequence: int = 1) -> VerifiedBundle:
    return verify_bundle(data, master_public_key=public_key(seed), environment=environment, min_sequence=min_sequence)


def envelope(data: bytes) -> dict[str, object]:
    return dict(json.loads(data))


def signed(manifest: dict[str, object], archive: bytes, seed: bytes) -> bytes:
    """A bundle assembled by hand, validly signed: what a forger holding the key could send."""
    text = json.dumps(manifest)
    signature = nkeys.from_seed(bytearray(seed)).sign(text.encode())
    return json.dumps(
        {
            "v": 1,
            "manifest": text,
            "signature": base64.b64encode(signature).decode(),
            "archive": base64.b64encode(archive).decode(),
        }
    ).encode()


def tar_of(members: list[tarfile.TarInfo], contents: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for member in members:
            content = contents.get(member.name)
            archive.addfile(member, io.BytesIO(content) if content is not None else None)
    return gzip.compress(buffer.getvalue(), mtime=0)


def hand_made(
    seed: bytes, members: list[tarfile.TarInfo], contents: dict[str, bytes], listed: dict[str, bytes] | None = None
) -> bytes:
    """A signed bundle of these tar members whose manifest lists the sha256 of `listed`
    (default: `contents`); a different `listed` is a manifest that lies about the archive."""
    archive = tar_of(members, contents)
    listed = contents if listed is None else listed
    manifest = {
        "v": 1,
        "environment": "production",
        "sequence": 9,
        "created_at": "2030-01-01T00:00:00Z",
        "signer": public_key(seed),
        "archive_sha256": hashlib.sha256(archive).hexdigest(),
        "files": {name: hashlib.sha256(content).hexdigest() for name, content in listed.items()},
    }
    return signed(manifest, archive, seed)


def regular(name: str, content: bytes) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.size = len(content)
    return member


def test_a_bundle_round_trips_to_the_same_files(environment_dir: Path, master_seed: bytes, tmp_path: Path) -> None:
    bundle = verify(build(environment_dir, master_seed), master_seed, min_sequence=5)
    assert bundle.sequence == 5
    assert sorted(bundle.manifest.files) == ["files/check.sh", "site.p2", "templates/motd.j2"]
    out = bundle.extract(tmp_path / "policy")
    for name in bundle.manifest.files:
        assert (out / name).read_bytes() == (environment_dir / name).read_bytes()
    assert stat.S_IMODE((out / "files" / "check.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "site.p2").stat().st_mode) == 0o644
    assert len(bundle.digest) == 64


def test_extract_refuses_an_existing_destination(environment_dir: Path, master_seed: bytes, tmp_path: Path) -> None:
    bundle = verify(build(environment_dir, master_seed), master_seed)
    (tmp_path / "policy").mkdir()
    with pytest.raises(BundleError, match="exists already"):
        bundle.extract(tmp_path / "policy")


def test_the_same_directory_gives_a_byte_identical_archive(tmp_path: Path, master_seed: bytes) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for root, order in ((first, ["b.p2", "a.p2", "sub/c.txt"]), (second, ["sub/c.txt", "a.p2", "b.p2"])):
        for index, name in enumerate(order):
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"content of {name}\n")
            os.utime(path, (1_000_000 + index * 7777, 1_000_000 + index * 7777))
    (second / "a.p2").chmod(0o600)  # modes normalise to 0644 / 0755
    archives = [envelope(build(root, master_seed))["archive"] for root in (first, second)]
    assert archives[0] == archives[1]


def test_dotfiles_and_pycache_are_left_out(environment_dir: Path, master_seed: bytes) -> None:
    (environment_dir / ".git").mkdir()
    (environment_dir / ".git" / "HEAD").write_text("ref\n")
    (environment_dir / ".swp").write_text("x")
    (environment_dir / "__pycache__").mkdir()
    (environment_dir / "__pycache__" / "site.cpython-311.pyc").write_bytes(b"\0")
    bundle = verify(build(environment_dir, master_seed), master_seed)
    assert sorted(bundle.manifest.files) == ["files/check.sh", "site.p2", "templates/motd.j2"]


def test_a_symlink_inside_the_environment_is_stored_as_its_file(environment_dir: Path, master_seed: bytes) -> None:
    (environment_dir / "alias.p2").symlink_to("site.p2")
    bundle = verify(build(environment_dir, master_seed), master_seed)
    assert bundle.file("alias.p2") == (environment_dir / "site.p2").read_bytes()


def test_a_symlink_leaving_the_environment_is_refused(environment_dir: Path, master_seed: bytes) -> None:
    (environment_dir / "shadow").symlink_to("/etc/shadow")
    with pytest.raises(BundleError, match="outside the environment dir"):
        build(environment_dir, master_seed)


def test_an_oversized_bundle_is_refused_when_built(environment_dir: Path, master_seed: bytes) -> None:
    (environment_dir / "files" / "big.bin").write_bytes(os.urandom(1024 * 1024))
    with pytest.raises(BundleError, match="over the 100000-byte limit"):
        build_bundle(environment_dir, environment="production", signing_seed=master_seed, sequence=1, max_bytes=100_000)


def test_an_oversized_bundle_is_refused_when_received(master_seed: bytes) -> None:
    with pytest.raises(BundleError, match="over the"):
        verify(b" " * (MAX_BUNDLE_BYTES + 1), master_seed)


def test_a_tampered_archive_byte_is_refused(environment_dir: Path, master_seed: bytes) -> None:
    parts = envelope(build(environment_dir, master_seed))
    archive = bytearray(base64.b64decode(str(parts["archive"])))
    archive[len(archive) // 2] ^= 0x01
    parts["archive"] = base64.b64encode(bytes(archive)).decode()
    with pytest.raises(BundleError, match="archive does not match the manifest"):
        verify(json.dumps(parts).encode(), master_seed)


def test_a_tampered_manifest_is_refused(environment_dir: Path, master_seed: bytes) -> None:
    parts = envelope(build(environment_dir, master_seed))
    parts["manifest"] = str(parts["manifest"]).replace('"sequence":5', '"sequence":6')
    with pytest.raises(BundleError, match="signature does not verify"):
        verify(json.dumps(parts).encode(), master_seed)


def test_a_bundle_signed_by_another_key_is_refused(environment_dir: Path, master_seed: bytes) -> None:
    impostor = new_seed()
    with pytest.raises(BundleError, match=f"signed by key {public_key(impostor)}, not by the pinned master key"):
        verify(build(environment_dir, impostor), master_seed)


def test_a_bundle_for_another_environment_is_refused(environment_dir: Path, master_seed: bytes) -> None:
    with pytest.raises(BundleError, match="for environment 'staging', this agent is in 'production'"):
        verify(build(environment_dir, master_seed, environment="staging"), master_seed)


def test_a_replayed_older_sequence_is_refused(environment_dir: Path, master_seed: bytes) -> None:
    old = build(environment_dir, master_seed, sequence=4)
    with pytest.raises(BundleError, match="sequence 4 is older than expected .at least 5.; a replayed"):
        verify(old, master_seed, min_sequence=5)


def test_a_garbled_envelope_is_refused(master_seed: bytes) -> None:
    with pytest.raises(BundleError, match="not a Partout policy bundle"):
        verify(b"\x00garbage{", master_seed)


def test_a_member_path_with_dot_dot_is_refused(master_seed: bytes) -> None:
    data = hand_made(master_seed, [regular("../../etc/cron.d/evil", b"x")], {"../../etc/cron.d/evil": b"x"})
    with pytest.raises(BundleError, match="unsafe .'..', '.' or empty path component."):
        verify(data, master_seed)


def test_an_absolute_member_path_is_refused(master_seed: bytes) -> None:
    data = hand_made(master_seed, [regular("/etc/passwd", b"x")], {"/etc/passwd": b"x"})
    with pytest.raises(BundleError, match="unsafe .absolute path."):
        verify(data, master_seed)


def test_a_symlink_member_is_refused(master_seed: bytes) -> None:
    link = tarfile.TarInfo("site.p2")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/shadow"
    data = hand_made(master_seed, [link], {}, listed={"site.p2": b""})
    with pytest.raises(BundleError, match="'site.p2' is a link or special file"):
        verify(data, master_seed)


def test_an_archive_member_missing_from_the_manifest_is_refused(master_seed: bytes) -> None:
    members = [regular("site.p2", b"ok"), regular("extra.p2", b"sneaky")]
    data = hand_made(master_seed, members, {"site.p2": b"ok", "extra.p2": b"sneaky"}, listed={"site.p2": b"ok"})
    with pytest.raises(BundleError, match="in the archive but not in the manifest: extra.p2"):
        verify(data, master_seed)


def test_a_manifest_file_missing_from_the_archive_is_refused(master_seed: bytes) -> None:
    data = hand_made(master_seed, [regular("site.p2", b"ok")], {"site.p2": b"ok"},
                     listed={"site.p2": b"ok", "gone.p2": b""})
    with pytest.raises(BundleError, match="in the manifest but not in the archive: gone.p2"):
        verify(data, master_seed)


def test_a_file_whose_content_differs_from_its_manifest_hash_is_refused(master_seed: bytes) -> None:
    data = hand_made(master_seed, [regular("site.p2", b"evil")], {"site.p2": b"evil"}, listed={"site.p2": b"good"})
    with pytest.raises(BundleError, match="site.p2 does not match its sha256"):
        verify(data, master_seed)


def test_install_switches_the_current_policy_in_one_step(tmp_path: Path, master_seed: bytes) -> None:
    source = tmp_path / "environment"
    source.mkdir()
    policies = tmp_path / "policies"
    for sequence in (1, 2, 3):
        (source / "site.p2").write_text(f"# version {sequence}\n")
        bundle = verify(build(source, master_seed, sequence=sequence), master_seed, min_sequence=sequence)
        current = bundle.install(policies)
        assert (current / "site.p2").read_text() == f"# version {sequence}\n"
    assert current.is_symlink()
    assert len(list((policies / "versions").iterdir())) == 2  # the live one and the one before


def test_installing_the_same_bundle_again_keeps_it(tmp_path: Path, environment_dir: Path, master_seed: bytes) -> None:
    bundle = verify(build(environment_dir, master_seed), master_seed)
    first = bundle.install(tmp_path / "policies").resolve()
    assert bundle.install(tmp_path / "policies").resolve() == first


def test_peek_manifest_reads_without_verifying(environment_dir: Path, master_seed: bytes) -> None:
    data = build(environment_dir, master_seed, sequence=11)
    manifest = peek_manifest(data)
    assert (manifest.sequence, manifest.environment, manifest.signer) == (11, "production", public_key(master_seed))
    assert manifest.archive_sha256 == peek_manifest(build(environment_dir, master_seed, sequence=12)).archive_sha256
