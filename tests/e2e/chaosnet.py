"""A highly available cluster for chaos: 3 etcd members, 2 apiservers, 2 schedulers, 2 controllers
(every one its own process, so each can be killed, stopped or restarted) and network-namespace nodes
whose kubelets know both apiservers. Built on `netnodes.NetCluster` (namespaces, veths, kubelets);
`close()` removes everything, on failure too. Used by bench/chaos.py and tests/e2e/test_chaos.py.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from netnodes import NetCluster, NetNode, _free_port

__all__ = ["ChaosCluster", "Component"]


@dataclass
class Component:
    """One control-plane process: how to start it again after a kill."""

    name: str
    argv: list[str]
    env: dict[str, str] | None
    log: Path
    proc: subprocess.Popen | None = None
    stopped: bool = False  # SIGSTOPped

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def pause(self) -> None:
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGSTOP)
            self.stopped = True

    def resume(self) -> None:
        if self.stopped and self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGCONT)
        self.stopped = False


@dataclass
class ChaosCluster(NetCluster):
    etcd_members: int = 3
    apiservers: int = 2
    schedulers: int = 2
    controllers: int = 2
    components: dict[str, Component] = field(default_factory=dict)

    def _component(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Component:
        component = Component(name, argv, env, self.tmp / f"{name}.log")
        component.start()
        self.components[name] = component
        return component

    def start(self) -> None:
        etcd = shutil.which("etcd")
        if etcd is None:
            raise RuntimeError("etcd is not installed; `make deps` installs etcd-server")
        ports = [(_free_port(), _free_port()) for _ in range(self.etcd_members)]
        initial = ",".join(f"e{i}=http://127.0.0.1:{peer}" for i, (_, peer) in enumerate(ports))
        token = f"chaos-{uuid.uuid4().hex[:8]}"
        for i, (client, peer) in enumerate(ports):
            self._component(f"etcd-{i}", [
                etcd, "--name", f"e{i}", "--data-dir", str(self.tmp / f"etcd-{i}"),
                "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", initial, "--initial-cluster-token", token, "--initial-cluster-state", "new",
            ])
        self.etcd_endpoint = ",".join(f"http://127.0.0.1:{client}" for client, _ in ports)
        pki = self._lan_and_credentials()
        self.ports = [_free_port() for _ in range(self.apiservers)]
        self.port = self.ports[0]
        prefix = f"/chaos-{uuid.uuid4().hex[:8]}"
        for i, port in enumerate(self.ports):
            self._component(f"apiserver-{i}", [
                sys.executable, "-m", "dlxc", "apiserver", "--host", "0.0.0.0", "--port", str(port),
                "--etcd-endpoints", self.etcd_endpoint, "--etcd-prefix", prefix, "--token-file", str(self.token_file),
                "--tls-cert-file", str(pki.server_cert), "--tls-private-key-file", str(pki.server_key),
                "--cluster-cidr", self.cluster_cidr,
            ])
        self.url = ",".join(f"https://127.0.0.1:{port}" for port in self.ports)
        self._admin_config(timeout=60)
        for i in range(self.schedulers):
            self._component(f"scheduler-{i}", [sys.executable, "-m", "dlxc", "scheduler", "--identity", f"scheduler-{i}"], self.env)
        for i in range(self.controllers):
            self._component(f"controller-{i}", [sys.executable, "-m", "dlxc", "controller", "--identity", f"controller-{i}",
                                                *self.controller_args], self.env)

    def start_kubelet(self, node: NetNode, *, token: str | None = None) -> None:
        if token is not None:
            servers = ",".join(f"https://{node.host_ip}:{port}" for port in self.ports)
            self._node_env = getattr(self, "_node_env", {})
            self._node_env[node.name] = {**self.env, "DLXC_SERVER": servers, "DLXC_TOKEN": token}
        super().start_kubelet(node)

    def restart_kubelet(self, node: NetNode) -> None:
        assert node.proc is not None
        if node.proc.poll() is None:
            os.killpg(node.proc.pid, signal.SIGTERM)
            try:
                node.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait()
        self.start_kubelet(node)

    def close(self) -> None:
        for component in self.components.values():
            component.resume()
        try:
            super().close()
        finally:
            for component in reversed(list(self.components.values())):
                if component.alive():
                    assert component.proc is not None
                    try:
                        os.killpg(component.proc.pid, signal.SIGTERM)
                        component.proc.wait(10)
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        component.kill()
