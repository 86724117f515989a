from __future__ import annotations

from dlxc.cli.top import container_usage_rows, node_usage_rows


def test_container_rows_sum_devices_and_skip_containers_without_metrics() -> None:
    items = [
        {"metadata": {"name": "web"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running", "metrics": {
            "cpu.cores": 0.25, "memory.bytes": 3 * 2**20, "memory.swap_bytes": 0, "processes": 4,
            "net.eth0.rx_bytes": 2048, "net.eth1.rx_bytes": 2048, "net.eth0.tx_bytes": 512,
            "blkio.sda.read_bytes": 2**30, "blkio.sdb.write_bytes": 1536, "rootfs.bytes": 20480}}},
        {"metadata": {"name": "idle"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Stopped"}},
    ]
    headers, rows = container_usage_rows(items)
    assert headers == ["NAME", "NODE", "CPU(cores)", "MEMORY", "SWAP", "PROCS", "NET-RX", "NET-TX", "BLK-READ", "BLK-WRITE", "ROOTFS"]
    assert rows == [["web", "n1", "0.250", "3.0Mi", "0B", "4", "4.0Ki", "512B", "1.0Gi", "1.5Ki", "20.0Ki"]]


def test_node_rows() -> None:
    items = [{"metadata": {"name": "n1"}, "status": {"usage": {"cpu": 0.5, "memory": 2**30, "disk": 2**31},
                                                     "capacity": {"cpu": 2, "memory": 4 * 2**30}, "containerCount": 3}}]
    assert node_usage_rows(items) == (
        ["NAME", "CPU(cores)", "CPU%", "MEMORY", "MEMORY%", "DISK", "CONTAINERS"],
        [["n1", "0.50", "25%", "1.0Gi", "25%", "2.0Gi", "3"]],
    )
