"""Network interfaces, block devices and mounts, from /sys and /proc (and `ip -j addr`
when iproute2 is there, for every address of every interface)."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path

from partout.facts.model import DiskFacts, MountFacts, NicFacts

SYS_NET = Path("/sys/class/net")
SYS_BLOCK = Path("/sys/block")
# Filesystems worth reporting that have no /dev device.
_NETWORK_OR_POOL = {"nfs", "nfs4", "cifs", "smb3", "zfs", "overlay", "fuse.sshfs", "glusterfs", "ceph"}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def nics() -> dict[str, NicFacts]:
    addresses = _addresses()
    found: dict[str, NicFacts] = {}
    try:
        names = sorted(entry.name for entry in SYS_NET.iterdir())
    except OSError:
        names = sorted(addresses)
    for name in names:
        mtu = _read(SYS_NET / name / "mtu")
        found[name] = NicFacts(
            mac=_read(SYS_NET / name / "address"),
            mtu=int(mtu) if mtu and mtu.isdigit() else None,
            state=_read(SYS_NET / name / "operstate"),
            addresses=addresses.get(name, []),
        )
    return found


def _addresses() -> dict[str, list[str]]:
    ip = shutil.which("ip")
    if ip is not None:
        try:
            result = subprocess.run([ip, "-j", "addr"], capture_output=True, text=True, timeout=10, check=False)
            found: dict[str, list[str]] = {}
            for link in json.loads(result.stdout or "[]"):
                found[link["ifname"]] = [
                    f"{info['local']}/{info['prefixlen']}" for info in link.get("addr_info", []) if "local" in info
                ]
            return found
        except (OSError, ValueError, KeyError, subprocess.SubprocessError):
            pass
    return _proc_addresses()


def _proc_addresses() -> dict[str, list[str]]:
    """Without iproute2: IPv6 from /proc/net/if_inet6, IPv4 from /proc/net/fib_trie is
    too awkward, so IPv4 via the SIOCGIFADDR/SIOCGIFNETMASK ioctls."""
    import fcntl
    import socket
    import struct

    found: dict[str, list[str]] = {}
    try:
        names = [entry.name for entry in SYS_NET.iterdir()]
    except OSError:
        names = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in names:
            request = struct.pack("256s", name.encode()[:15])
            try:
                address = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), 0x8915, request)[20:24])
                netmask = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), 0x891B, request)[20:24])
            except OSError:
                continue
            prefix = ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen
            found.setdefault(name, []).append(f"{address}/{prefix}")
    text = _read(Path("/proc/net/if_inet6")) or ""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 6:
            address6 = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
            found.setdefault(fields[5], []).append(f"{address6}/{int(fields[2], 16)}")
    return found


def disks() -> dict[str, DiskFacts]:
    found: dict[str, DiskFacts] = {}
    try:
        devices = sorted(entry.name for entry in SYS_BLOCK.iterdir())
    except OSError:
        return found
    for name in devices:
        base = SYS_BLOCK / name
        sectors = _read(base / "size")
        size = int(sectors) * 512 if sectors and sectors.isdigit() else 0
        if size == 0 and name.startswith(("loop", "ram")):
            continue  # unused loop and ram devices are noise
        rotational = _read(base / "queue" / "rotational")
        found[name] = DiskFacts(
            size=size,
            model=_read(base / "device" / "model"),
            removable=_read(base / "removable") == "1",
            rotational=None if rotational is None else rotational == "1",
        )
    return found


def mounts() -> list[MountFacts]:
    text = _read(Path("/proc/self/mounts")) or ""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        device, mountpoint, fstype, options = fields[:4]
        if device.startswith("/") or fstype in _NETWORK_OR_POOL:
            # /proc/mounts escapes spaces as \040.
            found.append(MountFacts(
                device=device, mountpoint=mountpoint.replace("\\040", " "), fstype=fstype, options=options,
            ))
    return found
