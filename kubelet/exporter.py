"""The kubelet's Prometheus /metrics: the latest per-container sample, as labelled metric families."""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ContainerCollector", "families", "serve"]

# flat key -> (metric name, help, kind, label for the middle part of a three-part key)
_SIMPLE = {
    "cpu.seconds": ("dlxc_container_cpu_seconds_total", "CPU time used by the container", "counter"),
    "cpu.cores": ("dlxc_container_cpu_cores", "Cores busy on average over the last interval", "gauge"),
    "memory.bytes": ("dlxc_container_memory_bytes", "Memory in use: the working set (cgroup usage less inactive file cache)", "gauge"),
    "memory.rss_bytes": ("dlxc_container_memory_rss_bytes", "Anonymous memory", "gauge"),
    "memory.cache_bytes": ("dlxc_container_memory_cache_bytes", "Page cache", "gauge"),
    "memory.swap_bytes": ("dlxc_container_memory_swap_bytes", "Swap in use", "gauge"),
    "memory.limit_bytes": ("dlxc_container_memory_limit_bytes", "Memory limit", "gauge"),
    "processes": ("dlxc_container_processes", "Processes in the container", "gauge"),
    "rootfs.bytes": ("dlxc_container_rootfs_bytes", "Bytes written to the container's own rootfs layer", "gauge"),
}
_PER = {
    ("blkio", "read_bytes"): ("dlxc_container_blkio_read_bytes_total", "Bytes read from a block device", "device"),
    ("blkio", "write_bytes"): ("dlxc_container_blkio_write_bytes_total", "Bytes written to a block device", "device"),
    ("net", "rx_bytes"): ("dlxc_container_network_receive_bytes_total", "Bytes received", "interface"),
    ("net", "tx_bytes"): ("dlxc_container_network_transmit_bytes_total", "Bytes sent", "interface"),
    ("net", "rx_packets"): ("dlxc_container_network_receive_packets_total", "Packets received", "interface"),
    ("net", "tx_packets"): ("dlxc_container_network_transmit_packets_total", "Packets sent", "interface"),
}
_PER_KEY = re.compile(r"^(blkio|net)\.(.+)\.([a-z_]+)$")


def families(node: str, samples: Mapping[str, Mapping[str, float]]) -> list[Metric]:
    """Metric families for every container's sample; unknown keys are skipped."""
    built: dict[str, Metric] = {}

    def family(name: str, doc: str, kind: str, labels: list[str]) -> Metric:
        if name not in built:
            cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            # CounterMetricFamily wants the name without _total; it adds the suffix itself.
            built[name] = cls(name.removesuffix("_total") if kind == "counter" else name, doc, labels=labels)
        return built[name]

    for container in sorted(samples):
        for key, value in sorted(samples[container].items()):
            if key in _SIMPLE:
                name, doc, kind = _SIMPLE[key]
                family(name, doc, kind, ["node", "container"]).add_metric([node, container], value)
            elif m := _PER_KEY.match(key):
                known = _PER.get((m.group(1), m.group(3)))
                if known is not None:
                    name, doc, label = known
                    family(name, doc, "counter", ["node", "container", label]).add_metric([node, container, m.group(2)], value)
    return list(built.values())


class ContainerCollector(Collector):
    """Serves whatever sample the kubelet stored last; collection itself happens in the kubelet's loop."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.samples: dict[str, dict[str, float]] = {}

    def collect(self) -> Iterator[Metric]:
        yield from families(self.node, dict(self.samples))


def serve(collector: ContainerCollector, *, host: str, port: int) -> CollectorRegistry:
    """Start the /metrics HTTP server in a daemon thread; returns its registry."""
    registry = CollectorRegistry()
    registry.register(collector)
    ProcessCollector(registry=registry)  # the kubelet's own RSS and CPU
    start_http_server(port, addr=host, registry=registry)
    return registry
