"""The kubelet's stream server: exec, console attach, console logs and usage of its containers, over mutual TLS.

Only the apiserver may connect: the server asks for a client certificate signed by the cluster CA
with the apiserver's kubelet-client subject (clientAuth), so nobody can exec by talking to a kubelet
directly. Exec and attach are WebSockets in the `v5.channel.k8s.io` framing (see STREAM_PROTOCOL),
one per session (`/exec/NAME`, `/attach/NAME`) or successive sessions on one the apiserver keeps
(`/sessions`, see `kept_sessions`); logs are a plain chunked HTTP response. Every session is an
`lxc-attach` (or `lxc-console`) process of its own, reaped and never left behind: client gone →
SIGHUP to what runs inside, then SIGKILL after a grace; kubelet stopping → the same for every session.
"""
from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import signal
import socket
import ssl
import struct
import sys
import termios
import time
import tty as tty_module
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import psutil
from aiohttp import WSMsgType, web
from multidict import MultiDict

from dlxc.tasks import cancel_and_wait
from kubelet.archivestream import add_archive_routes
from kubelet.logfiles import LogFollower, follow_log, read_chunks, read_tail
from kubelet.logmarks import LogMarks
from kubelet.settings import KubeletSettings
from kubelet.statsroutes import add_stats_routes

__all__ = [
    "APISERVER_CLIENT_CN", "CHANNEL_CLOSE", "CHANNEL_ERROR", "CHANNEL_RESIZE", "CHANNEL_STDERR", "CHANNEL_STDIN",
    "CHANNEL_STDOUT", "STREAM_PROTOCOL", "StreamServer", "exit_status", "failure_status", "wait_children_by_pidfd",
]

log = logging.getLogger("dlxc.kubelet.streams")

STREAM_PROTOCOL = "v5.channel.k8s.io"
# The first byte of every binary message names its channel, as in Kubernetes.
CHANNEL_STDIN, CHANNEL_STDOUT, CHANNEL_STDERR, CHANNEL_ERROR, CHANNEL_RESIZE, CHANNEL_CLOSE = 0, 1, 2, 3, 4, 255
# Successive sessions on one kept WebSocket (`StreamServer.kept_sessions`); must match apiserver.kubeletpool.
SESSIONS_PATH = "/sessions"
SESSIONS_PROTOCOL = "sessions.dlxc.io"
SESSION_END = '{"op":"end"}'
# Must match dlxc.cluster.pki.APISERVER_CLIENT_CN (the kubelet does not import the cluster tooling).
APISERVER_CLIENT_CN = "dlxc-apiserver-kubelet-client"
CHUNK = 32 * 1024  # bytes per output message: small enough to interleave stdout and stderr promptly
HANGUP_GRACE = 2.0  # seconds between SIGHUP and SIGKILL for what runs inside when a session ends early
# argv[0] of every lxc-attach the kubelet starts without a terminal, so a kubelet that starts finds
# (and ends) the sessions a killed predecessor left behind, and never an admin's own lxc-attach.
SESSION_ARGV0 = "dlxc-exec-session"
MARK_INTERVAL = 1.0  # seconds between looks at the console logs' growth (the precision of `logs --since`)


def wait_children_by_pidfd(loop: asyncio.AbstractEventLoop) -> bool:
    """Have asyncio learn of its children's exits from a pidfd on this loop, where Python 3.11 would
    start a thread per child (ThreadedChildWatcher): starting that thread cost ~1.7 ms an exec on a
    busy 2-core host, of ~3 ms the spawn took. Python 3.12 picks the pidfd watcher itself. Returns
    whether it was installed."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # a kernel before 5.3, or pidfd_open filtered by seccomp
        return False
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(loop)
    asyncio.set_child_watcher(watcher)
    return True


def _terminal_child() -> None:
    # In the child after setsid: the PTY becomes its controlling terminal. Without one lxc-attach
    # sets up no terminal proxy (the output is lost); with it, the kubelet dying hangs the PTY up,
    # which ends lxc-attach and, through the container's own terminal, the command.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def sweep_orphans(lxc_path: Path) -> int:
    """End the terminal-less sessions of an earlier kubelet on this lxcpath (it was killed before it
    could end them); returns how many. Their commands are lxc-attach's children (cloned as such)."""
    ended = 0
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if not cmdline or cmdline[0] != SESSION_ARGV0:
            continue
        if not any(a == "--lxcpath" and b == str(lxc_path) for a, b in zip(cmdline, cmdline[1:])):
            continue
        try:
            victims = [*proc.children(recursive=True), proc]
        except psutil.Error:
            continue
        for victim in victims:
            try:
                victim.kill()
            except psutil.Error:
                pass
        ended += 1
    return ended


def failure_status(message: str, *, reason: str, code: int) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "reason": reason, "message": message, "code": code}


def exit_status(code: int) -> dict[str, Any]:
    """The channel-3 status of a command that ended with `code` (Kubernetes' metav1.Status shape)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "message": f"command terminated with non-zero exit code: {code}",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _returncode(raw: int) -> int:
    # asyncio reports a signal death as -N; a shell would say 128+N.
    return 128 - raw if raw < 0 else raw


def _set_winsize(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", max(0, min(height, 65535)), max(0, min(width, 65535)), 0, 0))


def server_context(settings: KubeletSettings) -> ssl.SSLContext:
    """TLS that demands a client certificate from the cluster CA (OpenSSL also checks its clientAuth usage)."""
    assert settings.stream_cert_file and settings.stream_key_file and settings.stream_client_ca_file
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(settings.stream_client_ca_file))
    context.load_cert_chain(str(settings.stream_cert_file), str(settings.stream_key_file))
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _peer_common_name(request: web.Request) -> str | None:
    transport = request.transport
    peer = transport.get_extra_info("peercert") if transport is not None else None
    for rdn in (peer or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def advertise_address(settings: KubeletSettings, apiserver: str) -> str:
    """The address the apiserver should dial: the bind address unless it is a wildcard, else the
    address this host uses to reach the apiserver (the likeliest one the apiserver can reach back)."""
    if settings.stream_advertise_address:
        return settings.stream_advertise_address
    if settings.stream_host not in ("0.0.0.0", "::", ""):
        return settings.stream_host
    host = urlsplit(apiserver).hostname or "127.0.0.1"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 9))  # UDP: no packet is sent, the kernel only picks the route
            return str(probe.getsockname()[0])
    except OSError:
        return socket.gethostname()


@dataclass(eq=False)
class Session:
    """One running lxc-attach/lxc-console and how to end it."""

    proc: asyncio.subprocess.Process
    master: int | None = None  # the PTY's master side, when there is one
    tasks: list[asyncio.Future[Any]] = field(default_factory=list)
    transports: list[asyncio.BaseTransport] = field(default_factory=list)

    def hangup(self) -> None:
        """SIGHUP to what runs inside (lxc-attach's children: the payload is cloned as its child) and to lxc-attach."""
        if self.proc.returncode is not None:
            return
        try:
            inside = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            inside = []
        for proc in inside:
            try:
                proc.send_signal(signal.SIGHUP)
            except psutil.Error:
                pass
        try:
            self.proc.send_signal(signal.SIGHUP)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        if self.proc.returncode is not None:
            return
        try:
            inside = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            inside = []
        for proc in inside:
            try:
                proc.kill()
            except psutil.Error:
                pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass

    async def end(self) -> None:
        """Hang up, kill after the grace, reap; always closes the PTY."""
        try:
            if self.proc.returncode is None:
                self.hangup()
                try:
                    await asyncio.wait_for(self.proc.wait(), HANGUP_GRACE)
                except TimeoutError:
                    self.kill()
                    await self.proc.wait()
        finally:
            # Waited for: on a kept connection the next session's reader must not meet this one's.
            await cancel_and_wait(*self.tasks)
            for transport in self.transports:
                transport.close()
            if self.master is not None:
                os.close(self.master)
                self.master = None


class StreamServer:
    """aiohttp over mutual TLS; `start()` returns the host:port it is reachable at."""

    def __init__(
        self, runtime: Any, settings: KubeletSettings, *, apiserver: str, going_down: Callable[[str], bool] = lambda name: False,
        stats: Any = None,
    ) -> None:
        self.runtime = runtime  # kubelet.runtime.LxcRuntime
        self.going_down = going_down  # whether the container is being stopped or deleted (the kubelet's informer knows)
        self.settings = settings
        self.apiserver = apiserver
        self.stats = stats  # kubelet.sampler.MetricsSampler (None: no metrics collected), for /stats
        self.sessions: set[Session] = set()
        self.kept: set[web.WebSocketResponse] = set()  # the apiserver's kept connections (`kept_sessions`)
        self.stopping = False
        self._runner: web.AppRunner | None = None
        self._context: ssl.SSLContext | None = None
        self.log_marks = LogMarks()
        self._marking: asyncio.Task[None] | None = None

    def reload_certificate(self) -> None:
        """Serve the certificate now in the files (renewed, kubelet/certrenewal.py) on every new connection."""
        if self._context is not None:
            self._context.load_cert_chain(str(self.settings.stream_cert_file), str(self.settings.stream_key_file))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/exec/{name}", self.exec)
        app.router.add_get("/attach/{name}", self.attach)
        app.router.add_get(SESSIONS_PATH, self.kept_sessions)
        app.router.add_get("/logs/{name}", self.logs)
        add_archive_routes(app, self)  # backup archives out and in (kubelet/archivestream.py)
        add_stats_routes(app, self)  # usage from memory (kubelet/statsroutes.py)
        return app

    async def start(self) -> str:
        if ended := await asyncio.to_thread(sweep_orphans, self.settings.lxc_path):
            log.warning("ended %d exec sessions left behind by an earlier kubelet", ended)
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        self._context = server_context(self.settings)
        site = web.TCPSite(self._runner, self.settings.stream_host, self.settings.stream_port, ssl_context=self._context)
        await site.start()
        server = site._server  # noqa: SLF001 - the only way to learn the port picked for port 0
        port = server.sockets[0].getsockname()[1] if server is not None and server.sockets else self.settings.stream_port
        host = advertise_address(self.settings, self.apiserver)
        self._marking = asyncio.create_task(self._mark_logs(), name="console-log-marks")
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _console_logs(self) -> list[str]:
        """Every path a console log may have of every container under the lxcpath (this run's, rotated,
        previous), existing or not: LogMarks.look stats each once and skips the missing ones."""
        try:
            with os.scandir(self.runtime.lxc_path) as entries:
                names = [entry.name for entry in entries if entry.is_dir()]
        except OSError:
            return []
        paths: list[str] = []
        for name in names:
            try:
                paths += self.runtime.console_log_names(name)
            except ValueError:  # a directory that is no container name of ours
                continue
        return paths

    async def _mark_logs(self) -> None:
        while True:
            try:
                await asyncio.to_thread(lambda: self.log_marks.look(self._console_logs()))
            except Exception:  # noqa: BLE001 - a bad look costs only precision; the next one retries
                log.exception("looking at the console logs failed")
            await asyncio.sleep(MARK_INTERVAL)

    async def stop(self) -> None:
        """End every open session (nothing left running, nothing unreaped), then the server."""
        self.stopping = True
        if self._marking is not None:
            await cancel_and_wait(self._marking)
            self._marking = None
        await asyncio.gather(*(session.end() for session in list(self.sessions)), return_exceptions=True)
        # Idle kept connections closed now, so the apiserver drops them at once, not at its next session.
        await asyncio.gather(*(ws.close() for ws in list(self.kept)), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- checks shared by every stream ----

    def _authorized(self, request: web.Request) -> None:
        if _peer_common_name(request) != APISERVER_CLIENT_CN:
            raise web.HTTPForbidden(text="only the apiserver may open streams to the kubelet\n")

    async def _running(self, name: str) -> str | None:
        """None when `name` runs, else why not (for the user)."""
        try:
            state = await asyncio.to_thread(self.runtime.state, name)
        except ValueError:
            return f"{name!r} is not a container name"
        if state is None:
            return f"container {name} does not exist on node {self.settings.node_name}"
        if state != "RUNNING":
            return f"container {name} is {state.capitalize()}"
        return None

    # ---- exec and attach ----

    async def exec(self, request: web.Request) -> web.StreamResponse:
        """One exec session on a WebSocket of its own (`/exec/NAME?command=...`)."""
        return await self._one_session(request, self._exec)

    async def attach(self, request: web.Request) -> web.StreamResponse:
        """The container's console (tty0) through lxc-console, always on a PTY; Ctrl-a q detaches."""
        return await self._one_session(request, self._attach)

    async def _one_session(
        self, request: web.Request, run: Callable[[web.WebSocketResponse, str, Any], Awaitable[None]],
    ) -> web.WebSocketResponse:
        self._authorized(request)
        ws = web.WebSocketResponse(protocols=(STREAM_PROTOCOL,), max_msg_size=4 * 1024 * 1024, heartbeat=30.0)
        await ws.prepare(request)
        try:
            await run(ws, request.match_info["name"], request.query)
        finally:
            await ws.close()
        return ws

    async def kept_sessions(self, request: web.Request) -> web.WebSocketResponse:
        """Successive exec and attach sessions on one WebSocket the apiserver keeps (SESSIONS_PROTOCOL):
        a text start message (`{"op": "start", "subresource", "name", "query": [[key, value], ...]}`,
        the query the per-session endpoint takes), the session's binary channels as on `/exec`,
        then the end marker (SESSION_END) after its status. The client certificate was checked at the
        upgrade, as for every connection. Between sessions, binary frames are what the apiserver sent
        before it read the end marker (stdin of a session that had ended): they are dropped. The
        apiserver closing the socket mid-session hangs that session up, as on `/exec`."""
        self._authorized(request)
        ws = web.WebSocketResponse(protocols=(SESSIONS_PROTOCOL,), max_msg_size=4 * 1024 * 1024, heartbeat=30.0)
        await ws.prepare(request)
        self.kept.add(ws)
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    start = json.loads(message.data)
                    sub, name = start["subresource"], start["name"]
                    query = MultiDict((str(key), str(value)) for key, value in start["query"])
                    if start.get("op") != "start" or not isinstance(name, str):
                        raise ValueError(start.get("op"))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("a kept session's start message is not one (%s); closing the connection", exc)
                    break
                if self.stopping:
                    await self._fail(ws, failure_status(
                        f"the kubelet of node {self.settings.node_name} is stopping", reason="KubeletStopping", code=503))
                elif sub == "exec":
                    await self._exec(ws, name, query)
                elif sub == "attach":
                    await self._attach(ws, name, query)
                else:
                    await self._fail(ws, failure_status(f"no session kind {sub!r}", reason="BadRequest", code=400))
                if ws.closed or self.stopping:
                    break
                await ws.send_str(SESSION_END)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("a kept session connection broke: %s", exc)
        finally:
            self.kept.discard(ws)
            await ws.close()
        return ws

    async def _exec(self, ws: web.WebSocketResponse, name: str, query: Any) -> None:
        """One exec on `ws`: checks, then the command; every end sends a status except the client leaving."""
        command = query.getall("command", [])
        tty = query.get("tty") in ("1", "true")
        stdin = query.get("stdin") in ("1", "true")
        if not command:
            await self._fail(ws, failure_status("no command given", reason="BadRequest", code=400))
            return
        env = {}
        for item in query.getall("env", []):
            key, sep, value = item.partition("=")
            if not sep or not key or "\0" in item:
                await self._fail(ws, failure_status(f"env {item!r} is not KEY=VALUE", reason="BadRequest", code=400))
                return
            env[key] = value
        user = query.get("user")
        check: asyncio.Future[str | None] | None = None
        if user or tty:
            if why := await self._running(name):
                await self._fail(ws, failure_status(why, reason="Conflict", code=409))
                return
        else:
            # A plain exec asks LXC whether the container runs while lxc-attach starts (which asks the
            # same monitor for its init): the answer comes before any output is passed on.
            check = asyncio.ensure_future(self._running(name))
        uid = gid = None
        if user:
            found = await self._lookup_user(name, user)
            if found is None:
                await self._fail(ws, failure_status(f"no user {user!r} in container {name}", reason="BadRequest", code=400))
                return
            uid, gid, home = found
            env = {"HOME": home, "USER": user if not user.isdigit() else str(uid), **env}
        else:
            env = {"HOME": "/root", **env}
        if tty:
            env = {"TERM": query.get("term") or "xterm", **env}
        if cwd := query.get("cwd"):
            # lxc-attach has no working-directory option: a shell changes into it, then execs.
            command = ["/bin/sh", "-c", 'cd "$1" || exit 126; shift; exec "$@"', "sh", cwd, *command]
        try:
            argv = self.runtime.attach_command(name, command, uid=uid, gid=gid, env=env)
        except ValueError:  # said by the check already when it ran first
            if check is not None:
                check.cancel()
            await self._fail(ws, failure_status(f"{name!r} is not a container name", reason="Conflict", code=409))
            return
        await self._run(ws, argv, tty=tty, stdin=stdin, name=name, width=query.get("width"), height=query.get("height"), check=check)

    async def _attach(self, ws: web.WebSocketResponse, name: str, query: Any) -> None:
        if why := await self._running(name):
            await self._fail(ws, failure_status(why, reason="Conflict", code=409))
            return
        argv = self.runtime.console_command(name)
        await self._run(ws, argv, tty=True, stdin=True, name=name, width=query.get("width"), height=query.get("height"))

    async def _fail(self, ws: web.WebSocketResponse, status: dict[str, Any]) -> None:
        await ws.send_bytes(bytes([CHANNEL_ERROR]) + json.dumps(status).encode())

    async def _lookup_user(self, name: str, user: str) -> tuple[int, int, str] | None:
        """uid, gid and home of a user name or uid, from the container's /etc/passwd (a uid not in it: itself)."""
        script = (
            'while IFS=: read -r n x u g r h s; do '
            'if [ "$n" = "$1" ] || [ "$u" = "$1" ]; then echo "$u $g $h"; exit 0; fi; '
            'done < /etc/passwd; exit 1'
        )
        argv = self.runtime.attach_command(name, ["/bin/sh", "-c", script, "sh", user])
        proc = await asyncio.create_subprocess_exec(
            SESSION_ARGV0, *argv[1:], executable=argv[0],
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
        parts = out.decode(errors="replace").split()
        if proc.returncode == 0 and len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            return int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else "/"
        if user.isdigit():
            return int(user), int(user), "/"
        return None

    async def _run(
        self, ws: web.WebSocketResponse, argv: list[str], *, tty: bool, stdin: bool, name: str,
        width: str | None = None, height: str | None = None, check: asyncio.Future[str | None] | None = None,
    ) -> None:
        """Run argv for the session on `ws`. `check` (no terminal only), when given, says whether the
        container runs: it is answered before anything of the command's is read, and a refusal ends
        the command at once and passes on nothing of it."""
        if check is not None and tty:
            raise ValueError("a check that runs beside the spawn is for sessions without a terminal")
        loop = asyncio.get_running_loop()
        if tty:
            master, slave = os.openpty()
            # Raw on this side: the container's own terminal already does the line discipline (a
            # second one would turn every newline into \r\r\n).
            tty_module.setraw(slave)
            if width and height and width.isdigit() and height.isdigit():
                _set_winsize(slave, int(width), int(height))
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, preexec_fn=_terminal_child,
                )
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            session = Session(proc, master=master)
        else:
            # No preexec_fn here: with one, Python forks the whole kubelet (tens of ms) instead of vfork.
            try:
                proc = await asyncio.create_subprocess_exec(
                    SESSION_ARGV0, *argv[1:], executable=argv[0],
                    stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                    start_new_session=True,
                )
            except BaseException:
                if check is not None:
                    check.cancel()
                raise
            session = Session(proc)
        self.sessions.add(session)
        try:
            if check is not None and (why := await check):
                session.kill()  # at once, not after a hang-up's grace: it may sit in a frozen container
                await self._fail(ws, failure_status(why, reason="Conflict", code=409))
                # Its pipes read to their end (and dropped), so nothing of it outlives the session;
                # bounded: a command in a frozen container holds them until it is thawed.
                try:
                    await asyncio.wait_for(proc.communicate(), HANGUP_GRACE)
                except (TimeoutError, OSError):
                    pass
                return
            if tty:
                assert session.master is not None
                reader = asyncio.StreamReader(limit=2 * CHUNK)
                read_transport, _ = await loop.connect_read_pipe(
                    lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(session.master), "rb", 0)
                )
                write_transport, write_protocol = await loop.connect_write_pipe(
                    asyncio.streams.FlowControlMixin, os.fdopen(os.dup(session.master), "wb", 0)
                )
                session.transports += [read_transport, write_transport]
                writer: asyncio.StreamWriter | None = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
                pumps = [asyncio.create_task(self._pump(reader, ws, CHANNEL_STDOUT))]
            else:
                assert proc.stdout is not None and proc.stderr is not None
                writer = proc.stdin
                pumps = [
                    asyncio.create_task(self._pump(proc.stdout, ws, CHANNEL_STDOUT)),
                    asyncio.create_task(self._pump(proc.stderr, ws, CHANNEL_STDERR)),
                ]
            incoming = asyncio.create_task(self._incoming(ws, session, writer if stdin else None))
            finished = asyncio.ensure_future(asyncio.gather(*pumps, proc.wait()))
            session.tasks = [incoming, finished, *pumps]
            await asyncio.wait({incoming, finished}, return_when=asyncio.FIRST_COMPLETED)
            if not finished.done():
                # The client went away before the command ended: hang it up.
                log.info("exec client of %s gone; hanging up the session", name)
                return
            incoming.cancel()
            code = _returncode(finished.result()[-1])
            if self.stopping:
                await self._fail(ws, failure_status(
                    f"the kubelet of node {self.settings.node_name} is stopping; the session ended", reason="KubeletStopping", code=503
                ))
                return
            if await self._stopped_under(name, code):
                await self._fail(
                    ws, failure_status(f"container {name} stopped; the session ended", reason="ContainerStopped", code=409)
                )
                return
            await self._fail(ws, exit_status(code))
        finally:
            await session.end()
            self.sessions.discard(session)

    async def _stopped_under(self, name: str, code: int) -> bool:
        """Whether the container went down under the session. A signal death (128+N) may be the
        container's halt killing it a moment before LXC reports the state: the kubelet's own copy
        says whether a stop or delete is under way; otherwise LXC is asked again for 0.3 s."""
        if code == 0:
            return False
        if code >= 128 and self.going_down(name):
            return True  # its halt killed the command; LXC still says RUNNING until init is done
        for _ in range(3 if code >= 128 else 1):
            if await self._running(name) is not None:
                return True
            if code < 128:
                return False
            await asyncio.sleep(0.1)
        return False

    async def _pump(self, reader: asyncio.StreamReader, ws: web.WebSocketResponse, channel: int) -> None:
        """Output to the client; awaiting each send is the flow control (nothing piles up here)."""
        prefix = bytes([channel])
        while True:
            try:
                data = await reader.read(CHUNK)
            except OSError:  # EIO: the PTY's other side is closed
                return
            if not data:
                return
            try:
                await ws.send_bytes(prefix + data)
            except (ConnectionError, RuntimeError):
                return

    async def _incoming(self, ws: web.WebSocketResponse, session: Session, writer: asyncio.StreamWriter | None) -> None:
        """stdin, resize and close messages from the client, until it goes away."""
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == CHANNEL_STDIN and writer is not None and data:
                try:
                    writer.write(data)
                    await writer.drain()
                except (ConnectionError, OSError):
                    writer = None
            elif channel == CHANNEL_CLOSE and data[:1] == bytes([CHANNEL_STDIN]) and writer is not None:
                if session.master is not None:
                    writer.write(b"\x04")  # EOF on a terminal is ^D
                else:
                    writer.close()
                writer = None
            elif channel == CHANNEL_RESIZE and session.master is not None:
                try:
                    size = json.loads(data)
                    _set_winsize(session.master, int(size["Width"]), int(size["Height"]))
                    session.proc.send_signal(signal.SIGWINCH)  # lxc-attach copies the size into the container
                except (ValueError, KeyError, TypeError, OSError, ProcessLookupError):
                    continue

    # ---- logs ----

    async def logs(self, request: web.Request) -> web.StreamResponse:
        """The console output of the current run (or `previous=1` the one before), `tail` lines, `since`
        seconds, and with `follow=1` new output until the container is gone or the client leaves."""
        self._authorized(request)
        name = request.match_info["name"]
        query = request.query
        previous = query.get("previous") in ("1", "true")
        follow = query.get("follow") in ("1", "true") and not previous
        try:
            tail = int(query["tail"]) if query.get("tail") not in (None, "") else None
            since = float(query["since"]) if query.get("since") not in (None, "") else None
        except ValueError:
            raise web.HTTPBadRequest(text="tail and since must be numbers\n") from None
        try:
            exists = await asyncio.to_thread(self.runtime.state, name)
        except ValueError:
            exists = None
        if exists is None:
            raise web.HTTPNotFound(text=f"container {name} does not exist on node {self.settings.node_name}\n")
        files = self.runtime.console_log_files(name, previous=previous)
        if previous and not files:
            raise web.HTTPNotFound(text=f"container {name} has no previous run on record\n")
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        with ExitStack() as held:
            handles: dict[Path, BinaryIO] = {}
            for path in files:
                try:
                    handles[path] = held.enter_context(open(path, "rb"))
                except FileNotFoundError:  # rotated away since it was listed
                    continue
            # `since` starts each file at its first line written within the window (kubelet/logmarks.py).
            if since is not None:
                cutoff = time.time() - since
                for path, handle in handles.items():
                    start = await asyncio.to_thread(self.log_marks.start, path, cutoff)
                    handle.seek(min(start, os.fstat(handle.fileno()).st_size))  # the path may name a newer file by now
            if tail is not None:
                await response.write(read_tail(list(handles.values()), tail))
            else:
                for handle in handles.values():
                    for chunk in read_chunks(handle):
                        await response.write(chunk)
            if follow:
                # On from the byte the dump stopped at, in the same open file.
                path = self.runtime.container_dir(name) / "console.log"
                follower = LogFollower(path, handles.get(path))
                held.callback(follower.close)

                async def deleted() -> bool:
                    return await asyncio.to_thread(self.runtime.state, name) is None

                async for chunk in follow_log(follower, client_gone=lambda: _client_gone(request), deleted=deleted):
                    await response.write(chunk)
        await response.write_eof()
        return response


def _client_gone(request: web.Request) -> bool:
    """Whether the client of `request` left: aiohttp cancels no handler for it (handler_cancellation is off)."""
    transport = request.transport
    return transport is None or transport.is_closing()
