"""`dlxc exec` and `dlxc enter` into real LXC containers, through the apiserver and the kubelet's streams."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Cluster, dlxc
from kubelet_helpers import Api, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(300)]


def running(api: Api, name: str) -> bool:
    return api.phase(name) == "Running"


def inside_pids(node_lxc_path, name: str, comm: str) -> list[str]:
    """Processes in the container whose command is `comm` (as seen from inside)."""
    result = subprocess.run(
        ["lxc-attach", "-P", str(node_lxc_path), "-n", name, "--clear-env", "--", "/bin/sh", "-c",
         f'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = {comm} ] && echo ${{p#/proc/}}; done; true'],
        capture_output=True, text=True, timeout=30,
    )
    return [line for line in result.stdout.split() if line.isdigit()]


def on_pty(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """`dlxc ARGS` with a new terminal as stdin, stdout and stderr; the terminal's other side.
    (Not pty.fork: forking this process, which runs the apiserver's gRPC threads, is not safe.)"""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "dlxc", *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    return proc, master


def test_exec_streams_exit_codes_and_options(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    env = cluster.api.env()
    try:
        api.create("web", node, network={"type": "none"})
        wait_for(lambda: running(api, "web"), timeout=90, what="web Running")
        assert api.get(node.name, "nodes")["status"]["streamEndpoint"].startswith("127.0.0.1:")

        result = dlxc("exec", "web", "--", "echo", "hello", env=env)
        assert (result.returncode, result.stdout, result.stderr) == (0, "hello\n", "")
        import psutil

        assert node.proc is not None
        kubelet = psutil.Process(node.proc.pid)
        fds_before = kubelet.num_fds()

        # Exit codes: plain, and a signal death as a shell reports it (128+9).
        assert dlxc("exec", "web", "--", "/bin/sh", "-c", "exit 3", env=env).returncode == 3
        assert dlxc("exec", "web", "--", "/bin/sh", "-c", "kill -9 $$", env=env).returncode == 137

        # stdout and stderr stay apart, each in order.
        result = dlxc("exec", "web", "--", "/bin/sh", "-c", "for i in 1 2 3; do echo out$i; echo err$i >&2; done", env=env)
        assert (result.returncode, result.stdout, result.stderr) == (0, "out1\nout2\nout3\n", "err1\nerr2\nerr3\n")

        # --env, --cwd, --user (name and uid); nothing of the kubelet's environment leaks in.
        result = dlxc("exec", "web", "--env", "GREETING=hi there", "--cwd", "/etc", "--", "/bin/sh", "-c", 'echo "$GREETING"; pwd; env', env=env)
        lines = result.stdout.splitlines()
        assert result.returncode == 0, result.stderr
        assert lines[:2] == ["hi there", "/etc"]
        assert not any(line.startswith("DLXC_") for line in lines), lines
        assert dlxc("exec", "web", "--user", "nobody", "--", "id", "-un", env=env).stdout.strip() == "nobody"
        assert dlxc("exec", "web", "--user", "1234", "--", "id", "-u", env=env).stdout.strip() == "1234"
        assert dlxc("exec", "web", "--cwd", "/nonexistent", "--", "true", env=env).returncode == 126

        # 10 MiB of stdin through wc -c, and EOF ends it.
        data = os.urandom(10 * 1024 * 1024)
        proc = subprocess.run(
            [sys.executable, "-m", "dlxc", "exec", "-i", "web", "--", "wc", "-c"], input=data, env=env, capture_output=True, timeout=120,
        )
        assert (proc.returncode, proc.stdout.strip()) == (0, str(len(data)).encode()), proc.stderr

        # 20 concurrent sessions against one container, each with its own answer.
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(lambda i: dlxc("exec", "web", "--", "/bin/sh", "-c", f"echo {i}; exit {i % 5}", env=env), range(20)))
        assert [(r.stdout.strip(), r.returncode) for r in results] == [(str(i), i % 5) for i in range(20)]
        # Nothing accumulates in the kubelet: no zombie children, no file descriptors left open
        # (once the sessions' ends are through: each client returns as soon as its exit status arrives).
        def zombies() -> list[int]:
            found = []
            for child in kubelet.children():
                try:
                    if child.status() == psutil.STATUS_ZOMBIE:
                        found.append(child.pid)
                except psutil.NoSuchProcess:
                    pass  # reaped meanwhile
            return found

        deadline = time.monotonic() + 15
        while (zombies() or kubelet.num_fds() > fds_before + 4) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert zombies() == []
        assert kubelet.num_fds() <= fds_before + 4, (fds_before, kubelet.num_fds())

        # A missing command, an unknown user: clear errors, nothing run.
        result = dlxc("exec", "web", "--user", "nosuchuser", "--", "true", env=env)
        assert (result.returncode, result.stderr.strip()) == (1, "error: no user 'nosuchuser' in container web")

        # A stopped container: exit 1 at once with the phase, not a hang.
        api.patch("web", {"spec": {"state": "Stopped"}})
        wait_for(lambda: api.phase("web") == "Stopped", timeout=60, what="web Stopped")
        started = time.monotonic()
        result = dlxc("exec", "web", "--", "true", env=env)
        assert (result.returncode, result.stderr.strip()) == (1, "error: container web is Stopped")
        assert time.monotonic() - started < 10
        result = dlxc("exec", "nosuch", "--", "true", env=env)
        assert result.returncode == 1 and "nosuch" in result.stderr
    finally:
        api.close()


def test_exec_tty_resize_and_client_killed_leaves_nothing(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    env = {**cluster.api.env(), "TERM": "xterm"}
    try:
        api.create("shell", node, network={"type": "none"})
        wait_for(lambda: running(api, "shell"), timeout=90, what="shell Running")

        # -t on a real terminal: the size follows it, a resize (SIGWINCH) is seen by stty size.
        import fcntl
        import struct
        import termios

        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        client = subprocess.Popen([sys.executable, "-m", "dlxc", "exec", "-it", "shell", "--", "/bin/sh"],
                                  stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        pid, fd = client.pid, master
        seen = b""
        # (LXC's terminal proxy has a line discipline of its own: lines end in \r\r\n, which a terminal shows as one.)

        def read_until(token: bytes, timeout: float = 20) -> bytes:
            nonlocal seen
            deadline = time.monotonic() + timeout
            while token not in seen and time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    try:
                        seen += os.read(fd, 4096)
                    except OSError:
                        break
            assert token in seen, seen[-500:]
            return seen

        read_until(b"# ", timeout=30)  # the shell's prompt
        os.write(fd, b"stty size; echo mark$((0+1))\n")
        out = read_until(b"mark1\r")
        assert b"\n30 100\r" in out, out[-500:]
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 41, 132, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        # The resize travels client -> apiserver -> kubelet -> pty as the shell reads on: ask until it is there.
        deadline, asked = time.monotonic() + 20, 1
        while True:
            asked += 1
            os.write(fd, f"stty size; echo mark$((0+{asked}))\n".encode())
            out = read_until(f"mark{asked}\r".encode())
            if b"\n41 132\r" in out.rsplit(f"mark$((0+{asked}))".encode(), 1)[-1]:
                break
            assert time.monotonic() < deadline, out[-500:]
            time.sleep(0.2)
        os.write(fd, b"exit 7\n")
        assert client.wait(30) == 7
        os.close(fd)

        # enter: a login shell (busybox has no bash: /bin/sh -l), whose exit code is dlxc's.
        client, fd = on_pty(["enter", "shell"], env)
        seen = b""
        read_until(b"# ", timeout=30)
        os.write(fd, b"echo shell=$0 user=$(id -un) home=$HOME; exit 5\n")
        out = read_until(b"home=/root", timeout=20)
        assert b"shell=/bin/sh user=root home=/root" in out, out[-300:]
        assert client.wait(30) == 5
        os.close(fd)

        # A client killed mid-session (pipes and tty): the command inside gets SIGHUP and is gone.
        clients = [
            subprocess.Popen([sys.executable, "-m", "dlxc", "exec", "shell", "--", "sleep", "1001"], env=env),
            subprocess.Popen([sys.executable, "-m", "dlxc", "exec", "-i", "shell", "--", "sleep", "1002"], env=env, stdin=subprocess.PIPE),
        ]
        wait_for(lambda: len(inside_pids(node.lxc_path, "shell", "sleep")) >= 2, timeout=20, what="both sleeps running")
        for client in clients:
            client.kill()
            client.wait()
            if client.stdin:
                client.stdin.close()
        wait_for(lambda: not inside_pids(node.lxc_path, "shell", "sleep"), timeout=20, what="no sleep left in the container")
        attach = subprocess.run(["pgrep", "-f", "--", f"--name shell --lxcpath {node.lxc_path}"], capture_output=True, text=True)
        assert (attach.returncode, attach.stdout) == (1, ""), "lxc-attach processes left behind"
    finally:
        api.close()


def rss_peak(proc: subprocess.Popen, stop) -> int:
    import psutil

    peak = 0
    handle = psutil.Process(proc.pid)
    while not stop():
        try:
            peak = max(peak, handle.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.05)
    return peak


def test_console_big_output_and_sessions_that_end_early(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    env = {**cluster.api.env(), "TERM": "xterm"}
    try:
        api.create("big", node, network={"type": "none"})
        wait_for(lambda: running(api, "big"), timeout=90, what="big Running")

        # 100 MiB through exec, with the CLI's memory flat (streamed, not buffered).
        size = 100 * 1024 * 1024
        proc = subprocess.Popen([sys.executable, "-m", "dlxc", "exec", "big", "--", "head", "-c", str(size), "/dev/zero"],
                                env=env, stdout=subprocess.PIPE)
        received = 0
        import threading

        peak: list[int] = []
        watcher = threading.Thread(target=lambda: peak.append(rss_peak(proc, lambda: proc.poll() is not None)))
        watcher.start()
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1024 * 1024):
            received += len(chunk)
        proc.stdout.close()
        assert proc.wait() == 0
        watcher.join()
        print(f"100 MiB exec: CLI peak RSS {peak[0] / 2**20:.1f} MiB")
        assert received == size
        assert peak[0] < 150 * 2**20

        # The console: --tail shows what it printed before, Ctrl-a q detaches.
        marked = dlxc("exec", "big", "--", "/bin/sh", "-c", "echo console-marker > /dev/console", env=env)
        assert marked.returncode == 0, marked.stderr
        console, fd = on_pty(["console", "big", "--tail", "3"], env)
        seen = b""
        deadline = time.monotonic() + 20
        while b"console-marker" not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:  # the client is gone
                    break
        assert b"console-marker" in seen, seen
        time.sleep(1)
        os.write(fd, b"\x01q")
        assert console.wait(30) == 0
        os.close(fd)
        assert any(e["spec"]["reason"] == "Attach" for e in api.list("events"))

        # The container stops under a session: it ends with a clear message, exit 1.
        session = subprocess.Popen([sys.executable, "-m", "dlxc", "exec", "big", "--", "sleep", "1000"], env=env,
                                   stderr=subprocess.PIPE, text=True)

        def attached() -> bool:
            assert session.poll() is None, f"exec ended early ({session.returncode}): {session.communicate()[1]}"
            return len(inside_pids(node.lxc_path, "big", "sleep")) == 1

        wait_for(attached, timeout=30, what="the session's sleep running in big")
        api.patch("big", {"spec": {"state": "Stopped"}})
        _, err = session.communicate(timeout=60)
        assert (session.returncode, err.strip()) == (1, "error: container big stopped; the session ended")
        wait_for(lambda: api.phase("big") == "Stopped", timeout=60, what="big Stopped")  # not the stale Running
        api.patch("big", {"spec": {"state": "Running"}})
        wait_for(lambda: running(api, "big"), timeout=60, what="big Running again")

        # The kubelet stops: open sessions end with a message; no lxc-attach, no command is left behind.
        sessions = [
            subprocess.Popen([sys.executable, "-m", "dlxc", "exec", "big", "--", "sleep", "1001"], env=env, stderr=subprocess.PIPE, text=True),
            subprocess.Popen([sys.executable, "-m", "dlxc", "exec", "-i", "big", "--", "sleep", "1002"], env=env,
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        ]
        def both_sleeping() -> bool:
            for client in sessions:
                assert client.poll() is None, f"exec ended early ({client.returncode}): {client.communicate()[1]}"
            return len(inside_pids(node.lxc_path, "big", "sleep")) == 2

        wait_for(both_sleeping, timeout=20, what="two sleeps")
        assert node.proc is not None
        node.proc.terminate()
        node.proc.wait(30)
        for client in sessions:
            _, err = client.communicate(timeout=30)
            assert (client.returncode, err.strip()) == (1, f"error: the kubelet of node {node.name} is stopping; the session ended")
        wait_for(lambda: not inside_pids(node.lxc_path, "big", "sleep"), timeout=10, what="no sleep left after the kubelet stopped")
        assert subprocess.run(["pgrep", "-f", "--", f"--name big --lxcpath {node.lxc_path}"], capture_output=True).returncode == 1
        cluster.start_kubelet(node)
        wait_for(lambda: dlxc("exec", "big", "--", "true", env=env).returncode == 0, timeout=60, what="exec after the kubelet restart")

        # The kubelet is killed (no cleanup): the client's session ends; the next kubelet ends the
        # command it left behind before it serves again.
        client = subprocess.Popen([sys.executable, "-m", "dlxc", "exec", "big", "--", "sleep", "1003"], env=env,
                                  stderr=subprocess.PIPE, text=True)
        wait_for(lambda: len(inside_pids(node.lxc_path, "big", "sleep")) == 1, timeout=20, what="the sleep")
        assert node.proc is not None
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
        _, err = client.communicate(timeout=30)
        assert client.returncode == 1 and "the session ended" in err, err
        cluster.start_kubelet(node)
        wait_for(lambda: not inside_pids(node.lxc_path, "big", "sleep"), timeout=60, what="the orphaned sleep ended")
        assert subprocess.run(["pgrep", "-f", f"dlxc-exec-session --name big --lxcpath {node.lxc_path}"], capture_output=True).returncode == 1
    finally:
        api.close()
