"""The `Facts` model: what a policy knows about the machine it compiles for.

Cheap sections (hostname, platform, os, cpus, memory, dmi, python) are plain fields,
gathered on every run. Expensive sections (fqdn, nics, disks, mounts, packages, services,
users, groups, cloud, custom) are computed on first access and cached, so a policy that never looks
at packages never pays for reading the package database; a JSON dump includes them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, computed_field, model_validator


class FactDict(dict[str, Any]):
    """A dict whose keys also read as attributes (`facts.custom.role`), in policies as in
    templates; nested dicts read the same way."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"no fact {name!r}; known: {', '.join(sorted(self)) or 'none'}") from None
        return FactDict(value) if isinstance(value, dict) and not isinstance(value, FactDict) else value


# defer_build: building pydantic schemas for these classes costs ~15 ms, paid only when a
# facts file is validated or facts are dumped, not by every `partout apply`.
class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class OsFacts(_Section):
    family: str = Field("unknown", description="debian, redhat, suse, alpine, arch, gentoo, or the dist id.")
    id: str = Field("unknown", description="ID from /etc/os-release: debian, ubuntu, rocky ...")
    name: str = Field("", description="PRETTY_NAME from /etc/os-release.")
    version: str = Field("", description="VERSION_ID from /etc/os-release, e.g. '12'.")
    major: str = Field("", description="The major part of version, e.g. '12'.")
    codename: str = Field("", description="VERSION_CODENAME, e.g. 'bookworm'.")
    kernel: str = Field("", description="Kernel release (uname -r).")
    arch: str = Field("", description="Machine architecture (uname -m), e.g. x86_64.")


class DmiFacts(_Section):
    """Firmware tables (/sys/class/dmi/id); a value the kernel does not expose, or that only
    root may read (serials, UUID), is None."""

    sys_vendor: str | None = None
    product_name: str | None = None
    product_version: str | None = None
    product_serial: str | None = None
    product_uuid: str | None = None
    product_family: str | None = None
    product_sku: str | None = None
    bios_vendor: str | None = None
    bios_version: str | None = None
    bios_date: str | None = None
    board_vendor: str | None = None
    board_name: str | None = None
    board_version: str | None = None
    board_serial: str | None = None
    board_asset_tag: str | None = None
    chassis_vendor: str | None = None
    chassis_type: str | None = Field(None, description="SMBIOS chassis type number, e.g. '3' desktop, '17' rack.")
    chassis_version: str | None = None
    chassis_serial: str | None = None
    chassis_asset_tag: str | None = None


class CloudFacts(_Section):
    """What cloud-init learnt of the cloud at boot (its instance data), when it ran here."""

    provider: str | None = Field(None, description="cloud-init's cloud_name: aws, gce, azure, openstack ...")
    platform: str | None = Field(None, description="cloud-init's platform, e.g. ec2, nocloud.")
    instance_id: str | None = None
    instance_type: str | None = None
    region: str | None = None
    availability_zone: str | None = None
    local_hostname: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict,
                                     description="The datasource's meta-data, redacted entries left out.")


class NicFacts(_Section):
    mac: str | None = None
    mtu: int | None = None
    state: str | None = Field(None, description="operstate: up, down, unknown.")
    addresses: list[str] = Field(default_factory=list, description="Addresses with prefix, e.g. 10.0.0.5/24.")


class DiskFacts(_Section):
    size: int = Field(0, description="Bytes.")
    model: str | None = None
    removable: bool = False
    rotational: bool | None = None


class MountFacts(_Section):
    device: str
    mountpoint: str
    fstype: str
    options: str = ""


class ServiceFacts(_Section):
    provider: str = Field(description="systemd or sysv.")
    enabled: bool | None = None
    active: bool | None = None


class UserFacts(_Section):
    uid: int
    gid: int
    home: str = ""
    shell: str = ""
    gecos: str = ""


class GroupFacts(_Section):
    gid: int
    members: list[str] = Field(default_factory=list)


# name -> (type, default factory) of every lazy section
LAZY_SECTIONS: dict[str, tuple[Any, Callable[[], Any]]] = {
    "fqdn": (str, str),
    "nics": (dict[str, NicFacts], dict),
    "disks": (dict[str, DiskFacts], dict),
    "mounts": (list[MountFacts], list),
    "packages": (dict[str, str], dict),
    "services": (dict[str, ServiceFacts], dict),
    "users": (dict[str, UserFacts], dict),
    "groups": (dict[str, GroupFacts], dict),
    "cloud": (CloudFacts | None, lambda: None),
    "custom": (dict[str, Any], dict),
}
_adapters: dict[str, TypeAdapter[Any]] = {}
# One lock for all Facts objects (not one each): a lock in the model would make it
# impossible to deep-copy, and there is one Facts per run anyway.
_loading = threading.RLock()


def _adapter(name: str) -> TypeAdapter[Any]:
    if name not in _adapters:
        _adapters[name] = TypeAdapter(LAZY_SECTIONS[name][0])
    return _adapters[name]


class Facts(BaseModel):
    """This machine's facts. In a policy: `facts.os.family`, `facts.packages.get('nginx')`."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    hostname: str = Field("localhost", description="Short host name.")
    platform: str = Field("", description="Operating system kind, as Python's sys.platform: linux, darwin, win32.")
    os: OsFacts = Field(default_factory=lambda: OsFacts.model_validate({}))
    cpus: int = Field(1, description="Logical CPUs.")
    memory: int = Field(0, description="Total memory in bytes (MemTotal).")
    dmi: DmiFacts = Field(default_factory=lambda: DmiFacts.model_validate({}))
    python: str = Field("", description="Version of the Python running Partout.")

    _values: dict[str, Any] = PrivateAttr(default_factory=dict)
    _loaders: dict[str, Callable[[], Any]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _lazy_sections_from_data(cls, data: Any, handler: Callable[[Any], Facts]) -> Facts:
        """Sections given in data (a facts file, an agent's report) are taken as they are."""
        if not isinstance(data, dict):
            return handler(data)
        given = {key: data[key] for key in LAZY_SECTIONS if key in data}
        facts = handler({key: value for key, value in data.items() if key not in LAZY_SECTIONS})
        for key, value in given.items():
            facts._values[key] = _adapter(key).validate_python(value)
        return facts

    def with_loaders(self, loaders: dict[str, Callable[[], Any]]) -> Facts:
        """Attach the functions that compute lazy sections on first access."""
        self._loaders.update(loaders)
        return self

    def load_all(self) -> Facts:
        """Compute every lazy section now. Call before dumping: an error in a section
        (a broken custom fact) then raises as itself, not wrapped by pydantic's serializer."""
        for name in LAZY_SECTIONS:
            self._section(name)
        return self

    def _section(self, name: str) -> Any:
        with _loading:
            if name not in self._values:
                loader = self._loaders.get(name)
                value = loader() if loader is not None else LAZY_SECTIONS[name][1]()
                self._values[name] = _adapter(name).validate_python(value)
            return self._values[name]

    # mypy refuses any decorator above @property; pydantic documents this ignore for computed_field.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def fqdn(self) -> str:
        """Fully qualified domain name (resolved on first use)."""
        return str(self._section("fqdn"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def nics(self) -> dict[str, NicFacts]:
        """Network interfaces by name, with MAC, MTU, state and addresses."""
        return cast("dict[str, NicFacts]", self._section("nics"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def disks(self) -> dict[str, DiskFacts]:
        """Block devices by name (sda, nvme0n1), with size in bytes."""
        return cast("dict[str, DiskFacts]", self._section("disks"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mounts(self) -> list[MountFacts]:
        """Mounted filesystems backed by a device or network."""
        return cast("list[MountFacts]", self._section("mounts"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def packages(self) -> dict[str, str]:
        """Installed packages, name -> version (dpkg, rpm or apk)."""
        return cast("dict[str, str]", self._section("packages"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def services(self) -> dict[str, ServiceFacts]:
        """Services by name (systemd units without '.service', or /etc/init.d scripts)."""
        return cast("dict[str, ServiceFacts]", self._section("services"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def users(self) -> dict[str, UserFacts]:
        """Local users from /etc/passwd."""
        return cast("dict[str, UserFacts]", self._section("users"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def groups(self) -> dict[str, GroupFacts]:
        """Local groups from /etc/group."""
        return cast("dict[str, GroupFacts]", self._section("groups"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cloud(self) -> CloudFacts | None:
        """Cloud provider, instance and region from cloud-init's instance data; None off the cloud."""
        return cast("CloudFacts | None", self._section("cloud"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def custom(self) -> dict[str, Any]:
        """Custom facts from the facts.d folder (JSON, YAML, executables printing JSON)."""
        return FactDict(self._section("custom"))
