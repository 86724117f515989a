from __future__ import annotations

from dlxc.cli.top import container_usage_rows, node_usage, node_usage_rows


def test_container_rows_join_served_usage_sum_devices_and_skip_containers_without_usage() -> None:
    items = [
        {"metadata": {"name": "web"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}},
        {"metadata": {"name": "idle"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Stopped"}},
    ]
    usage = {"web": {"name": "web", "node": "n1", "time": "2026-01-01T00:00:00Z", "usage": {
        "cpu.cores": 0.25, "memory.bytes": 3 * 2**20, "memory.swap_bytes": 0, "processes": 4,
        "net.eth0.rx_bytes": 2048, "net.eth1.rx_bytes": 2048, "net.eth0.tx_bytes": 512,
        "blkio.sda.read_bytes": 2**30, "blkio.sdb.write_bytes": 1536, "rootfs.bytes": 20480}}}
    headers, rows = container_usage_rows(items, usage)
    assert headers == ["NAME", "NODE", "CPU(cores)", "MEMORY", "SWAP", "PROCS", "NET-RX", "NET-TX", "BLK-READ", "BLK-WRITE", "ROOTFS"]
    assert rows == [["web", "n1", "0.250", "3.0Mi", "0B", "4", "4.0Ki", "512B", "1.0Gi", "1.5Ki", "20.0Ki"]]


def test_node_rows_prefer_the_kubelets_usage_over_the_coarse_summary() -> None:
    items = [{"metadata": {"name": "n1"}, "status": {"usage": {"cpu": 0.5, "memory": 2**30, "disk": 2**31},
                                                     "capacity": {"cpu": 2, "memory": 4 * 2**30}, "containerCount": 3}},
             {"metadata": {"name": "n2"}, "status": {"usage": {"cpu": 1.0, "memory": 2**30, "disk": 2**31},
                                                     "capacity": {"cpu": 2, "memory": 4 * 2**30}, "containerCount": 0}}]
    served = {"n1": {"name": "n1", "usage": {"cpu.cores": 1.5, "memory.bytes": 2 * 2**30, "disk.bytes": 2**30}}}
    assert node_usage_rows(items, served) == (
        ["NAME", "CPU(cores)", "CPU%", "MEMORY", "MEMORY%", "DISK", "CONTAINERS"],
        [["n1", "1.50", "75%", "2.0Gi", "50%", "1.0Gi", "3"], ["n2", "1.00", "50%", "1.0Gi", "25%", "2.0Gi", "0"]],
    )
    assert node_usage(items[1], None) == {"cpu": 1.0, "memory": 2**30, "disk": 2**31}


def test_a_node_whose_kubelet_was_asked_and_did_not_answer_is_unknown_not_its_old_summary() -> None:
    """Its summary on the Node was written before it went silent: shown as now, a dead node looked busy."""
    items = [{"metadata": {"name": "n1"}, "status": {"usage": {"cpu": 3.5, "memory": 7 * 2**30},
                                                     "capacity": {"cpu": 4, "memory": 8 * 2**30}, "containerCount": 5}}]
    assert node_usage_rows(items, {}, unreachable={"n1"})[1] == [["n1", *["<unknown>"] * 5, "5"]]
    assert node_usage(items[0], None, unreachable=True) is None
    # Never asked (a hollow node serves none): its summary is what there is.
    assert node_usage_rows(items, {})[1] == [["n1", "3.50", "88%", "7.0Gi", "88%", "-", "5"]]


def test_a_figure_not_measured_yet_is_a_dash_not_zero() -> None:
    """A kubelet's first sample has no CPU rate yet, and before its first sample it has nothing."""
    items = [{"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": 4, "memory": 8 * 2**30}, "containerCount": 0}}]
    first = {"n1": {"name": "n1", "usage": {"memory.bytes": 2**30}}}
    assert node_usage_rows(items, first)[1] == [["n1", "-", "-", "1.0Gi", "12%", "-", "0"]]
    assert node_usage_rows(items, {"n1": {"name": "n1", "usage": {}}})[1] == [["n1", "-", "-", "-", "-", "-", "0"]]
