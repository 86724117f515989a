"""Turning a ContainerSpec into LXC config items, and LXC config text to and from items, with no side effects."""
from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kubelet.idmap import IdMap
from schemas.container import ContainerSpec
from schemas.quantity import parse_bytes

__all__ = [
    "ClusterLink",
    "CFS_PERIOD_US",
    "CONFIG_HEADER",
    "COMMON_CONF",
    "DEFAULT_INIT",
    "DEFAULT_PIDS_MAX",
    "LIVE_KEYS",
    "LXCFS_MOUNT_HOOK",
    "LXCFS_REBOOT_HOOK",
    "USERNS_CONF",
    "ConfigDiff",
    "COMMAND_ENV",
    "IdMap",
    "Item",
    "cgroup_file",
    "command_of",
    "diff_config",
    "format_config",
    "hwaddr_for",
    "is_live_key",
    "order_live_keys",
    "whole_cores",
    "overlay_rootfs",
    "parse_config",
    "render_config",
    "split_overlay_rootfs",
]

Item = tuple[str, str]

# The first line of every config the kubelet writes: how it tells its own containers from a user's.
CONFIG_HEADER = "# Written by the dlxc kubelet; local edits are overwritten."
COMMON_CONF = "/usr/share/lxc/config/common.conf"
USERNS_CONF = "/usr/share/lxc/config/userns.conf"
CFS_PERIOD_US = 100_000
# The kernel refuses a CFS quota under 1ms.
_MIN_CFS_QUOTA_US = 1_000
# A fork bomb in one container must not starve the node; generous for a system container.
DEFAULT_PIDS_MAX = 2048

# Memory and CPU (and pids) live in cgroup files the kernel lets us rewrite under a running init.
LIVE_KEYS = frozenset({
    "lxc.cgroup.memory.limit_in_bytes",
    "lxc.cgroup.memory.memsw.limit_in_bytes",
    "lxc.cgroup.cpuset.cpus",
    "lxc.cgroup2.memory.swap.max",
    "lxc.cgroup2.cpuset.cpus",
    "lxc.cgroup.cpu.cfs_period_us",
    "lxc.cgroup.cpu.cfs_quota_us",
    "lxc.cgroup.pids.max",
    "lxc.cgroup2.memory.max",
    "lxc.cgroup2.cpu.max",
    "lxc.cgroup2.pids.max",
})
# What a live key goes back to when the spec drops the limit; the period comes first so a quota
# written after it is checked against the period it will run with.
_LIVE_RESET = {
    "lxc.cgroup.memory.limit_in_bytes": "-1",
    "lxc.cgroup.memory.memsw.limit_in_bytes": "-1",
    "lxc.cgroup.cpu.cfs_period_us": str(CFS_PERIOD_US),
    "lxc.cgroup.cpu.cfs_quota_us": "-1",
    "lxc.cgroup.pids.max": "max",
    "lxc.cgroup2.memory.max": "max",
    "lxc.cgroup2.memory.swap.max": "max",
    "lxc.cgroup2.cpu.max": f"max {CFS_PERIOD_US}",
    "lxc.cgroup2.pids.max": "max",
}
# cpuset has no "all cpus" value that does not depend on the node; dropping a pin restarts.
_LIVE_ORDER = [*_LIVE_RESET, "lxc.cgroup.cpuset.cpus", "lxc.cgroup2.cpuset.cpus"]

# Every character that could end a line or a value for liblxc, for getmntent, or for a C string,
# plus the C1 controls and Unicode line separators that other readers of the file treat as breaks.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_KEY = re.compile(r"^lxc\.[a-z0-9_]+(\.[a-z0-9_][a-z0-9_-]*)*\Z")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}\Z")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
# liblxc strips blanks around a value and one pair of matching quotes; quote whenever that would bite.
_BLANKS = " \t"
_QUOTES = "\"'"


def _safe(value: str, *, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected a string, got {type(value).__name__}")
    if _UNSAFE.search(value):
        raise ValueError(f"{what}: must not contain control characters (newline, carriage return, NUL, ...)")
    return value


def _abs_path(value: str, *, what: str) -> str:
    _safe(value, what=what)
    if not value.startswith("/"):
        raise ValueError(f"{what}: must be an absolute path, got {value!r}")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{what}: must not contain whitespace")
    if ".." in value.split("/"):
        raise ValueError(f"{what}: must not contain '..'")
    return value


def _fstab_escape(value: str) -> str:
    # liblxc hands lxc.mount.entry to getmntent(3), which decodes these octal escapes.
    return (value.replace("\\", "\\134").replace(" ", "\\040")
            .replace("\t", "\\011").replace("\n", "\\012"))


def overlay_rootfs(lower: str, upper: str) -> str:
    """The `overlay:LOWER:UPPER` value of lxc.rootfs.path; liblxc puts the workdir beside UPPER."""
    for what, path in (("overlay lower dir", lower), ("overlay upper dir", upper)):
        _abs_path(path, what=what)
        # Both end up in a comma-separated mount option string, and ':' separates overlay layers.
        if "," in path or ":" in path:
            raise ValueError(f"{what}: must not contain ',' or ':', got {path!r}")
    if upper.rstrip("/").count("/") < 2:
        raise ValueError(f"overlay upper dir: {upper!r} must sit in a container directory")
    return f"overlay:{lower}:{upper}"


def split_overlay_rootfs(value: str) -> tuple[str, str] | None:
    """(LOWER, UPPER) of an `overlay:LOWER:UPPER` rootfs value, or None for a plain directory."""
    if not value.startswith("overlay:"):
        return None
    lower, sep, upper = value[len("overlay:"):].partition(":")
    if not sep:
        raise ValueError(f"{value!r} is not overlay:LOWER:UPPER")
    return lower, upper


def _check_rootfs(value: str) -> str:
    parts = split_overlay_rootfs(_safe(value, what="rootfs"))
    if parts is None:
        # "dir:PATH" is how lxc-create writes a plain directory rootfs (kept as is for adopted containers).
        path = value.removeprefix("dir:")
        _abs_path(path, what="rootfs")
        if ":" in path or "," in path:
            raise ValueError(f"rootfs: must not contain ',' or ':', got {value!r}")
        return value
    return overlay_rootfs(*parts)


def hwaddr_for(name: str) -> str:
    """A MAC address that stays the same across restarts and re-creations of the container `name`."""
    digest = hashlib.sha256(name.encode()).digest()
    # Unicast (bit 0 clear) and locally administered (bit 1 set): never clashes with a vendor's NIC.
    first = (digest[0] & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in (first, *digest[1:6]))


@dataclass(frozen=True)
class ClusterLink:
    """Where a container on the cluster network plugs in on this node (see kubelet.overlay)."""

    bridge: str
    address: ipaddress.IPv4Interface  # the container's spec.network.ipv4
    gateway: ipaddress.IPv4Address
    mtu: int
    hosts_file: str  # bind-mounted at /etc/hosts (read-write: the container keeps its own lines; kubelet.names)


def _network(
    spec: ContainerSpec,
    *,
    name: str,
    default_bridge: str,
    ip: ipaddress.IPv4Interface | None,
    gateway: ipaddress.IPv4Address | None,
    cluster: ClusterLink | None = None,
) -> list[Item]:
    network = spec.network
    if network is not None and network.type == "none":
        # "empty" is a fresh network namespace holding only lo; "none" would share the host's.
        return [("lxc.net.0.type", "empty")]
    # The kubelet passes `cluster` for a container on the cluster network (a spec without a network
    # is one); without it, such a spec renders on the default bridge as it did before.
    if network is not None and network.type == "cluster" and cluster is None:
        raise ValueError("network: the cluster network is not set up on this node")
    if cluster is not None:
        if network is not None and network.type != "cluster":
            raise ValueError(f"network: a {network.type} network is not on the cluster network")
        bridge = cluster.bridge
        ip, gateway = cluster.address, cluster.gateway
    else:
        bridge = (network.bridge if network is not None else None) or default_bridge
    if not _IFNAME.match(_safe(bridge, what="bridge")):
        raise ValueError(f"bridge: {bridge!r} is not a network interface name")
    items = [
        ("lxc.net.0.type", "veth"),
        ("lxc.net.0.link", bridge),
        ("lxc.net.0.flags", "up"),
        ("lxc.net.0.name", "eth0"),
        ("lxc.net.0.hwaddr", hwaddr_for(name)),
    ]
    if ip is not None:
        if not isinstance(ip, ipaddress.IPv4Interface):
            raise ValueError(f"ip: expected an IPv4 interface such as 10.0.3.5/24, got {ip!r}")
        items.append(("lxc.net.0.ipv4.address", ip.with_prefixlen))
        if gateway is not None:
            if not isinstance(gateway, ipaddress.IPv4Address):
                raise ValueError(f"gateway: expected an IPv4 address, got {gateway!r}")
            items.append(("lxc.net.0.ipv4.gateway", str(gateway)))
    if cluster is not None:
        items.append(("lxc.net.0.mtu", str(int(cluster.mtu))))
        hosts = _abs_path(cluster.hosts_file, what="hosts file")
        items.append(("lxc.mount.entry", f"{hosts} etc/hosts none bind,create=file 0 0"))
    return items


# busybox init halts on SIGUSR1 and reboots on SIGTERM (liblxc's defaults, SIGPWR and SIGINT, it
# ignores); systemd halts on SIGRTMIN+3 and reboots on SIGINT (ctrl-alt-del).
_SIGNALS = {"busybox": ("SIGUSR1", "SIGTERM"), "systemd": ("SIGRTMIN+3", "SIGINT")}
# A spec.command runs as pid 1 in place of init; like any app it is asked to stop with SIGTERM
# (pid 1 ignores it without a handler, so lxc-stop kills it after its timeout).
_COMMAND_SIGNALS = ("SIGTERM", "SIGTERM")
# The image's init, which spec.args alone is appended to (liblxc's own default).
DEFAULT_INIT = "/sbin/init"
# Where the config keeps spec.command + spec.args: liblxc splits lxc.init.cmd on every space with
# no quoting, so `sh -c "echo hi; exit 3"` cannot be written there. The argv is kept as JSON in
# this variable instead (so a changed command is a changed config, and restarts the container),
# and the runtime hands it to lxc-start as separate arguments; the process sees it in its env too.
COMMAND_ENV = "DLXC_COMMAND"
_CPUSET = re.compile(r"^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*\Z")


def whole_cores(cpu: float | None) -> int | None:
    """The number of cores when `cpu` is a whole number of them (pinned to a cpuset), else None."""
    if cpu is None or isinstance(cpu, bool) or not isinstance(cpu, (int, float)) or cpu <= 0:
        return None
    return int(cpu) if float(cpu).is_integer() else None


def _limits(spec: ContainerSpec, *, cgroup_version: int, cpuset: str | None) -> list[Item]:
    if cgroup_version not in (1, 2):
        raise ValueError(f"cgroup_version must be 1 or 2, got {cgroup_version!r}")
    v1 = cgroup_version == 1
    items: list[Item] = []
    if spec.memory is not None:
        limit = str(parse_bytes(_safe(spec.memory, what="memory")))
        # Memory plus swap is capped at the memory limit: the limit is what the container gets,
        # not a figure it can double by swapping (the spec has no swap allowance of its own).
        if v1:
            items += [("lxc.cgroup.memory.limit_in_bytes", limit), ("lxc.cgroup.memory.memsw.limit_in_bytes", limit)]
        else:
            items += [("lxc.cgroup2.memory.max", limit), ("lxc.cgroup2.memory.swap.max", "0")]
    if spec.cpu is not None:
        if isinstance(spec.cpu, bool) or not isinstance(spec.cpu, (int, float)) or not 0 < spec.cpu <= 1024:
            raise ValueError(f"cpu: must be a number of cores in (0, 1024], got {spec.cpu!r}")
    if spec.cpu is not None and cpuset is not None and whole_cores(spec.cpu) is not None:
        # Whole cores are pinned: the node's allocator spreads containers over its cpus.
        if not _CPUSET.match(_safe(cpuset, what="cpuset")):
            raise ValueError(f"cpuset: {cpuset!r} is not a cpu list such as 0-1,3")
        items.append(("lxc.cgroup.cpuset.cpus" if v1 else "lxc.cgroup2.cpuset.cpus", cpuset))
    elif spec.cpu is not None:
        # Fractional cores can only be a CFS quota (and whole ones are when no cpuset is given).
        quota = max(_MIN_CFS_QUOTA_US, round(spec.cpu * CFS_PERIOD_US))
        if v1:
            items.append(("lxc.cgroup.cpu.cfs_period_us", str(CFS_PERIOD_US)))
            items.append(("lxc.cgroup.cpu.cfs_quota_us", str(quota)))
        else:
            items.append(("lxc.cgroup2.cpu.max", f"{quota} {CFS_PERIOD_US}"))
    items.append(("lxc.cgroup.pids.max" if v1 else "lxc.cgroup2.pids.max", str(DEFAULT_PIDS_MAX)))
    return items


# What Debian's lxcfs package ships for LXC (also in common.conf.d/00-lxcfs.conf, which
# common.conf includes): bind the lxcfs /proc and /sys files over the container's own at mount
# time, and tidy up after a reboot. liblxc runs hooks in the container's mount namespace.
LXCFS_MOUNT_HOOK = "/usr/share/lxcfs/lxc.mount.hook"
LXCFS_REBOOT_HOOK = "/usr/share/lxcfs/lxc.reboot.hook"


def _lxcfs(enabled: bool) -> list[Item]:
    # An empty hook value clears the hooks of that kind included so far (the package's drop-in), so
    # whether a container gets lxcfs is this config's choice alone, and the hooks never run twice.
    items: list[Item] = [("lxc.hook.mount", ""), ("lxc.hook.post-stop", "")]
    if enabled:
        items += [
            ("lxc.mount.auto", "cgroup:mixed proc:mixed sys:mixed"),
            ("lxc.hook.mount", LXCFS_MOUNT_HOOK),
            ("lxc.hook.post-stop", LXCFS_REBOOT_HOOK),
        ]
    return items


def _mounts(spec: ContainerSpec, *, idmapped: bool) -> list[Item]:
    # A tmpfs /dev/shm as the busybox template has: lxc.autodev builds /dev without one.
    items = [("lxc.mount.entry", "tmpfs dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0")]
    for index, mount in enumerate(spec.mounts):
        host = _abs_path(mount.host_path, what=f"mounts[{index}].hostPath")
        target = _abs_path(mount.path, what=f"mounts[{index}].path")
        if target.strip("/") == "":
            raise ValueError(f"mounts[{index}].path: must not be the container's root")
        # A relative target is resolved inside the rootfs; an absolute one would name a host path.
        relative = target.strip("/")
        options = "bind,create=dir" + (",ro" if mount.read_only else "")
        if idmapped:
            # Container uid N reads and writes host files as host uid N, not as uid 100000+N: without
            # it a host dir shows up as nobody (65534) inside and is not writable by container root.
            options += ",idmap=container"
        items.append(("lxc.mount.entry", f"{_fstab_escape(host)} {_fstab_escape(relative)} none {options} 0 0"))
    return items


def _argv(spec: ContainerSpec) -> list[str] | None:
    if spec.command is None and spec.args is None:
        return None
    argv = [*(spec.command or [DEFAULT_INIT]), *(spec.args or [])]
    for index, arg in enumerate(argv):
        if not isinstance(arg, str) or not arg:
            raise ValueError(f"command/args item {index}: must be a non-empty string")
        _safe(arg, what=f"command/args item {index}")
    if not argv[0].startswith("/"):
        raise ValueError(f"command: the program must be an absolute path, got {argv[0]!r}")
    return argv


def command_of(items: Iterable[Item]) -> list[str] | None:
    """The argv the container runs instead of its image's init (spec.command + spec.args), or None."""
    for key, value in items:
        if key == "lxc.environment" and value.startswith(COMMAND_ENV + "="):
            argv = json.loads(value[len(COMMAND_ENV) + 1:])
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
                raise ValueError(f"{COMMAND_ENV} in the config is not a list of non-empty strings: {value!r}")
            return argv
    return None


def render_config(
    spec: ContainerSpec,
    *,
    name: str,
    rootfs: str,
    cgroup_version: int,
    default_bridge: str,
    ip: ipaddress.IPv4Interface | None,
    gateway: ipaddress.IPv4Address | None,
    idmap: IdMap | None,
    cpuset: str | None = None,
    init: str = "busybox",
    idmapped_mounts: bool = False,
    lxcfs: bool = False,
    cluster: ClusterLink | None = None,
) -> list[tuple[str, str]]:
    """Ordered LXC config items for the container `name` running `spec` on `rootfs`.

    `cpuset` is the node's choice of cpus for a spec asking for whole cores (see kubelet.cpus);
    without it, whole cores are a CFS quota too. `init` (busybox or systemd) picks the signals
    that halt and reboot the image's init. `idmapped_mounts` (kernel >= 5.12) makes host bind
    mounts of an unprivileged container idmapped, so container root owns what host root owns there;
    `lxcfs` adds LXCFS's hooks so /proc/meminfo, /proc/cpuinfo and uptime show the container's own.

    `rootfs` is the value of lxc.rootfs.path: a directory, or `overlay:LOWER:UPPER` as made by
    `overlay_rootfs` (the runtime knows where UPPER lives). Raises ValueError on any value that is
    not safe to write into a config file, even though the schema already refuses those.
    """
    if not _DNS_LABEL.match(_safe(name, what="name")):
        raise ValueError(f"name: {name!r} is not a DNS-1123 label")
    if init not in _SIGNALS:
        raise ValueError(f"init must be one of {', '.join(_SIGNALS)}, got {init!r}")
    argv = _argv(spec)
    signals = _COMMAND_SIGNALS if spec.command else _SIGNALS[init]
    hostname = spec.hostname or name
    if not _DNS_LABEL.match(_safe(hostname, what="hostname")):
        raise ValueError(f"hostname: {hostname!r} is not a DNS-1123 label")

    items: list[Item] = [("lxc.include", COMMON_CONF)]
    if not spec.privileged:
        if idmap is None:
            raise ValueError("an unprivileged container needs an id map (see kubelet.idmap.ensure_subids)")
        items.append(("lxc.include", USERNS_CONF))
        items.append(("lxc.idmap", f"u 0 {int(idmap.host_uid_start)} {int(idmap.count)}"))
        items.append(("lxc.idmap", f"g 0 {int(idmap.host_gid_start)} {int(idmap.count)}"))
    items += [
        ("lxc.rootfs.path", _check_rootfs(rootfs)),
        ("lxc.uts.name", hostname),
        ("lxc.signal.halt", signals[0]),
        ("lxc.signal.reboot", signals[1]),
        ("lxc.autodev", "1"),
        # The image runs no getty, so the ttys common.conf asks for would only be idle devices.
        ("lxc.tty.max", "0"),
    ]
    items += _network(spec, name=name, default_bridge=default_bridge, ip=ip, gateway=gateway, cluster=cluster)
    for key, value in spec.env.items():
        if not _ENV_KEY.match(_safe(key, what="env key")):
            raise ValueError(f"env: {key!r} is not a valid variable name")
        if key == COMMAND_ENV:
            raise ValueError(f"env: {COMMAND_ENV} is reserved for spec.command")
        # liblxc reads a bare "KEY" from its own environment, so the '=' must always be there.
        items.append(("lxc.environment", f"{key}={_safe(value, what=f'env[{key}]')}"))
    if argv is not None:
        # ensure_ascii: every non-ASCII character becomes a \uXXXX escape, so nothing in the value can end a line.
        items.append(("lxc.environment", f"{COMMAND_ENV}={json.dumps(argv, ensure_ascii=True)}"))
    items += _limits(spec, cgroup_version=cgroup_version, cpuset=cpuset)
    items += _lxcfs(lxcfs)
    items += _mounts(spec, idmapped=idmapped_mounts and not spec.privileged)
    for key, value in items:
        _check_item(key, value)
    return items


def _check_item(key: str, value: str) -> None:
    if not _KEY.match(_safe(key, what="config key")):
        raise ValueError(f"{key!r} is not an LXC config key")
    _safe(value, what=key)


def _quote(value: str) -> str:
    if value == "" or value[0] in _BLANKS + _QUOTES or value[-1] in _BLANKS + _QUOTES:
        return f'"{value}"'
    return value


def format_config(items: Iterable[Item]) -> str:
    """The text of an LXC config file holding `items`, one `key = value` line each, in order."""
    lines = [CONFIG_HEADER]
    for key, value in items:
        _check_item(key, value)
        lines.append(f"{key} = {_quote(value)}")
    return "\n".join(lines) + "\n"


def parse_config(text: str) -> list[Item]:
    """The items of an LXC config file, read the way liblxc reads it (includes are not expanded)."""
    items: list[Item] = []
    # liblxc splits on '\n' only; str.splitlines would also split on characters liblxc keeps.
    for raw in text.split("\n"):
        line = raw.lstrip(_BLANKS)
        if not line or line.startswith("#") or not line.startswith("lxc."):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"invalid LXC config line: {raw!r}")
        value = value.strip(_BLANKS)
        if len(value) > 1 and value[0] in _QUOTES and value[-1] == value[0]:
            value = value[1:-1]
        items.append((key.rstrip(_BLANKS), value))
    return items


def is_live_key(key: str) -> bool:
    """Whether a change of `key` can be written to a running container's cgroups instead of restarting it."""
    return key in LIVE_KEYS


def cgroup_file(key: str) -> str:
    """The cgroup file an lxc.cgroup(2).* key writes: lxc.cgroup.memory.limit_in_bytes -> memory.limit_in_bytes."""
    for prefix in ("lxc.cgroup2.", "lxc.cgroup."):
        if key.startswith(prefix):
            return key[len(prefix):]
    raise ValueError(f"{key!r} is not a cgroup key")


@dataclass(frozen=True)
class ConfigDiff:
    """What it takes to go from one config to another: cgroup writes, and keys that need a restart."""

    live: tuple[tuple[str, str], ...] = ()
    restart: tuple[str, ...] = ()

    @property
    def needs_restart(self) -> bool:
        return bool(self.restart)

    @property
    def empty(self) -> bool:
        return not self.live and not self.restart


def _by_key(items: Sequence[Item]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in items:
        grouped.setdefault(key, []).append(value)
    return grouped


def diff_config(current: Sequence[Item], desired: Sequence[Item]) -> ConfigDiff:
    """Which changes from `current` to `desired` a running container can take live, and which need a restart.

    `live` holds (cgroup file, value) pairs for `set_cgroup`, in a safe order; a dropped limit is
    written back to unlimited. Multi-valued keys (env, mounts, includes) compare as ordered lists.
    """
    old, new = _by_key(current), _by_key(desired)
    live: list[tuple[str, str]] = []
    restart: list[str] = []
    for key in sorted(old.keys() | new.keys(), key=lambda k: (k not in LIVE_KEYS, k)):
        before, after = old.get(key, []), new.get(key, [])
        if before == after:
            continue
        if key in LIVE_KEYS and len(after) <= 1 and (after or key in _LIVE_RESET):
            live.append((key, after[0] if after else _LIVE_RESET[key]))
        else:
            restart.append(key)
    order = order_live_keys([k for k, _ in live], current, desired)
    live.sort(key=lambda kv: order.index(kv[0]))
    return ConfigDiff(live=tuple((cgroup_file(k), v) for k, v in live), restart=tuple(restart))


def _size(values: list[str]) -> float:
    return math.inf if not values or values[0] in ("-1", "max") else int(values[0])


def order_live_keys(keys: Iterable[str], current: Sequence[Item], desired: Sequence[Item]) -> list[str]:
    """The order to write live keys in: the CFS period before the quota, and memory before
    memory+swap when the limit shrinks but after it when it grows (the kernel keeps memsw >= limit)."""
    ordered = sorted(keys, key=lambda k: (_LIVE_ORDER.index(k) if k in _LIVE_ORDER else len(_LIVE_ORDER), k))
    limit, memsw = "lxc.cgroup.memory.limit_in_bytes", "lxc.cgroup.memory.memsw.limit_in_bytes"
    if limit in ordered and memsw in ordered:
        old, new = _by_key(current), _by_key(desired)
        if _size(new.get(limit, [])) > _size(old.get(limit, [])):
            i, j = ordered.index(limit), ordered.index(memsw)
            ordered[i], ordered[j] = ordered[j], ordered[i]
    return ordered
