"""Rendering a ContainerSpec into LXC config items, and the config file format, without touching LXC."""
from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kubelet.idmap import IdMap
from kubelet.lxcconfig import (
    COMMON_CONF,
    USERNS_CONF,
    ConfigDiff,
    command_of,
    diff_config,
    format_config,
    hwaddr_for,
    is_live_key,
    overlay_rootfs,
    parse_config,
    render_config,
    split_overlay_rootfs,
)
from schemas.container import ContainerSpec, Mount, Network

IDMAP = IdMap(host_uid_start=100000, host_gid_start=200000, count=65536)
ROOTFS = "overlay:/var/lib/dlxc/images/busybox:/var/lib/dlxc/lxc/web/delta0"
HWADDR = hwaddr_for("web")


def render(spec: ContainerSpec, **overrides: Any) -> list[tuple[str, str]]:
    kwargs: dict[str, Any] = {
        "name": "web",
        "rootfs": ROOTFS,
        "cgroup_version": 1,
        "default_bridge": "dlxcbr0",
        "ip": ipaddress.IPv4Interface("10.0.3.5/24"),
        "gateway": ipaddress.IPv4Address("10.0.3.1"),
        "idmap": IDMAP,
    }
    kwargs.update(overrides)
    return render_config(spec, **kwargs)


def test_full_render_of_a_typical_spec() -> None:
    spec = ContainerSpec.model_validate({
        "image": "busybox", "cpu": 0.5, "memory": "64Mi", "env": {"PORT": "8080", "MODE": "prod"},
        "mounts": ["/srv/data:/data", "/etc/ssl:/etc/ssl:ro"],
    })
    assert render(spec) == [
        ("lxc.include", COMMON_CONF),
        ("lxc.include", USERNS_CONF),
        ("lxc.idmap", "u 0 100000 65536"),
        ("lxc.idmap", "g 0 200000 65536"),
        ("lxc.rootfs.path", ROOTFS),
        ("lxc.uts.name", "web"),
        ("lxc.signal.halt", "SIGUSR1"),
        ("lxc.signal.reboot", "SIGTERM"),
        ("lxc.autodev", "1"),
        ("lxc.tty.max", "0"),
        ("lxc.net.0.type", "veth"),
        ("lxc.net.0.link", "dlxcbr0"),
        ("lxc.net.0.flags", "up"),
        ("lxc.net.0.name", "eth0"),
        ("lxc.net.0.hwaddr", HWADDR),
        ("lxc.net.0.ipv4.address", "10.0.3.5/24"),
        ("lxc.net.0.ipv4.gateway", "10.0.3.1"),
        ("lxc.environment", "PORT=8080"),
        ("lxc.environment", "MODE=prod"),
        ("lxc.cgroup.memory.limit_in_bytes", "67108864"),
        ("lxc.cgroup.memory.memsw.limit_in_bytes", "67108864"),
        ("lxc.cgroup.cpu.cfs_period_us", "100000"),
        ("lxc.cgroup.cpu.cfs_quota_us", "50000"),
        ("lxc.cgroup.pids.max", "2048"),
        ("lxc.hook.mount", ""),
        ("lxc.hook.post-stop", ""),
        ("lxc.mount.entry", "tmpfs dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0"),
        ("lxc.mount.entry", "/srv/data data none bind,create=dir 0 0"),
        ("lxc.mount.entry", "/etc/ssl etc/ssl none bind,create=dir,ro 0 0"),
    ]


FIELD_CASES = [
    pytest.param({"memory": "512Mi"}, {}, [("lxc.cgroup.memory.limit_in_bytes", "536870912")], [], id="memory-v1"),
    pytest.param({"memory": 512}, {}, [("lxc.cgroup.memory.limit_in_bytes", "536870912")], [], id="memory-bare-mib"),
    pytest.param({"memory": "1Gi"}, {"cgroup_version": 2}, [("lxc.cgroup2.memory.max", "1073741824")],
                 ["lxc.cgroup.memory.limit_in_bytes"], id="memory-v2"),
    pytest.param({"cpu": 0.5}, {}, [("lxc.cgroup.cpu.cfs_period_us", "100000"), ("lxc.cgroup.cpu.cfs_quota_us", "50000")],
                 [], id="cpu-fraction-v1"),
    pytest.param({"cpu": 2}, {}, [("lxc.cgroup.cpu.cfs_quota_us", "200000")], [], id="cpu-whole-without-cpuset-is-quota"),
    pytest.param({"cpu": 2}, {"cpuset": "0,3"}, [("lxc.cgroup.cpuset.cpus", "0,3")], ["lxc.cgroup.cpu.cfs_quota_us"],
                 id="cpu-whole-pinned-v1"),
    pytest.param({"cpu": 1}, {"cpuset": "1", "cgroup_version": 2}, [("lxc.cgroup2.cpuset.cpus", "1")],
                 ["lxc.cgroup2.cpu.max"], id="cpu-whole-pinned-v2"),
    pytest.param({"cpu": 1.5}, {"cpuset": "0-1"}, [("lxc.cgroup.cpu.cfs_quota_us", "150000")],
                 ["lxc.cgroup.cpuset.cpus"], id="cpu-fraction-ignores-cpuset"),
    pytest.param({"memory": "1Gi"}, {"cgroup_version": 2}, [("lxc.cgroup2.memory.swap.max", "0")], [], id="no-swap-v2"),
    pytest.param({"cpu": 0.001}, {}, [("lxc.cgroup.cpu.cfs_quota_us", "1000")], [], id="cpu-tiny-clamped-to-1ms"),
    pytest.param({"cpu": 1.5}, {"cgroup_version": 2}, [("lxc.cgroup2.cpu.max", "150000 100000")],
                 ["lxc.cgroup.cpu.cfs_quota_us"], id="cpu-v2"),
    pytest.param({}, {}, [("lxc.cgroup.pids.max", "2048")],
                 ["lxc.cgroup.memory.limit_in_bytes", "lxc.cgroup.cpu.cfs_quota_us"], id="no-limits-only-pids"),
    pytest.param({}, {"cgroup_version": 2}, [("lxc.cgroup2.pids.max", "2048")], ["lxc.cgroup.pids.max"], id="pids-v2"),
    pytest.param({"env": ["A=1", "B=x=y"]}, {}, [("lxc.environment", "A=1"), ("lxc.environment", "B=x=y")], [],
                 id="env-list-form"),
    pytest.param({"env": {"EMPTY": ""}}, {}, [("lxc.environment", "EMPTY=")], [], id="env-empty-value"),
    pytest.param({"mounts": [{"hostPath": "/srv/ro", "path": "/mnt/x/", "readOnly": True}]}, {},
                 [("lxc.mount.entry", "/srv/ro mnt/x none bind,create=dir,ro 0 0")], [], id="mount-ro-relative-target"),
    pytest.param({"mounts": ["/srv/back\\slash:/data"]}, {},
                 [("lxc.mount.entry", "/srv/back\\134slash data none bind,create=dir 0 0")], [],
                 id="mount-backslash-escaped-for-getmntent"),
    pytest.param({"network": {"type": "none"}}, {}, [("lxc.net.0.type", "empty")],
                 ["lxc.net.0.link", "lxc.net.0.ipv4.address", "lxc.net.0.hwaddr"], id="network-none-is-empty"),
    pytest.param({"network": {"type": "bridge", "bridge": "br-apps"}}, {}, [("lxc.net.0.link", "br-apps")], [],
                 id="network-own-bridge"),
    pytest.param({"network": {"type": "bridge"}}, {}, [("lxc.net.0.link", "dlxcbr0")], [], id="network-default-bridge"),
    pytest.param({}, {"ip": None, "gateway": None}, [("lxc.net.0.type", "veth")],
                 ["lxc.net.0.ipv4.address", "lxc.net.0.ipv4.gateway"], id="no-static-ip"),
    pytest.param({}, {"gateway": None}, [("lxc.net.0.ipv4.address", "10.0.3.5/24")], ["lxc.net.0.ipv4.gateway"],
                 id="ip-without-gateway"),
    pytest.param({"hostname": "db-1"}, {}, [("lxc.uts.name", "db-1")], [], id="hostname"),
    pytest.param({"privileged": True}, {"idmap": None}, [("lxc.include", COMMON_CONF)], ["lxc.idmap"], id="privileged"),
    pytest.param({}, {"rootfs": "/var/lib/dlxc/plain"}, [("lxc.rootfs.path", "/var/lib/dlxc/plain")], [],
                 id="plain-dir-rootfs"),
    pytest.param({}, {"rootfs": "dir:/var/lib/lxc/web/rootfs"}, [("lxc.rootfs.path", "dir:/var/lib/lxc/web/rootfs")], [],
                 id="lxc-create-dir-rootfs"),
]


@pytest.mark.parametrize(("spec_fields", "overrides", "present", "absent"), FIELD_CASES)
def test_each_field_is_rendered(
    spec_fields: dict[str, Any], overrides: dict[str, Any], present: list[tuple[str, str]], absent: list[str]
) -> None:
    items = render(ContainerSpec(image="busybox", **spec_fields), **overrides)
    for item in present:
        assert item in items
    keys = {key for key, _ in items}
    for key in absent:
        assert key not in keys


def test_privileged_has_no_userns_include() -> None:
    items = render(ContainerSpec(image="busybox", privileged=True), idmap=IDMAP)
    assert ("lxc.include", USERNS_CONF) not in items
    assert not [k for k, _ in items if k == "lxc.idmap"]


def test_unprivileged_without_idmap_is_refused() -> None:
    with pytest.raises(ValueError, match="id map"):
        render(ContainerSpec(image="busybox"), idmap=None)


def _raw(**fields: Any) -> ContainerSpec:
    # model_construct skips validation: the renderer must hold the line by itself.
    base: dict[str, Any] = {"image": "busybox", "cpu": None, "memory": None, "privileged": False, "hostname": None,
                            "env": {}, "mounts": [], "network": None}
    base.update(fields)
    return ContainerSpec.model_construct(**base)


def _mount(host: str, path: str) -> Mount:
    return Mount.model_construct(host_path=host, path=path, read_only=False)


HOSTILE_CASES = [
    pytest.param(_raw(env={"A": "x\nlxc.cgroup.devices.allow = a"}), {}, id="env-value-newline"),
    pytest.param(_raw(env={"A": "x\rlxc.x = y"}), {}, id="env-value-cr"),
    pytest.param(_raw(env={"A": "x\0y"}), {}, id="env-value-nul"),
    pytest.param(_raw(env={"A": "x\x1b[2J"}), {}, id="env-value-escape"),
    pytest.param(_raw(env={"A": "x\u2028y"}), {}, id="env-value-line-separator"),
    pytest.param(_raw(env={"A": "x\x85y"}), {}, id="env-value-nel"),
    pytest.param(_raw(env={"A": "x\ty"}), {}, id="env-value-tab"),
    pytest.param(_raw(env={"A\nlxc.x": "1"}), {}, id="env-key-newline"),
    pytest.param(_raw(env={"A=B": "1"}), {}, id="env-key-equals"),
    pytest.param(_raw(env={"1A": "1"}), {}, id="env-key-digit-first"),
    pytest.param(_raw(hostname="web\nlxc.x"), {}, id="hostname-newline"),
    pytest.param(_raw(hostname="Web_1"), {}, id="hostname-not-dns"),
    pytest.param(_raw(memory="64Mi\n"), {}, id="memory-newline"),
    pytest.param(_raw(cpu=float("nan")), {}, id="cpu-nan"),
    pytest.param(_raw(cpu=float("inf")), {}, id="cpu-inf"),
    pytest.param(_raw(cpu=-1.0), {}, id="cpu-negative"),
    pytest.param(_raw(mounts=[_mount("/srv\n", "/data")]), {}, id="mount-host-newline"),
    pytest.param(_raw(mounts=[_mount("/srv", "/da ta")]), {}, id="mount-path-space"),
    pytest.param(_raw(mounts=[_mount("srv", "/data")]), {}, id="mount-host-relative"),
    pytest.param(_raw(mounts=[_mount("/srv", "/../etc")]), {}, id="mount-path-dotdot"),
    pytest.param(_raw(mounts=[_mount("/srv", "/")]), {}, id="mount-over-root"),
    pytest.param(_raw(network=Network.model_construct(type="bridge", bridge="br0\nlxc.x")), {}, id="bridge-newline"),
    pytest.param(_raw(network=Network.model_construct(type="bridge", bridge="a" * 16)), {}, id="bridge-too-long"),
    pytest.param(_raw(), {"default_bridge": "br 0"}, id="default-bridge-space"),
    pytest.param(_raw(), {"name": "web\n"}, id="name-newline"),
    pytest.param(_raw(), {"name": "../web"}, id="name-path"),
    pytest.param(_raw(), {"rootfs": "/var/lib/x\nlxc.x = y"}, id="rootfs-newline"),
    pytest.param(_raw(), {"rootfs": "relative/dir"}, id="rootfs-relative"),
    pytest.param(_raw(), {"rootfs": "overlay:/a,upperdir=/b:/c/d/delta0"}, id="rootfs-comma-option-injection"),
    pytest.param(_raw(), {"rootfs": "overlay:/a:/b:/c/d/delta0"}, id="rootfs-extra-layer"),
    pytest.param(_raw(), {"cgroup_version": 3}, id="cgroup-version"),
    pytest.param(_raw(), {"ip": "10.0.0.1/24"}, id="ip-not-an-interface"),
]


@pytest.mark.parametrize(("spec", "overrides"), HOSTILE_CASES)
def test_hostile_values_raise(spec: ContainerSpec, overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        render(spec, **overrides)


ROUND_TRIP_VALUES = [
    pytest.param("plain", id="plain"),
    pytest.param("", id="empty"),
    pytest.param("  padded  ", id="blanks-kept"),
    pytest.param('"quoted"', id="double-quotes-kept"),
    pytest.param("'single'", id="single-quotes-kept"),
    pytest.param('"', id="lone-quote"),
    pytest.param("a = b # not a comment", id="equals-and-hash"),
    pytest.param("K=\"v\" ", id="quote-then-blank"),
    pytest.param("ünïcødé ✓", id="unicode"),
]


@pytest.mark.parametrize("value", ROUND_TRIP_VALUES)
def test_format_then_parse_round_trips(value: str) -> None:
    items = [("lxc.environment", value), ("lxc.uts.name", "web")]
    assert parse_config(format_config(items)) == items


PARSE_CASES = [
    pytest.param("lxc.uts.name = web\n", [("lxc.uts.name", "web")], id="simple"),
    pytest.param("  lxc.uts.name=web  \n", [("lxc.uts.name", "web")], id="blanks-around"),
    pytest.param("# lxc.uts.name = web\n\n   \n", [], id="comments-and-blank-lines"),
    pytest.param("something.else = 1\nlxc.a = 1", [("lxc.a", "1")], id="martian-lines-ignored-like-liblxc"),
    pytest.param('lxc.a = "x"\nlxc.b = \'y\'\nlxc.c = "z\'', [("lxc.a", "x"), ("lxc.b", "y"), ("lxc.c", "\"z'")],
                 id="one-matching-quote-pair-stripped"),
    pytest.param("lxc.a = x\u2028y\n", [("lxc.a", "x\u2028y")], id="only-newline-splits-lines"),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_parse_config(text: str, expected: list[tuple[str, str]]) -> None:
    assert parse_config(text) == expected


@pytest.mark.parametrize(("key", "value"), [
    pytest.param("lxc.environment", "A=1\nlxc.x = y", id="newline-value"),
    pytest.param("lxc.environment", "A=1\r", id="cr-value"),
    pytest.param("lxc.x\n", "1", id="newline-key"),
    pytest.param("not.lxc", "1", id="foreign-key"),
    pytest.param("lxc.a = b", "1", id="key-with-equals"),
])
def test_format_config_refuses_unsafe_items(key: str, value: str) -> None:
    with pytest.raises(ValueError):
        format_config([(key, value)])


def test_hwaddr_is_stable_unicast_and_local() -> None:
    mac = hwaddr_for("web")
    assert mac == hwaddr_for("web") != hwaddr_for("web2")
    first = int(mac.split(":")[0], 16)
    assert first & 0x01 == 0 and first & 0x02 == 2
    assert len(mac.split(":")) == 6


@pytest.mark.parametrize(("lower", "upper"), [
    pytest.param("/img/busybox", "/lxc/web/delta0", id="ok"),
])
def test_overlay_rootfs_round_trip(lower: str, upper: str) -> None:
    assert split_overlay_rootfs(overlay_rootfs(lower, upper)) == (lower, upper)
    assert split_overlay_rootfs("/plain/dir") is None


DIFF_CASES = [
    pytest.param({}, {}, ConfigDiff(), id="identical"),
    pytest.param({}, {"memory": "128Mi"}, ConfigDiff(live=(("memory.limit_in_bytes", "134217728"),
                                                           ("memory.memsw.limit_in_bytes", "134217728"))),
                 id="memory-live-limit-first-from-unlimited"),
    pytest.param({"memory": "64Mi"}, {"memory": "128Mi"}, ConfigDiff(live=(("memory.memsw.limit_in_bytes", "134217728"),
                                                                           ("memory.limit_in_bytes", "134217728"))),
                 id="memory-grows-memsw-first"),
    pytest.param({"memory": "128Mi"}, {"memory": "64Mi"}, ConfigDiff(live=(("memory.limit_in_bytes", "67108864"),
                                                                           ("memory.memsw.limit_in_bytes", "67108864"))),
                 id="memory-shrinks-limit-first"),
    pytest.param({"memory": "128Mi"}, {}, ConfigDiff(live=(("memory.memsw.limit_in_bytes", "-1"),
                                                           ("memory.limit_in_bytes", "-1"))), id="memory-dropped"),
    pytest.param({}, {"cpu": 1.5}, ConfigDiff(live=(("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "150000"))),
                 id="cpu-live-period-first"),
    pytest.param({}, {"env": {"A": "2"}}, ConfigDiff(restart=("lxc.environment",)), id="env-restart"),
    pytest.param({}, {"mounts": ["/a:/b"]}, ConfigDiff(restart=("lxc.mount.entry",)), id="mount-restart"),
    pytest.param({}, {"memory": "1Gi", "hostname": "other"},
                 ConfigDiff(live=(("memory.limit_in_bytes", "1073741824"), ("memory.memsw.limit_in_bytes", "1073741824")),
                            restart=("lxc.uts.name",)),
                 id="mixed"),
]


@pytest.mark.parametrize(("before", "after", "expected"), DIFF_CASES)
def test_diff_config(before: dict[str, Any], after: dict[str, Any], expected: ConfigDiff) -> None:
    old = render(ContainerSpec(image="busybox", env={"A": "1"}, **before))
    new = render(ContainerSpec(image="busybox", env=after.pop("env", {"A": "1"}), **after))
    diff = diff_config(old, new)
    assert diff == expected
    assert diff.needs_restart == bool(expected.restart)


@pytest.mark.parametrize(("key", "live"), [
    pytest.param("lxc.cgroup.memory.limit_in_bytes", True, id="memory-v1"),
    pytest.param("lxc.cgroup2.cpu.max", True, id="cpu-v2"),
    pytest.param("lxc.cgroup.pids.max", True, id="pids"),
    pytest.param("lxc.environment", False, id="env"),
    pytest.param("lxc.mount.entry", False, id="mount"),
    pytest.param("lxc.net.0.ipv4.address", False, id="ip"),
])
def test_is_live_key(key: str, live: bool) -> None:
    assert is_live_key(key) is live


def test_diff_config_v2_resets_to_max() -> None:
    old = render(ContainerSpec(image="busybox", memory="1Gi", cpu=1), cgroup_version=2)
    new = render(ContainerSpec(image="busybox"), cgroup_version=2)
    assert diff_config(old, new) == ConfigDiff(live=(("memory.max", "max"), ("memory.swap.max", "max"), ("cpu.max", "max 100000")))


# Characters that have meant trouble for line-based config files, mixed with arbitrary Unicode.
_TRICKY = st.sampled_from(list(" \t\n\r\0\x0b\x0c\x1b\x7f\x85\u2028\u2029\"'#=\\:,;$`/.-_aZ9é中😀"))
# What the schema lets through: no control characters, but every other character that could confuse a parser.
_PRINTABLE_TRICKY = st.sampled_from(list(" \"'#=\\:,;$`/.-_aZ9é中😀")) | st.characters(
    blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029")


def _spec_fields(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    text = st.text(alphabet=alphabet, max_size=24)
    env_key = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True) | text
    path = st.builds(lambda s: "/" + s, text)
    return st.fixed_dictionaries({
        "image": st.just("busybox") | text,
        "env": st.dictionaries(env_key, text, max_size=4),
        "mounts": st.lists(st.fixed_dictionaries({"hostPath": path, "path": path, "readOnly": st.booleans()}),
                           max_size=3),
        "network": st.none() | st.just({"type": "none"}) | st.fixed_dictionaries(
            {"type": st.just("bridge"), "bridge": st.none() | text}),
        "hostname": st.none() | st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True) | text,
        "memory": st.none() | st.sampled_from(["64Mi", "1Gi", "512"]) | text,
        "cpu": st.none() | st.floats(min_value=0.001, max_value=64),
        "privileged": st.booleans(),
        "command": st.none() | st.lists(path | text, max_size=3),
        "args": st.none() | st.lists(text, max_size=3),
    })


def _expected_keys(spec: ContainerSpec) -> Counter[str]:
    # Worked out from the spec alone, not from the renderer: anything else in the output was injected.
    keys: Counter[str] = Counter({
        "lxc.include": 1 if spec.privileged else 2,
        "lxc.rootfs.path": 1, "lxc.uts.name": 1, "lxc.signal.halt": 1, "lxc.signal.reboot": 1,
        "lxc.autodev": 1, "lxc.tty.max": 1, "lxc.cgroup.pids.max": 1,
        "lxc.mount.entry": 1 + len(spec.mounts),
        "lxc.hook.mount": 1, "lxc.hook.post-stop": 1,
    })
    if not spec.privileged:
        keys["lxc.idmap"] = 2
    if spec.network is not None and spec.network.type == "none":
        keys["lxc.net.0.type"] = 1
    else:
        for key in ("type", "link", "flags", "name", "hwaddr", "ipv4.address", "ipv4.gateway"):
            keys[f"lxc.net.0.{key}"] = 1
    if spec.env or spec.command is not None or spec.args is not None:
        keys["lxc.environment"] = len(spec.env) + (spec.command is not None or spec.args is not None)
    if spec.memory is not None:
        keys["lxc.cgroup.memory.limit_in_bytes"] = 1
        keys["lxc.cgroup.memory.memsw.limit_in_bytes"] = 1
    if spec.cpu is not None:
        keys["lxc.cgroup.cpu.cfs_period_us"] = 1
        keys["lxc.cgroup.cpu.cfs_quota_us"] = 1
    return keys


def _check_no_injection(spec: ContainerSpec, items: list[tuple[str, str]]) -> None:
    parsed = parse_config(format_config(items))
    assert parsed == items
    assert Counter(key for key, _ in parsed) == _expected_keys(spec)
    env = [v for k, v in parsed if k == "lxc.environment"]
    if spec.command is not None or spec.args is not None:
        assert command_of(parsed) == [*(spec.command or ["/sbin/init"]), *(spec.args or [])]
        env = env[:-1]
    assert env == [f"{k}={v}" for k, v in spec.env.items()]
    assert dict(parsed)["lxc.uts.name"] == (spec.hostname or "web")


def _schema_accepted(fields: dict[str, Any]) -> ContainerSpec:
    # Keep every field, env entry and mount the schema accepts on its own and drop the rest, so
    # each example reaches the renderer with as much hostile text as validation lets through.
    def accepts(candidate: dict[str, Any]) -> bool:
        try:
            ContainerSpec.model_validate(candidate)
        except ValidationError:
            return False
        return True

    kept: dict[str, Any] = {"image": "busybox"}
    for key, value in fields.items():
        if key == "env":
            value = {k: v for k, v in value.items() if accepts({**kept, "env": {k: v}})}
        elif key == "mounts":
            # A bind mount over "/" is valid to the schema (it should not be) and refused on purpose
            # by the renderer, so it is left out here.
            value = [m for m in value if accepts({**kept, "mounts": [m]}) and m["path"].strip("/")]
        if accepts({**kept, key: value}):
            kept[key] = value
        else:
            event(f"schema refused {key}")
    return ContainerSpec.model_validate(kept)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=_spec_fields(_PRINTABLE_TRICKY | _TRICKY))
def test_no_key_can_be_injected_through_a_valid_spec(fields: dict[str, Any]) -> None:
    spec = _schema_accepted(fields)
    items = render(spec, idmap=None if spec.privileged else IDMAP)
    _check_no_injection(spec, items)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=_spec_fields(_TRICKY | st.characters()))
def test_unvalidated_specs_render_safely_or_raise(fields: dict[str, Any]) -> None:
    # The same hostile input, with the schema bypassed: the renderer alone must refuse or stay exact.
    network = fields["network"]
    spec = ContainerSpec.model_construct(
        **{**fields,
           "mounts": [Mount.model_construct(host_path=m["hostPath"], path=m["path"], read_only=m["readOnly"])
                      for m in fields["mounts"]],
           "network": None if network is None else Network.model_construct(**network)},
    )
    try:
        items = render(spec, idmap=None if spec.privileged else IDMAP)
    except ValueError:
        event("refused by the renderer")
        return
    event("rendered")
    _check_no_injection(spec, items)


# ---- spec.command / spec.args, idmapped host mounts, LXCFS (issue 18, items 16, 4, 13) ----

COMMAND_CASES = [
    pytest.param({"command": ["/bin/sh", "-c", "echo hi; exit 3"]}, ["/bin/sh", "-c", "echo hi; exit 3"], id="command"),
    pytest.param({"command": ["/bin/sleep"], "args": ["30"]}, ["/bin/sleep", "30"], id="command-and-args"),
    pytest.param({"args": ["--debug"]}, ["/sbin/init", "--debug"], id="args-to-the-image-init"),
    pytest.param({"command": ["/bin/echo", 'quote " and \\ and é']}, ["/bin/echo", 'quote " and \\ and é'],
                 id="quotes-and-unicode-kept-exactly"),
]


@pytest.mark.parametrize(("fields", "argv"), COMMAND_CASES)
def test_command_is_kept_as_separate_arguments(fields: dict[str, Any], argv: list[str]) -> None:
    items = render(ContainerSpec(image="busybox", **fields))
    parsed = parse_config(format_config(items))
    assert command_of(parsed) == argv
    assert "lxc.init.cmd" not in dict(parsed)
    # A command is asked to stop with SIGTERM, as any app, not with busybox init's SIGUSR1.
    if "command" in fields:
        assert (dict(parsed)["lxc.signal.halt"], dict(parsed)["lxc.signal.reboot"]) == ("SIGTERM", "SIGTERM")


def test_no_command_keeps_the_image_init() -> None:
    items = render(ContainerSpec(image="busybox"))
    assert command_of(items) is None
    assert dict(items)["lxc.signal.halt"] == "SIGUSR1"


def test_command_env_name_is_reserved() -> None:
    spec = ContainerSpec(image="busybox", env={"DLXC_COMMAND": "x"})
    with pytest.raises(ValueError, match="env: DLXC_COMMAND is reserved for spec.command"):
        render(spec)


@pytest.mark.parametrize("command", [
    pytest.param(["sh", "-c", "exit 3"], id="relative-program"),
    pytest.param(["/bin/sh", "a\nlxc.init.uid = 0"], id="newline"),
    pytest.param(["/bin/sh", ""], id="empty-item"),
])
def test_unvalidated_command_is_refused_by_the_renderer(command: list[str]) -> None:
    spec = ContainerSpec.model_construct(**{**ContainerSpec(image="busybox").__dict__, "command": command})
    with pytest.raises(ValueError, match="command"):
        render(spec)


def test_mounts_are_idmapped_for_unprivileged_containers_when_the_kernel_can() -> None:
    spec = ContainerSpec(image="busybox", mounts=["/srv/data:/data", "/etc/ssl:/etc/ssl:ro"])
    mounts = [v for k, v in render(spec, idmapped_mounts=True) if k == "lxc.mount.entry"][1:]
    assert mounts == [
        "/srv/data data none bind,create=dir,idmap=container 0 0",
        "/etc/ssl etc/ssl none bind,create=dir,ro,idmap=container 0 0",
    ]
    # Privileged containers have no user namespace to map through.
    privileged = ContainerSpec(image="busybox", privileged=True, mounts=["/srv/data:/data"])
    assert [v for k, v in render(privileged, idmap=None, idmapped_mounts=True) if k == "lxc.mount.entry"][1:] == [
        "/srv/data data none bind,create=dir 0 0"]


def test_lxcfs_hooks_replace_the_package_drop_in() -> None:
    items = render(ContainerSpec(image="busybox"), lxcfs=True)
    hooks = [(k, v) for k, v in items if k.startswith("lxc.hook.") or k == "lxc.mount.auto"]
    assert hooks == [
        ("lxc.hook.mount", ""),
        ("lxc.hook.post-stop", ""),
        ("lxc.mount.auto", "cgroup:mixed proc:mixed sys:mixed"),
        ("lxc.hook.mount", "/usr/share/lxcfs/lxc.mount.hook"),
        ("lxc.hook.post-stop", "/usr/share/lxcfs/lxc.reboot.hook"),
    ]
    # The empty values survive the file as "" (liblxc's way to clear a hook list).
    assert 'lxc.hook.mount = ""' in format_config(items).splitlines()
    assert parse_config(format_config(items)) == items
