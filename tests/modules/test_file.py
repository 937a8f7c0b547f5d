"""The file module, called directly on real files in tmp_path."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from helpers import snapshot
from partout.modules.files.backup import BackupStore
from partout.errors import PolicyError, ResourceError
from partout.modules.base import CompileContext, RunContext
from partout.modules.file import MODULE, FileOptions


@pytest.fixture
def context(tmp_path: Path) -> RunContext:
    return RunContext(facts=None, state_dir=tmp_path / "state")


def converge(spec: FileOptions, context: RunContext) -> None:
    change = MODULE.check(spec, context)
    assert change is not None
    MODULE.apply(spec, change, context)
    assert MODULE.check(spec, context) is None


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_file_is_created_with_content_and_mode(tmp_path: Path, context: RunContext) -> None:
    target = tmp_path / "motd"
    converge(FileOptions(path=target, content="hello\n", mode="0640"), context)
    assert target.read_text() == "hello\n"
    assert mode_of(target) == 0o640


def test_file_second_run_changes_nothing(tmp_path: Path, context: RunContext) -> None:
    spec = FileOptions(path=tmp_path / "motd", content="hello\n", mode="0644")
    converge(spec, context)
    before = os.stat(spec.path)
    assert MODULE.check(spec, context) is None
    after = os.stat(spec.path)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_file_check_alone_changes_nothing_and_shows_a_diff(tmp_path: Path, context: RunContext) -> None:
    target = tmp_path / "motd"
    target.write_text("old\n")
    target.chmod(0o600)
    before = snapshot(tmp_path)
    change = MODULE.check(FileOptions(path=target, content="new\n", mode="0644"), context)
    assert change is not None
    assert change.summary == "content, mode 0600 -> 0644"
    assert change.diff is not None and "-old\n" in change.diff and "+new\n" in change.diff
    assert snapshot(tmp_path) == before


def test_file_mode_only_change_keeps_content_and_inode(tmp_path: Path, context: RunContext) -> None:
    target = tmp_path / "motd"
    target.write_text("same\n")
    target.chmod(0o600)
    inode = target.stat().st_ino
    converge(FileOptions(path=target, mode="644"), context)
    assert mode_of(target) == 0o644
    assert target.stat().st_ino == inode
    assert target.read_text() == "same\n"


def test_file_mode_0999_is_rejected_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="mode '0999' is not an octal mode"):
        FileOptions(path=tmp_path / "x", mode="0999")


def test_relative_path_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must be absolute"):
        FileOptions(path="etc/motd")


def test_content_and_source_together_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="only one of content, source"):
        FileOptions(path=tmp_path / "x", content="a", source="files/a")


def test_replaced_content_is_backed_up_and_restorable(tmp_path: Path, context: RunContext) -> None:
    target = tmp_path / "config"
    target.write_text("version 1\n")
    target.chmod(0o640)
    converge(FileOptions(path=target, content="version 2\n"), context)
    assert target.read_text() == "version 2\n"
    assert mode_of(target) == 0o640  # mode kept when not managed
    store = BackupStore(context.state_dir)
    [entry] = store.entries(target)
    assert store.read(entry.sha256) == b"version 1\n"
    store.restore(entry)
    assert target.read_text() == "version 1\n"
    assert mode_of(target) == 0o640


def test_backup_false_keeps_no_copy(tmp_path: Path, context: RunContext) -> None:
    target = tmp_path / "config"
    target.write_text("old\n")
    converge(FileOptions(path=target, content="new\n", backup=False), context)
    assert BackupStore(context.state_dir).entries() == []


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path: Path, context: RunContext) -> None:
    target = tmp_path / "config"
    target.write_text("old\n")
    old_inode = target.stat().st_ino
    converge(FileOptions(path=target, content="new\n"), context)
    # A rename, not an in-place rewrite: a reader holding the old file still sees it whole.
    assert target.stat().st_ino != old_inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "state"]


def test_symlink_is_not_followed_without_force(tmp_path: Path, context: RunContext) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "config"
    link.symlink_to(victim)
    before = snapshot(tmp_path)
    spec = FileOptions(path=link, content="evil\n", mode="0777")
    with pytest.raises(ResourceError, match="is a symlink to .*force=True"):
        MODULE.check(spec, context)
    with pytest.raises(ResourceError, match="symlink"):
        MODULE.apply(spec, _any_change(), context)
    assert snapshot(tmp_path) == before


def test_symlink_is_replaced_by_a_file_with_force(tmp_path: Path, context: RunContext) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "config"
    link.symlink_to(victim)
    converge(FileOptions(path=link, content="mine\n", force=True), context)
    assert not link.is_symlink()
    assert link.read_text() == "mine\n"
    assert victim.read_text() == "precious\n"


def test_path_that_is_a_directory_is_a_clear_error_and_nothing_changes(tmp_path: Path, context: RunContext) -> None:
    directory = tmp_path / "conf.d"
    directory.mkdir()
    (directory / "inside").write_text("keep\n")
    before = snapshot(tmp_path)
    spec = FileOptions(path=directory, content="x\n")
    with pytest.raises(ResourceError, match=r"conf.d is a directory, not a regular file; nothing changed"):
        MODULE.check(spec, context)
    with pytest.raises(ResourceError, match="is a directory"):
        MODULE.apply(spec, _any_change(), context)
    assert snapshot(tmp_path) == before


def test_absent_removes_a_file_and_backs_it_up(tmp_path: Path, context: RunContext) -> None:
    target = tmp_path / "old.conf"
    target.write_text("bye\n")
    converge(FileOptions(path=target, ensure="absent"), context)
    assert not target.exists()
    [entry] = BackupStore(context.state_dir).entries(target)
    assert entry.size == 4


def test_absent_refuses_a_directory_without_force(tmp_path: Path, context: RunContext) -> None:
    directory = tmp_path / "d"
    directory.mkdir()
    with pytest.raises(ResourceError, match="force=True"):
        MODULE.check(FileOptions(path=directory, ensure="absent"), context)
    converge(FileOptions(path=directory, ensure="absent", force=True), context)
    assert not directory.exists()


def test_present_creates_an_empty_file_and_accepts_any_existing_one(tmp_path: Path, context: RunContext) -> None:
    target = tmp_path / "flag"
    converge(FileOptions(path=target, ensure="present"), context)
    assert target.read_bytes() == b""
    target.write_text("edited by hand\n")
    assert MODULE.check(FileOptions(path=target, ensure="present"), context) is None


def test_directory_is_created_with_mode(tmp_path: Path, context: RunContext) -> None:
    directory = tmp_path / "a"
    converge(FileOptions(path=directory, ensure="directory", mode="0750"), context)
    assert directory.is_dir() and mode_of(directory) == 0o750


def test_directory_recurse_sets_mode_inside(tmp_path: Path, context: RunContext) -> None:
    directory = tmp_path / "tree"
    (directory / "sub").mkdir(parents=True)
    (directory / "sub" / "file").write_text("x")
    (directory / "sub" / "file").chmod(0o600)
    (directory / "sub").chmod(0o700)
    (directory / "link").symlink_to("/etc/passwd")
    passwd_mode = mode_of(Path("/etc/passwd"))
    converge(FileOptions(path=directory, ensure="directory", mode="0644", recurse=True), context)
    assert mode_of(directory / "sub" / "file") == 0o644
    assert mode_of(directory / "sub") == 0o755
    assert mode_of(Path("/etc/passwd")) == passwd_mode


def test_link_is_created_and_retargeted(tmp_path: Path, context: RunContext) -> None:
    link = tmp_path / "current"
    converge(FileOptions(path=link, ensure="link", target="/opt/v1"), context)
    assert os.readlink(link) == "/opt/v1"
    change = MODULE.check(FileOptions(path=link, ensure="link", target="/opt/v2"), context)
    assert change is not None and change.summary == "target /opt/v1 -> /opt/v2"
    converge(FileOptions(path=link, ensure="link", target="/opt/v2"), context)
    assert os.readlink(link) == "/opt/v2"


def test_link_does_not_replace_a_file_without_force(tmp_path: Path, context: RunContext) -> None:
    target = tmp_path / "current"
    target.write_text("data\n")
    with pytest.raises(ResourceError, match="not a symlink"):
        MODULE.check(FileOptions(path=target, ensure="link", target="/opt/v1"), context)
    assert target.read_text() == "data\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_owner_and_group_are_set_by_name(tmp_path: Path, context: RunContext) -> None:
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    target = tmp_path / "owned"
    converge(FileOptions(path=target, content="x", owner="nobody", group=nobody.pw_gid), context)
    info = target.stat()
    assert (info.st_uid, info.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert MODULE.check(FileOptions(path=target, owner="root"), context).summary == "owner nobody -> root"  # type: ignore[union-attr]


def test_unknown_owner_is_a_clear_error(tmp_path: Path, context: RunContext) -> None:
    with pytest.raises(ResourceError, match="owner 'no-such-user-xyz' does not exist"):
        MODULE.check(FileOptions(path=tmp_path / "x", content="", owner="no-such-user-xyz"), context)


def test_source_is_read_at_compile_time(tmp_path: Path, context: RunContext) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "sshd_config").write_text("Port 22\n")
    spec = FileOptions(path=tmp_path / "out", source="files/sshd_config")
    resolved = MODULE.resolve(spec, CompileContext(facts=None, policy_dir=tmp_path, title=str(spec.path)))
    assert resolved.content == "Port 22\n" and resolved.source is None
    converge(resolved, context)
    assert (tmp_path / "out").read_text() == "Port 22\n"


def test_binary_source_is_kept_byte_for_byte(tmp_path: Path, context: RunContext) -> None:
    data = bytes(range(256)) * 4
    (tmp_path / "blob.bin").write_bytes(data)
    spec = FileOptions(path=tmp_path / "out.bin", source="blob.bin")
    resolved = MODULE.resolve(spec, CompileContext(facts=None, policy_dir=tmp_path, title=str(spec.path)))
    assert resolved.content is None and resolved.content_base64 is not None
    # The resolved spec survives a round trip through JSON (the catalog goes over NATS).
    resolved = FileOptions.model_validate_json(resolved.model_dump_json())
    converge(resolved, context)
    assert (tmp_path / "out.bin").read_bytes() == data


def test_missing_source_fails_at_compile_time(tmp_path: Path) -> None:
    spec = FileOptions(path=tmp_path / "out", source="files/nope")
    with pytest.raises(PolicyError, match="source 'files/nope' not found"):
        MODULE.resolve(spec, CompileContext(facts=None, policy_dir=tmp_path, title=str(spec.path)))


def test_template_is_rendered_with_facts_vars_and_title(tmp_path: Path, context: RunContext) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "motd.j2").write_text("{{ title }} on {{ facts.hostname }} port {{ vars.port }}\n")

    class Facts:
        hostname = "web1"

    spec = FileOptions(path=tmp_path / "motd", template="templates/motd.j2", vars={"port": 80})
    resolved = MODULE.resolve(spec, CompileContext(facts=Facts(), policy_dir=tmp_path, title="/etc/motd"))
    assert resolved.content == "/etc/motd on web1 port 80\n"
    assert resolved.template is None and resolved.vars is None
    assert FileOptions.model_validate_json(resolved.model_dump_json()) == resolved


def test_inline_template_renders_content(tmp_path: Path) -> None:
    spec = FileOptions(path=tmp_path / "x", content="{{ 1 + 1 }}\n", is_template=True)
    resolved = MODULE.resolve(spec, CompileContext(facts=None, policy_dir=tmp_path, title="x"))
    assert resolved.content == "2\n" and resolved.is_template is False


def test_missing_template_fails_at_compile_time(tmp_path: Path) -> None:
    spec = FileOptions(path=tmp_path / "x", template="templates/nope.j2")
    with pytest.raises(PolicyError, match="templates/nope.j2: template not found"):
        MODULE.resolve(spec, CompileContext(facts=None, policy_dir=tmp_path, title="x"))


def test_template_undefined_variable_names_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "motd.j2").write_text("line 1\nline 2\n{{ foo }}\n")
    spec = FileOptions(path=tmp_path / "x", template="templates/motd.j2")
    with pytest.raises(PolicyError, match=r"^templates/motd.j2:3: 'foo' is undefined$"):
        MODULE.resolve(spec, CompileContext(facts=None, policy_dir=tmp_path, title="x"))


def test_watch_names_the_path(tmp_path: Path, context: RunContext) -> None:
    spec = FileOptions(path=tmp_path / "x", content="")
    assert MODULE.watch(spec, context).paths == (tmp_path / "x",)  # type: ignore[union-attr]


def _any_change():  # type: ignore[no-untyped-def]
    from partout.modules.base import Change

    return Change(summary="forced")


def test_show_diff_false_hides_the_content(tmp_path: Path, context: RunContext) -> None:
    target = tmp_path / "secret"
    target.write_text("old-password\n")
    change = MODULE.check(FileOptions(path=target, content="new-password\n", show_diff=False), context)
    assert change is not None and change.diff is not None
    assert "password" not in change.diff and "sha256" in change.diff


def test_missing_parent_directory_is_a_clear_error(tmp_path: Path, context: RunContext) -> None:
    spec = FileOptions(path=tmp_path / "missing" / "file", content="x")
    change = MODULE.check(spec, context)
    assert change is not None
    with pytest.raises(ResourceError, match=r"parent directory .*missing does not exist; declare it first"):
        MODULE.apply(spec, change, context)


def test_directory_does_not_replace_a_file_without_force(tmp_path: Path, context: RunContext) -> None:
    target = tmp_path / "d"
    target.write_text("data\n")
    with pytest.raises(ResourceError, match="is a file, not a directory"):
        MODULE.check(FileOptions(path=target, ensure="directory"), context)
    converge(FileOptions(path=target, ensure="directory", force=True), context)
    assert target.is_dir()
    assert BackupStore(context.state_dir).entries(target)[0].size == 5


def test_binary_content_change_shows_sizes_not_bytes(tmp_path: Path, context: RunContext) -> None:
    import base64

    target = tmp_path / "blob"
    target.write_bytes(b"\xff\x00old")
    change = MODULE.check(FileOptions(path=target, content_base64=base64.b64encode(b"\xfe\x00new").decode()), context)
    assert change is not None and change.diff is not None and change.diff.startswith("Binary or large content")


def test_concurrent_writes_of_many_files_all_land(tmp_path: Path, context: RunContext) -> None:
    from concurrent.futures import ThreadPoolExecutor

    specs = [FileOptions(path=tmp_path / f"f{index}", content=f"{index}\n") for index in range(50)]
    for spec in specs:
        spec.path.write_text("old\n")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda spec: converge(spec, context), specs))
    assert all(spec.path.read_text() == f"{index}\n" for index, spec in enumerate(specs))
    assert len(BackupStore(context.state_dir).entries()) == 50


def test_unsafe_state_dir_fails_the_change_and_leaves_the_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o777)
    state.chmod(0o777)
    context = RunContext(facts=None, state_dir=state)
    target = tmp_path / "config"
    target.write_text("old\n")
    spec = FileOptions(path=target, content="new\n")
    change = MODULE.check(spec, context)
    assert change is not None
    with pytest.raises(ResourceError, match=r"cannot back up the current content, nothing changed: .*chmod 700"):
        MODULE.apply(spec, change, context)
    assert target.read_text() == "old\n"


def test_path_below_a_regular_file_is_a_clear_error(tmp_path: Path, context: RunContext) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ResourceError, match=r"plain/child: cannot read it: Not a directory"):
        MODULE.check(FileOptions(path=tmp_path / "plain" / "child", content="y"), context)


def test_directory_mode_gets_search_bits_where_read_is_set(tmp_path: Path, context: RunContext) -> None:
    directory = tmp_path / "shared"
    converge(FileOptions(path=directory, ensure="directory", mode="0640"), context)
    assert mode_of(directory) == 0o750
