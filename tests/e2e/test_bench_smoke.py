"""Every benchmark runs, small, and prints the figures its README row quotes: a bench that no longer
starts (as startup and density once did when TLS became the default) fails here, not in a release."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def run_bench(script: str, *args: str, timeout: float = 240) -> dict:
    done = subprocess.run([sys.executable, str(REPO / "bench" / script), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_scheduler_bench_binds_every_container_without_overcommit() -> None:
    figures = run_bench("scheduler.py", "--nodes", "40", "--containers", "60", "--idle-window", "0.5", "--timeout", "60")
    assert figures["bound"] == 60
    assert figures["overcommitted_nodes"] == 0
    assert figures["binds_per_second"] > 0 and figures["bind_p99_ms"] >= figures["bind_p50_ms"] > 0
    assert figures["cpu_seconds_per_bind"] > 0 and figures["decisions_per_second_in_process"] > 0
    # The whole and the part above what the same processes spend idle over as long; the etcd writes
    # include at least the create, the bind and the Running report of each container.
    assert figures["control_plane_cpu_ms_per_container"] >= figures["control_plane_cpu_ms_per_container_above_idle"] > 0
    assert set(figures["above_idle_ms_per_container"]) == {"apiserver", "hollow", "scheduler"}
    assert figures["idle_cpu_seconds"] >= 0 and figures["measured_seconds"] > 0
    assert figures["etcd_writes_per_container"] >= 3 and figures["watch_events_per_container"] >= 3


def test_scheduler_bench_with_containers_created_first() -> None:
    figures = run_bench("scheduler.py", "--nodes", "20", "--containers", "30", "--idle-window", "0.5", "--timeout", "60",
                        "--precreate")
    assert figures["mode"] == "precreate"
    assert figures["bound"] == 30 and figures["overcommitted_nodes"] == 0


def test_api_bench_reports_latencies_and_the_etcd_baseline() -> None:
    figures = run_bench("api.py", "--containers", "200", "--watchers", "20", "--mutations", "60", "--rate", "60",
                        "--watch-events", "3")
    for key in ("mutating_p50_ms", "mutating_p99_ms", "etcd_put_p50_ms", "ratio_p50", "list_10k_ms", "watch_1000_p99_ms"):
        assert figures[key] > 0, key
    assert figures["list_items"] == 200


def test_startup_bench_starts_real_containers_and_the_raw_baseline() -> None:
    figures = run_bench("startup.py", "--containers", "4", "--rate", "4", "--timeout", "90")
    assert figures["running"] == 4
    assert figures["running_p50_ms"] > 0 and figures["raw_lxc_p50_ms"] > 0 and figures["ratio_p50"] > 0


def test_density_bench_fills_a_node_and_measures_it_idle() -> None:
    figures = run_bench("density.py", "--goal", "6", "--batch", "3", "--idle-seconds", "2")
    assert (figures["containers"], figures["stopped_because"]) == (6, "goal reached"), figures
    assert figures["kubelet_rss_mib"] > 0


def test_ui_bench_times_the_containers_page_and_its_live_updates_in_the_browser() -> None:
    # Its chromium in a namespace of its own: the other test worker's links come and go (tests/e2e/browsers.py).
    figures = run_bench("ui.py", "--nodes", "4", "--containers", "40", "--loads", "2", "--updates", "5", "--gap", "0",
                        "--browser-netns")
    assert (figures["containers"], figures["nodes"], figures["updates"]) == (40, 4, 5)
    assert 0 < figures["first_render_ms"] <= figures["first_render_max_ms"]
    assert 0 < figures["live_update_p50_ms"] <= figures["live_update_p99_ms"]


def test_cli_bench_times_help_get_and_apply_next_to_the_python_floor() -> None:
    figures = run_bench("cli.py", "--containers", "10", "--runs", "2")
    assert figures["containers"] == 10 and figures["runs"] == 2
    for key in ("help_ms", "get_ms", "apply_ms", "python_floor_ms"):
        assert figures[key] > 0, key


def test_backup_bench_backs_up_restores_and_moves_next_to_tar_zstd() -> None:
    figures = run_bench("backup.py", "--size-mib", "24", "--timeout", "120")
    assert figures["size_mib"] == 24 and figures["archived_mib"] >= 24
    for key in ("backup_mib_per_s", "tar_zstd_backup_mib_per_s", "backup_ratio", "restore_mib_per_s",
                "tar_zstd_restore_mib_per_s", "restore_ratio", "move_downtime_s", "move_downtime_data_s"):
        assert figures[key] > 0, key


def test_exec_bench_compares_the_api_with_raw_lxc_attach() -> None:
    figures = run_bench("exec.py", "--count", "10")
    assert figures["count"] == 10
    assert figures["exec_p99_ms"] >= figures["exec_p50_ms"] > 0 and figures["raw_attach_p50_ms"] > 0
    assert figures["ratio_p50"] > 0
    assert figures["exec_cpu_ms"] >= 0 and figures["raw_attach_cpu_ms"] > 0 and figures["cpu_ratio"] is not None


def test_network_bench_compares_the_overlay_with_a_plain_bridge() -> None:
    figures = run_bench("network.py", "--pings", "20", "--megabytes", "10", "--repeats", "1")
    for pair in ("bridge", "overlay_same_host", "overlay_cross_host"):
        assert figures[f"{pair}_rtt_p50_ms"] > 0 and figures[f"{pair}_tput_mb_s"] > 0, pair
    assert figures["cross_host_rtt_ratio"] > 0 and figures["cross_host_tput_ratio"] > 0


def test_cluster_bench_builds_a_cluster_with_complete_hosts() -> None:
    figures = run_bench("cluster.py", "--nodes", "2", "--timeout", "120")
    assert figures["members"] == 3 and figures["cluster_ready_s"] > 0
    assert figures["lxd_peer_s"] is None or figures["ratio"] > 0


def test_heartbeat_bench_renews_from_memory_and_detects_a_silent_node() -> None:
    figures = run_bench("heartbeat.py", "--nodes", "200", "--window", "5", "--settle", "2")
    assert figures["nodes"] == figures["leases_present"] == 200
    assert figures["renew_age_max_s"] < 5  # every sampled Lease renewed within the expire-after
    assert figures["lease_writes_per_s"] < 20  # a renewal is not a write: 200 nodes renew 200 times a second
    assert figures["apiserver_cpu_pct"] > 0 and figures["etcd_writes_per_s"] >= figures["lease_writes_per_s"]
    assert figures["detect_s"] >= 4  # never before the expire-after (5 s) minus the last renewal's age
    assert figures["tls"] and figures["per_renewal_us"]["apiserver"] > 0  # served as a real cluster does
