"""This machine's facts: `gather()` reads them, `load(path)` takes them from a file
(for testing a policy against another machine's facts).

    facts = gather()
    facts.os.family          # cheap: read on every run
    facts.packages["bash"]   # expensive: read on first access, then cached
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from partout.errors import FactsError
from partout.facts.model import (
    LAZY_SECTIONS,
    CloudFacts,
    DiskFacts,
    DmiFacts,
    FactDict,
    Facts,
    GroupFacts,
    MountFacts,
    NicFacts,
    OsFacts,
    ServiceFacts,
    UserFacts,
)

__all__ = [
    "CloudFacts", "DiskFacts", "DmiFacts", "FactDict", "Facts", "GroupFacts", "MountFacts", "NicFacts",
    "OsFacts", "ServiceFacts", "UserFacts", "PUBLISHED_SECTIONS", "SECTIONS", "gather", "load",
]

# Every top-level section, in output order.
SECTIONS = (*Facts.model_fields, *LAZY_SECTIONS)
# What agents publish to the master unless its config says otherwise: everything but the
# package and service lists, which are large and change with every upgrade.
PUBLISHED_SECTIONS = tuple(name for name in SECTIONS if name not in ("packages", "services"))


def gather(*, facts_d: Path | None = None) -> Facts:
    """Facts of this machine. Cheap sections are read now (a few small files); the
    rest when first used. facts_d defaults to /etc/partout/facts.d ($PARTOUT_FACTS_D)."""
    from partout.facts import system

    # model_construct: the values are built here, typed; validating them would cost
    # the schema build that defer_build saves.
    facts = Facts.model_construct(
        hostname=system.hostname(),
        platform=system.platform(),
        os=system.os_facts(),
        cpus=system.cpu_count(),
        memory=system.memory_total(),
        dmi=system.dmi_facts(),
        python=system.python_version(),
    )
    return facts.with_loaders(_loaders(facts_d))


def _loaders(facts_d: Path | None) -> dict[str, Any]:
    def fqdn() -> str:
        from partout.facts.system import fqdn

        return fqdn()

    def nics() -> Any:
        from partout.facts.devices import nics

        return nics()

    def disks() -> Any:
        from partout.facts.devices import disks

        return disks()

    def mounts() -> Any:
        from partout.facts.devices import mounts

        return mounts()

    def packages() -> Any:
        from partout.facts.packages import installed

        return installed()

    def services() -> Any:
        from partout.facts.services import services

        return services()

    def users() -> Any:
        from partout.facts.accounts import users

        return users()

    def groups() -> Any:
        from partout.facts.accounts import groups

        return groups()

    def cloud() -> Any:
        from partout.facts.cloud import cloud_facts

        return cloud_facts()

    def custom() -> Any:
        from partout.facts.custom import custom_facts, default_facts_d

        return custom_facts(facts_d if facts_d is not None else default_facts_d())

    return {
        "fqdn": fqdn, "nics": nics, "disks": disks, "mounts": mounts, "packages": packages,
        "services": services, "users": users, "groups": groups, "cloud": cloud,
        "custom": custom,
    }


def load(path: Path) -> Facts:
    """Facts from a JSON or YAML file (e.g. the output of `partout facts`, trimmed).
    Missing sections take their defaults (empty, never this machine's); unknown or
    malformed ones are a FactsError naming the file and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FactsError(f"facts file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FactsError(f"facts file {path}: cannot read it: {exc}") from exc
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise FactsError(f"facts file {path}: expected a mapping of facts at the top, got {type(data).__name__}")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise FactsError(
            f"facts file {path}: unknown fact {unknown[0]!r}; known: {', '.join(SECTIONS)} "
            f"(put your own under 'custom')"
        )
    try:
        return Facts.model_validate(data)
    except ValidationError as exc:
        raise FactsError(f"facts file {path}: {_describe(exc, data)}") from None


def _parse(path: Path, text: str) -> Any:
    from partout.facts.parsing import parse_json, parse_yaml  # only with --facts FILE: not at start-up

    if path.suffix.lower() == ".json":
        return parse_json(text, f"facts file {path}")
    return parse_yaml(text, f"facts file {path}")  # YAML is a superset of JSON: it reads both


def _describe(error: ValidationError, data: dict[str, Any]) -> str:
    first = error.errors()[0]
    location = [str(part) for part in first["loc"]]
    # Lazy sections are validated inside the model validator: their errors lose the
    # section name, so find which section the value came from.
    if location and location[0] not in SECTIONS:
        for section in LAZY_SECTIONS:
            if section in data:
                from partout.facts.model import _adapter

                try:
                    _adapter(section).validate_python(data[section])
                except ValidationError as inner:
                    first = inner.errors()[0]
                    location = [section, *(str(part) for part in first["loc"])]
                    break
    field = ".".join(location) or "(top)"
    return f"field {field}: {first['msg']}"
