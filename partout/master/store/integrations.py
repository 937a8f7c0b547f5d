"""Integrations: third parties (dashboards, chat bots, CI) with an nkey identity of their own.

An integration is registered by an operator (`partout integrations add NAME --role ...`) with
the public key of a pair made on the operator's machine; the seed never reaches the master.
The auth callout grants the key its role's permissions (partout.nats.permissions.reader /
trigger). Removing one keeps its record with `removed_at` set: the key stays refused for
good, while the name may be given to a new integration (with a new key)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from partout.master.store.base import StoreError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class IntegrationRole(StrEnum):
    READER = "reader"  # reads the events republished on partout.node.>
    TRIGGER = "trigger"  # reader, and publishes partout.trigger.>


class IntegrationRecord(BaseModel):
    """One integration: its name, role and public key; `removed_at` once removed."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Unique among integrations not removed; see NAME_PATTERN.")
    role: IntegrationRole
    public_key: str = Field(description="The integration's public user nkey ('U...'); unique for ever.")
    added_at: datetime
    removed_at: datetime | None = None

    @property
    def removed(self) -> bool:
        return self.removed_at is not None


class IntegrationError(StoreError):
    """An integration cannot be added, found or removed as asked."""


class IntegrationNotFound(IntegrationError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no integration named {name!r}; see `partout integrations list`")


class IntegrationExists(IntegrationError):
    """The name is taken by an integration not removed, or the key was registered before."""


def check_integration_name(name: str) -> str:
    """`name` when it is a valid integration name, else IntegrationError naming the field."""
    if not NAME_PATTERN.match(name):
        raise IntegrationError(
            f"integration name {name!r} is invalid: use 1 to 63 lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit")
    return name


def check_integration_role(role: str) -> IntegrationRole:
    """`role` as an IntegrationRole, else IntegrationError naming the field."""
    try:
        return IntegrationRole(role)
    except ValueError:
        choices = ", ".join(member.value for member in IntegrationRole)
        raise IntegrationError(f"integration role {role!r} is invalid: use one of {choices}") from None


def name_taken(name: str) -> IntegrationExists:
    return IntegrationExists(f"an integration named {name!r} exists already; remove it first or choose another name")


def key_taken(public_key: str) -> IntegrationExists:
    return IntegrationExists(f"public key {public_key} is registered already (integration keys are never reused); "
                             "make a new key pair")


__all__ = [
    "IntegrationError", "IntegrationExists", "IntegrationNotFound", "IntegrationRecord", "IntegrationRole",
    "check_integration_name", "check_integration_role", "key_taken", "name_taken",
]
