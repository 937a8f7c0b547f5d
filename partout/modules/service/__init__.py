"""The `service` module: keep a service running or stopped and enabled at boot or not,
through systemd, sysv init scripts or OpenRC, chosen by facts; `restart` and `reload` are
actions that events may trigger (`on={"file:/etc/x:changed": "restart"}`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from partout.errors import ResourceError
from partout.modules.base import Change, Module, ModuleOptions, RunContext
from partout.modules.service.missing import providing_package
from partout.modules.service.provider import ServiceMissing, choose
from partout.modules.service.watch import DEFAULT_INTERVAL, WATCHING, watch


class ServiceOptions(ModuleOptions):
    """Keep a service running or stopped, and enabled at boot or not.

    Example: `p2.service("nginx", ensure="running", enabled=True, on={"file:/etc/nginx/nginx.conf:changed": "restart"})`.
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9@_.:+-]+$",
                      description="Service name (the title); systemd units may carry a suffix, e.g. 'tmp.mount'.")
    ensure: Literal["running", "stopped"] | None = Field(None, description="running or stopped; unset leaves it as is.")
    enabled: bool | None = Field(None, description="Start at boot (true) or not (false); unset leaves it as is.")
    provider: Literal["systemd", "sysv", "openrc"] | None = Field(
        None, description="Service manager; by default openrc on Alpine/Gentoo (facts os.family), systemd when it "
        "is PID 1, sysv when <root>/etc/init.d/<name> exists, else systemd when systemctl is installed.")
    root: Path | None = Field(None, description="Manage enablement of the system installed under this directory "
                              "(systemctl --root, rc?.d or runlevel links); ensure= needs the live system.")
    watch_interval: float = Field(DEFAULT_INTERVAL, gt=0, description="With watch=True: seconds between checks "
                                  "of the service's state; a service that died is started again within this.")


def check(spec: ServiceOptions, context: RunContext) -> Change | None:
    try:
        return _check(spec, context)
    except ServiceMissing:
        package = providing_package(spec, context) if context.noop else None
        if package is None:
            raise
        # under --noop the package that installs it was not installed either: say what would happen
        wanted = [word for word, wanted in (("enable", spec.enabled is True), ("disable", spec.enabled is False),
                                            ("start", spec.ensure == "running"), ("stop", spec.ensure == "stopped"))
                  if wanted]
        return Change(summary=f"{', '.join(wanted) or 'manage'} {spec.name} (not installed yet: package "
                      f"{package} would install it)", data={"steps": wanted})


def _check(spec: ServiceOptions, context: RunContext) -> Change | None:
    provider = choose(spec, context.facts)
    steps: list[str] = []
    if spec.enabled is not None:
        enabled = provider.is_enabled(spec, context)
        if enabled is not None and enabled != spec.enabled:
            steps.append("enable" if spec.enabled else "disable")
    if spec.ensure is not None:
        running = provider.is_running(spec, context)
        if running != (spec.ensure == "running"):
            steps.append("start" if spec.ensure == "running" else "stop")
    if not steps:
        return None
    return Change(summary=", ".join(f"{step} {spec.name}" for step in steps),
                  data={"steps": steps, "provider": provider.name})


def apply(spec: ServiceOptions, change: Change, context: RunContext) -> str | None:
    provider = choose(spec, context.facts)
    outputs: list[str] = []
    try:
        for step in change.data.get("steps", []):
            if step in ("enable", "disable"):
                outputs.append(provider.set_enabled(spec, step == "enable"))
            else:
                outputs.append(provider.run_action(spec, step))
    finally:
        provider.forget(spec, context)
    return "\n".join(output for output in outputs if output) or None


def _run_action(spec: ServiceOptions, context: RunContext, action: str) -> str | None:
    if spec.ensure == "stopped":
        return None  # restarting a service that should be stopped would start it
    provider = choose(spec, context.facts)
    try:
        return provider.run_action(spec, action) or None
    except ResourceError as error:
        raise ResourceError(f"service {spec.name}: {action} failed: {error}") from error
    finally:
        provider.forget(spec, context)


def restart(spec: ServiceOptions, context: RunContext) -> str | None:
    """Restart the service (an event action)."""
    return _run_action(spec, context, "restart")


def reload(spec: ServiceOptions, context: RunContext) -> str | None:
    """Reload the service's configuration (an event action)."""
    return _run_action(spec, context, "reload")


MODULE: Module[ServiceOptions] = Module(
    name="service",
    options=ServiceOptions,
    check=check,
    apply=apply,
    watch=watch,
    watching=WATCHING,
    actions={"restart": restart, "reload": reload},
    concurrent=False,
    summary="Keep services running or stopped and enabled or not (systemd, sysv, openrc).",
)
