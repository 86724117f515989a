from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from kubelet.exporter import ContainerCollector


def test_exposition_of_one_sample() -> None:
    collector = ContainerCollector("n1")
    collector.samples = {"web": {"cpu.seconds": 2.5, "memory.bytes": 1024.0, "net.eth0.rx_bytes": 10.0,
                                 "blkio.sda.write_bytes": 4096.0, "unknown.key": 1.0}}
    registry = CollectorRegistry()
    registry.register(collector)
    lines = [l for l in generate_latest(registry).decode().splitlines() if not l.startswith("#")]
    assert lines == [
        'dlxc_container_blkio_write_bytes_total{container="web",device="sda",node="n1"} 4096.0',
        'dlxc_container_cpu_seconds_total{container="web",node="n1"} 2.5',
        'dlxc_container_memory_bytes{container="web",node="n1"} 1024.0',
        'dlxc_container_network_receive_bytes_total{container="web",interface="eth0",node="n1"} 10.0',
    ]
