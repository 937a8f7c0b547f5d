"""How user and group resources are watched: the account databases under their root.

The shadow tools replace /etc/passwd, /etc/shadow, /etc/group and /etc/gshadow by
renaming a new file over each (keeping a `-` backup), so a change shows as an event on
/etc (or <root>/etc), which the watcher routes to the resources that registered these
paths: only the accounts the policy manages are checked again, each reading the files
afresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from partout.modules.accounts import etc
from partout.modules.base import RunContext, Watch, Watching

# useradd/userdel rewrite up to four files in a row: re-check once they are done.
SETTLE = 0.1
USER_FILES = ("passwd", "shadow", "group")  # group: supplementary groups and gid by name
GROUP_FILES = ("group", "gshadow")

USER_WATCHING = Watching("events", "inotify on <root>/etc/passwd, shadow and group")
GROUP_WATCHING = Watching("events", "inotify on <root>/etc/group and gshadow")


class Rooted(Protocol):
    @property
    def root(self) -> Path | None: ...


def watch_user(spec: Rooted, context: RunContext) -> Watch:
    return Watch(paths=tuple(etc(spec.root) / name for name in USER_FILES), settle=SETTLE)


def watch_group(spec: Rooted, context: RunContext) -> Watch:
    return Watch(paths=tuple(etc(spec.root) / name for name in GROUP_FILES), settle=SETTLE)
