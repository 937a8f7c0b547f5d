"""Finds modules by directive name and imports each only when a policy uses it,
so that `partout apply` of a file-only policy does not pay for the package providers."""

from __future__ import annotations

import importlib
from typing import Any

from partout.modules.base import Module

# directive name -> python module that defines MODULE
_MODULES: dict[str, str] = {
    "file": "partout.modules.file",
    "command": "partout.modules.command",
    "package": "partout.modules.package",
    "service": "partout.modules.service",
    "user": "partout.modules.user",
    "group": "partout.modules.group",
    "powershell": "partout.modules.powershell",
    "ini": "partout.modules.ini",
    "fact": "partout.modules.fact",
    "download": "partout.modules.download",
    "replace": "partout.modules.replace",
    "message": "partout.modules.message",
    "pause": "partout.modules.pause",
    "env_var": "partout.modules.env_var",
    "env_load": "partout.modules.env_load",
    "reboot_host": "partout.modules.reboot_host",
    "volume_group": "partout.modules.volume_group",
}

_loaded: dict[str, Module[Any]] = {}


def register(name: str, python_module: str) -> None:
    """Make a directive available from another Python module (a site's own modules, tests)."""
    _MODULES[name] = python_module
    _loaded.pop(name, None)


def names() -> list[str]:
    """Every directive a policy may use that is a module (roles come from the DSL)."""
    return sorted(_MODULES)


def is_module(name: str) -> bool:
    return name in _MODULES


def get(name: str) -> Module[Any]:
    """The module for a directive; KeyError when there is none."""
    module = _loaded.get(name)
    if module is None:
        module = importlib.import_module(_MODULES[name]).MODULE
        _loaded[name] = module
    return module
