"""How service resources are watched: by polling their state every `watch_interval`.

Whatever the provider, the check asks the service manager itself (systemctl is-active
and is-enabled; an init script's `status`, which reads its pid file and looks for the
process; rc-service status), so a service that died is started again within one
interval. systemd's D-Bus signals would make this event-driven; they are not used yet
(see the README's real-time section).
"""

from __future__ import annotations

from typing import Protocol

from partout.modules.base import RunContext, Watch, Watching

DEFAULT_INTERVAL = 2.0

WATCHING = Watching(
    "polling",
    "the service manager's state (systemctl; the init script's status: pid file and process "
    f"liveness; rc-service) every watch_interval seconds, default {DEFAULT_INTERVAL:.0f}",
)


class Polled(Protocol):
    @property
    def watch_interval(self) -> float: ...


def watch(spec: Polled, context: RunContext) -> Watch:
    return Watch(interval=spec.watch_interval)
