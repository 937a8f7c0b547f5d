"""Under --noop, a service that does not exist yet passes only when a package of the same
policy would install it: nothing was installed, so its unit or init script cannot be there.

A package "could provide" the service when the policy installs it (its check says install)
and either the service requires it (`require="package:nginx"`) or their names are related
(`nginx` / `nginx`, `ssh` / `openssh-server`, `postgresql` / `postgresql-15`). Otherwise the
missing service is a typo or a forgotten package, and --noop says so as a run would.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from partout.errors import ResourceError

if TYPE_CHECKING:
    from partout.modules.base import RunContext
    from partout.modules.service import ServiceOptions

_SEPARATORS = re.compile(r"[-_.@+:0-9]+")
_SHORTEST = 3  # "ssh" in "openssh": shorter words match too much


def related(service: str, package: str) -> bool:
    service = service.lower().removesuffix(".service").split("@", 1)[0]
    package = package.lower()
    if service == package:
        return True
    words = {word for word in _SEPARATORS.split(service) if len(word) >= _SHORTEST}
    return any(word in package for word in words) or any(
        word in service for word in _SEPARATORS.split(package) if len(word) >= _SHORTEST)


def providing_package(spec: ServiceOptions, context: RunContext) -> str | None:
    """The package of this policy that this run would install and that could provide the service."""
    catalog = context.catalog
    if catalog is None:
        return None
    required: set[str] = set()
    for resource in catalog.resources:
        if resource.module == "service" and getattr(resource.options, "name", None) == spec.name:
            required.update(resource.require)
    for resource in catalog.resources:
        if resource.module != "package":
            continue
        name = str(getattr(resource.options, "name", ""))
        if resource.id not in required and not related(spec.name, name):
            continue
        if _would_install(resource.options, context):
            return name
    return None


def _would_install(options: Any, context: RunContext) -> bool:
    from partout.modules.package import MODULE as PACKAGE

    try:
        change = PACKAGE.check(options, context)
    except ResourceError:
        return False  # the package resource reports its own failure
    return change is not None and change.data.get("action") in ("install", "upgrade")
