"""The `file` directive: a file's content, type, mode, owner and group.

Content comes from `content`, `source` (a file beside the policy) or `template` (Jinja2);
`resolve` turns all three into final content at compile time, so check and apply never
read the policy directory. Writes are atomic, replaced content is backed up in the
content-addressed store (`partout backups`), and a symlink is never followed unless the
policy says so.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from partout.errors import PolicyError, ResourceError, StateError
from partout.modules.base import BY_PATH, Change, CompileContext, Module, RunContext, Watch
from partout.modules.files import fileops
from partout.modules.files.diff import content_diff, hidden_diff
from partout.modules.files.options import FileOptions
from partout.modules.files.owners import gid_of, group_name, uid_of, user_name

__all__ = ["MODULE", "FileOptions", "apply", "check", "resolve", "watch"]

# ----------------------------------------------------------------------- resolve


def resolve(spec: FileOptions, context: CompileContext) -> FileOptions:
    """Turn source / template / is_template into final content; missing files fail here,
    at compile time, before anything is touched."""
    if spec.source is not None:
        location = _policy_file(context, spec.source, "source")
        try:
            data = location.read_bytes()
        except FileNotFoundError:
            raise PolicyError(f"file({str(spec.path)!r}): source {spec.source!r} not found (looked at {location})") from None
        except OSError as exc:
            raise PolicyError(f"file({str(spec.path)!r}): cannot read source {location}: {exc.strerror}") from None
        try:
            update: dict[str, object] = {"content": data.decode("utf-8")}
        except UnicodeDecodeError:
            update = {"content_base64": base64.b64encode(data).decode("ascii")}
        return spec.model_copy(update={**update, "source": None})
    if spec.template is not None or spec.is_template:
        from partout.modules.files.templates import render_file, render_template

        variables = spec.vars or {}
        if spec.template is not None:
            location = _policy_file(context, spec.template, "template")
            text = render_file(location, name=spec.template, facts=context.facts, vars=variables, title=context.title)
        else:
            text = render_template(
                spec.content or "", name=f"file({str(spec.path)!r}) content", facts=context.facts,
                vars=variables, title=context.title,
            )
        # vars are spent once rendered; dropping them keeps the catalog serialisable even
        # when a policy passed objects (inventory records) that JSON cannot hold.
        return spec.model_copy(update={"content": text, "template": None, "is_template": False, "vars": None})
    return spec


def _policy_file(context: CompileContext, relative: str, option: str) -> Path:
    location = Path(relative)
    if not location.is_absolute():
        location = Path(context.policy_dir) / location
    return location


# ------------------------------------------------------------------------- check


def _diff(spec: FileOptions, old: bytes | None, new: bytes) -> str:
    if spec.show_diff:
        return content_diff(str(spec.path), old, new)
    return hidden_diff(str(spec.path), old, new)


def _owner_ids(spec: FileOptions) -> tuple[int, int]:
    uid = uid_of(spec.owner) if spec.owner is not None else -1
    gid = gid_of(spec.group) if spec.group is not None else -1
    return uid, gid


def _attribute_changes(spec: FileOptions, state: fileops.PathState, mode: int | None, uid: int, gid: int) -> list[str]:
    parts = []
    if mode is not None and state.mode != mode:
        parts.append(f"mode {state.mode:04o} -> {mode:04o}")
    if uid != -1 and state.uid != uid:
        parts.append(f"owner {user_name(state.uid)} -> {user_name(uid)}")
    if gid != -1 and state.gid != gid:
        parts.append(f"group {group_name(state.gid)} -> {group_name(gid)}")
    return parts


def _wrong_type(spec: FileOptions, state: fileops.PathState, wanted: str) -> ResourceError:
    what = f"a symlink to {state.target}" if state.kind == "link" else f"a {state.kind}"
    return ResourceError(
        f"{spec.path} is {what}, not a {wanted}; nothing changed "
        f"(set force=True to replace it)"
    )


def check(spec: FileOptions, context: RunContext) -> Change | None:
    """What differs between the path and the spec, reading only: one lstat, one read."""
    desired = spec.desired_content()
    try:
        state = fileops.inspect(spec.path, read_content=desired is not None)
    except OSError as exc:
        raise ResourceError(f"{spec.path}: cannot read it: {exc.strerror or exc}") from exc
    uid, gid = _owner_ids(spec)
    mode = _wanted_mode(spec)
    if spec.ensure == "absent":
        if state.kind == "missing":
            return None
        if state.kind == "directory" and not spec.force:
            raise _wrong_type(spec, state, "file to remove")
        kept = " (its files kept in the backup store)" if state.kind == "directory" and spec.backup else ""
        return Change(summary=f"{state.kind} removed{kept}", data={"kind": state.kind})
    if spec.ensure == "present" and state.kind not in ("missing", "file"):
        return None
    if spec.ensure in ("file", "present"):
        if state.kind == "missing":
            new = desired if desired is not None else b""
            return Change(
                summary="created", diff=_diff(spec, b"", new) if desired is not None else None,
                data={"kind": "missing"},
            )
        if state.kind != "file":
            if not spec.force:
                raise _wrong_type(spec, state, "regular file")
            return Change(summary=f"{state.kind} -> file", data={"kind": state.kind})
        parts = []
        diff = None
        if desired is not None and state.content != desired:
            parts.append("content")
            diff = _diff(spec, state.content, desired)
        parts += _attribute_changes(spec, state, mode, uid, gid)
        return Change(summary=", ".join(parts), diff=diff, data={"kind": "file"}) if parts else None
    if spec.ensure == "directory":
        if state.kind == "missing":
            return Change(summary="directory created", data={"kind": "missing"})
        if state.kind != "directory":
            if not spec.force:
                raise _wrong_type(spec, state, "directory")
            return Change(summary=f"{state.kind} -> directory", data={"kind": state.kind})
        parts = _attribute_changes(spec, state, mode, uid, gid)
        if spec.recurse and (mode is not None or uid != -1 or gid != -1):
            count = sum(1 for _ in _recurse_differences(spec.path, spec.mode_bits(), uid, gid))
            if count:
                parts.append(f"{count} entries inside")
        return Change(summary=", ".join(parts), data={"kind": "directory"}) if parts else None
    # ensure == "link"
    if state.kind == "link":
        parts = [f"target {state.target} -> {spec.target}"] if state.target != spec.target else []
        parts += _attribute_changes(spec, state, None, uid, gid)  # a link has no mode of its own
        return Change(summary=", ".join(parts), data={"kind": "link"}) if parts else None
    if state.kind == "missing":
        return Change(summary=f"link -> {spec.target} created", data={"kind": "missing"})
    if not spec.force:
        raise _wrong_type(spec, state, "symlink")
    return Change(summary=f"{state.kind} -> link to {spec.target}", data={"kind": state.kind})


def _wanted_mode(spec: FileOptions) -> int | None:
    mode = spec.mode_bits()
    if mode is not None and spec.ensure == "directory":
        return _directory_mode(mode)
    return mode


def _directory_mode(mode: int) -> int:
    """A directory's mode for a recursive file mode: x wherever r is set, like Puppet."""
    return mode | ((mode & 0o444) >> 2)


def _recurse_differences(root: Path, mode: int | None, uid: int, gid: int) -> Iterator[tuple[Path, bool]]:
    """(path, is_directory) of every entry under root whose owner, group or mode differs;
    symlinks are not followed and not changed."""
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        for name, is_directory in [(n, True) for n in subdirectories] + [(n, False) for n in files]:
            entry = Path(directory) / name
            info = os.lstat(entry)
            kind = fileops.kind_of(info.st_mode)
            if kind not in ("file", "directory"):
                continue
            wanted = None if mode is None else (_directory_mode(mode) if kind == "directory" else mode)
            if (
                (wanted is not None and (info.st_mode & 0o7777) != wanted)
                or (uid != -1 and info.st_uid != uid)
                or (gid != -1 and info.st_gid != gid)
            ):
                yield entry, kind == "directory"


# ------------------------------------------------------------------------- apply


def _backup(spec: FileOptions, context: RunContext, state: fileops.PathState) -> None:
    if not spec.backup or state.kind != "file":
        return
    from partout.modules.files.backup import BackupStore

    content = state.content if state.content is not None else fileops.read_nofollow(spec.path, state.size)
    try:
        BackupStore(context.state_dir).save(spec.path, content, state.mode)
    except StateError as exc:
        # Before any change: without its backup the old content stays where it is.
        raise ResourceError(f"{spec.path}: cannot back up the current content, nothing changed: {exc}") from exc


def _remove(spec: FileOptions, context: RunContext, state: fileops.PathState) -> None:
    if state.kind == "directory":
        if spec.backup:
            from partout.modules.files.backup import BackupStore

            try:
                BackupStore(context.state_dir).save_tree(spec.path)
            except StateError as exc:
                raise ResourceError(f"{spec.path}: cannot back up the files of the tree, nothing removed: {exc}") from exc
        shutil.rmtree(spec.path)
    elif state.kind != "missing":
        _backup(spec, context, state)
        os.unlink(spec.path)


def apply(spec: FileOptions, change: Change, context: RunContext) -> str | None:
    try:
        return _apply(spec, context)
    except OSError as exc:
        raise fileops.write_error(spec.path, exc, creates=spec.ensure != "absent") from exc


def _apply(spec: FileOptions, context: RunContext) -> str | None:
    desired = spec.desired_content()
    # Look again rather than trust the Change: the path may have changed since check.
    state = fileops.inspect(spec.path, read_content=spec.ensure in ("file", "present", "absent"))
    uid, gid = _owner_ids(spec)
    mode = _wanted_mode(spec)
    if spec.ensure == "absent":
        if state.kind == "directory" and not spec.force:
            raise _wrong_type(spec, state, "file to remove")
        _remove(spec, context, state)
        return None
    if spec.ensure == "present" and state.kind not in ("missing", "file"):
        return None
    if spec.ensure in ("file", "present"):
        if state.kind not in ("missing", "file"):
            if not spec.force:
                raise _wrong_type(spec, state, "regular file")
            if state.kind in ("directory", "other"):
                _remove(spec, context, state)
            # A symlink is replaced by the rename itself, never written through.
            state = fileops.PathState(kind="missing")
        if state.kind == "missing" or (desired is not None and state.content != desired):
            if state.kind == "file":
                _backup(spec, context, state)
            data = desired if desired is not None else (state.content or b"")
            final_mode = mode if mode is not None else (state.mode if state.kind == "file" else fileops.default_file_mode())
            keep_uid = state.uid if state.kind == "file" else -1
            keep_gid = state.gid if state.kind == "file" else -1
            fileops.write_atomically(
                spec.path, data, mode=final_mode,
                uid=uid if uid != -1 else keep_uid, gid=gid if gid != -1 else keep_gid,
                directories=context.directories,
            )
            return None
        if _attribute_changes(spec, state, mode, uid, gid):
            fileops.set_attributes(spec.path, mode=mode, uid=uid, gid=gid)
        return None
    if spec.ensure == "directory":
        if state.kind not in ("missing", "directory"):
            if not spec.force:
                raise _wrong_type(spec, state, "directory")
            _remove(spec, context, state)
            state = fileops.PathState(kind="missing")
        if state.kind == "missing":
            # Created private, then opened up: no moment with looser permissions than asked.
            os.mkdir(spec.path, 0o700)
            fileops.set_attributes(
                spec.path, mode=mode if mode is not None else fileops.default_directory_mode(), uid=uid, gid=gid
            )
        elif _attribute_changes(spec, state, mode, uid, gid):
            fileops.set_attributes(spec.path, mode=mode, uid=uid, gid=gid)
        if spec.recurse:
            file_mode = spec.mode_bits()
            for entry, is_directory in list(_recurse_differences(spec.path, file_mode, uid, gid)):
                wanted = None if file_mode is None else (_directory_mode(file_mode) if is_directory else file_mode)
                fileops.set_attributes(entry, mode=wanted, uid=uid, gid=gid)
        return None
    # ensure == "link"
    assert spec.target is not None
    if state.kind == "link" and state.target == spec.target:
        os.lchown(spec.path, uid, gid)
        return None
    if state.kind not in ("missing", "link"):
        if not spec.force:
            raise _wrong_type(spec, state, "symlink")
        if state.kind == "directory":
            _remove(spec, context, state)
        else:
            _backup(spec, context, state)
    fileops.symlink_atomically(spec.target, spec.path, uid=uid, gid=gid, directories=context.directories)
    return None


def watch(spec: FileOptions, context: RunContext) -> Watch:
    return Watch(paths=(spec.path,))


MODULE = Module(
    name="file",
    options=FileOptions,
    check=check,
    apply=apply,
    watching=BY_PATH,
    watch=watch,
    resolve=resolve,
    concurrent=True,
    summary="Manage a file, directory or symlink: content, type, mode, owner and group.",
)
