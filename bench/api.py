"""Benchmark of the apiserver against a real etcd: mutating latency at 100 req/s next to direct etcd
puts, LIST at 10,000 containers, and event delivery latency to 1,000 concurrent watchers.

Run: .venv/bin/python bench/api.py [--containers 10000] [--watchers 1000] [--rate 100]
The last line printed is one JSON object with the figures. It never fails on a time.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aetcd
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from apiserver.auth import TokenFile  # noqa: E402
from harness import etcd_argv, free_port, percentile, wait_http  # noqa: E402
from apiserver.registry import Registry  # noqa: E402
from schemas import KINDS  # noqa: E402

API = "/apis/dlxc.io/v1"



def answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}")
    return response.json()


def container(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": "bench", "shard": str(hash(name) % 10)}},
        "spec": {"image": "busybox", "cpu": 0.5, "memory": "256Mi", "env": {"MODE": "bench"}},
    }


async def paced(rate: float, count: int, make: Any) -> list[float]:
    """Open-loop load: start one request every 1/rate s whatever the latency; latencies in ms."""
    latencies: list[float] = []

    async def one(i: int) -> None:
        started = time.perf_counter()
        await make(i)
        latencies.append((time.perf_counter() - started) * 1000)

    tasks = []
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return latencies


class RawConnection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads a Content-Length answer.

    The load generator's own cost should not count as the apiserver's: httpx adds about half a
    millisecond per request in Python, more than the apiserver's own work on a small write.
    """

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        data = json.dumps(body).encode()
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n".encode()
            + self.auth + f"Content-Length: {len(data)}\r\n\r\n".encode() + data
        )
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) != b"\r\n":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def mutating(port: int, token: str, *, rate: float, count: int) -> list[float]:
    """Half creates, half merge patches of containers created 0.2 s earlier (open-loop, so never in flight)."""
    pool: asyncio.Queue[RawConnection] = asyncio.Queue()
    connections = [RawConnection(port, token) for _ in range(16)]
    for connection in connections:
        pool.put_nowait(connection)

    async def make(i: int) -> None:
        connection = await pool.get()
        try:
            if i % 2 == 0 or i < 21:
                status, answer = await connection.request("POST", f"{API}/containers", container(f"mut-{i}"))
            else:
                status, answer = await connection.request(
                    "PATCH", f"{API}/containers/mut-{i - 21}", {"metadata": {"labels": {"patched": "yes"}}}
                )
        finally:
            pool.put_nowait(connection)
        if status >= 400:
            raise RuntimeError(f"{status} {answer.decode()}")

    try:
        return await paced(rate, count, make)
    finally:
        for connection in connections:
            connection.close()


async def etcd_puts(endpoint_port: int, prefix: str, *, rate: float, count: int) -> list[float]:
    """The same paced load as single-client etcd puts of a stored-size object."""
    value = json.dumps(Registry(None, KINDS[0]).prepare_create(container("x")), separators=(",", ":")).encode()  # type: ignore[arg-type]
    async with aetcd.Client(host="127.0.0.1", port=endpoint_port) as etcd:
        async def make(i: int) -> None:
            await etcd.put(f"{prefix}/bench-puts/p-{i}".encode(), value)

        return await paced(rate, count, make)


async def seed(endpoint_port: int, prefix: str, count: int) -> None:
    """count containers, valid as the apiserver would have stored them, written in batches straight to etcd."""
    registry = Registry(None, KINDS[0])  # type: ignore[arg-type]
    async with aetcd.Client(host="127.0.0.1", port=endpoint_port) as etcd:
        tx = etcd.transactions
        for start in range(0, count, 100):
            puts = []
            for i in range(start, min(count, start + 100)):
                obj = registry.prepare_create(container(f"seed-{i:05d}"))
                puts.append(tx.put(f"{prefix}/containers/seed-{i:05d}".encode(), json.dumps(obj, separators=(",", ":")).encode()))
            await etcd.transaction(compare=[], success=puts, failure=[])


def list_latency(url: str, token: str, *, runs: int) -> tuple[float, float, int]:
    """Median ms until the whole answer has arrived, the same with the client's JSON decoding, and the item count."""
    answered, parsed, count = [], [], 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for _ in range(runs):
            started = time.perf_counter()
            response = http.get(f"{API}/containers")
            answered.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"LIST answered {response.status_code}: {response.text[:300]}")
            count = len(response.json()["items"])
            parsed.append((time.perf_counter() - started) * 1000)
    return statistics.median(answered), statistics.median(parsed), count


_RV = b'"resourceVersion":"'


class RawWatch(asyncio.Protocol):
    """One watcher on its own connection, read by a protocol callback (no coroutine per event), so that
    1,000 of them in one process add little of their own to the figure. Arrival is stamped when the
    bytes come in; chunk framing does not matter, as every event is one JSON line."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}  # resourceVersion -> perf_counter when it arrived
        self.transport: asyncio.Transport | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        arrived = time.perf_counter()
        self._buffer += data
        if not self.ready.done():
            head, sep, rest = self._buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                self.ready.set_exception(RuntimeError(head.decode(errors="replace")))
                return
            self.ready.set_result(None)
            self._buffer = rest
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            # Lines of the chunked body: a chunk-size line, or an event. Only the revision is needed.
            if b'"type":"ADDED"' in line[:20] or b'"type":"MODIFIED"' in line[:24]:
                start = line.index(_RV) + len(_RV)
                self.received[line[start:line.index(b'"', start)].decode()] = arrived

    async def open(self, port: int, token: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self, "127.0.0.1", port)
        assert self.transport is not None
        self.transport.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        await self.ready

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def watch_delivery(url: str, port: int, token: str, *, watchers: int, events: int) -> list[float]:
    """Latency (ms) from just before each write is sent to its arrival at each of `watchers` watchers."""
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        created = answer(await http.post(f"{API}/leases", json={"metadata": {"name": "bench"}, "spec": {"holderIdentity": "a"}}))
        rv = created["metadata"]["resourceVersion"]
        streams = [RawWatch() for _ in range(watchers)]
        path = f"{API}/leases?watch=1&resourceVersion={rv}"
        for start in range(0, watchers, 100):
            await asyncio.gather(*(s.open(port, token, path) for s in streams[start:start + 100]))
        await asyncio.sleep(1.0)
        sent: dict[str, float] = {}
        for i in range(events):
            started = time.perf_counter()
            patched = answer(await http.patch(f"{API}/leases/bench", json={"spec": {"holderIdentity": f"h{i}"}}))
            sent[patched["metadata"]["resourceVersion"]] = started
            await asyncio.sleep(0.25)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(len(s.received) < events for s in streams):
            await asyncio.sleep(0.1)
        latencies = []
        missing = 0
        for s in streams:
            for rv_sent, at in sent.items():
                arrived = s.received.get(rv_sent)
                if arrived is None:
                    missing += 1
                else:
                    latencies.append((arrived - at) * 1000)
        for s in streams:
            s.close()
        if missing:
            print(f"watch: {missing} deliveries missing", flush=True)
        return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--mutations", type=int, default=1_000)
    parser.add_argument("--watch-events", type=int, default=20)
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))  # children inherit it
    tmp = Path(tempfile.mkdtemp(prefix="dlxc-bench-"))
    client_port, peer_port, api_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen] = []
    try:
        with (tmp / "etcd.log").open("wb") as log:
            procs.append(subprocess.Popen(
                etcd_argv(tmp / "etcd", client_port, peer_port),
                stdout=log, stderr=subprocess.STDOUT,
            ))
        wait_http(f"http://127.0.0.1:{client_port}/health")
        token = TokenFile(tmp / "tokens").add("bench", "admin")
        prefix = f"/bench-{uuid.uuid4().hex[:6]}"
        with (tmp / "apiserver.log").open("wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dlxc", "apiserver", "--insecure-http", "--port", str(api_port),
                 "--etcd-endpoints", f"http://127.0.0.1:{client_port}", "--etcd-prefix", prefix,
                 "--token-file", str(tmp / "tokens"), "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            ))
        url = f"http://127.0.0.1:{api_port}"
        wait_http(f"{url}/readyz")

        mut = asyncio.run(mutating(api_port, token, rate=args.rate, count=args.mutations))
        put = asyncio.run(etcd_puts(client_port, prefix, rate=args.rate, count=args.mutations))
        print(f"mutating at {args.rate:g}/s: p50 {percentile(mut, 50):.2f} ms, p99 {percentile(mut, 99):.2f} ms", flush=True)
        print(f"etcd puts at {args.rate:g}/s: p50 {percentile(put, 50):.2f} ms, p99 {percentile(put, 99):.2f} ms", flush=True)

        seeded = time.perf_counter()
        created = sum(1 for i in range(args.mutations) if i % 2 == 0 or i < 21)
        asyncio.run(seed(client_port, prefix, args.containers - created))
        print(f"seeded {args.containers - created} containers in {time.perf_counter() - seeded:.1f}s", flush=True)
        list_ms, list_parsed_ms, listed = list_latency(url, token, runs=5)
        print(f"LIST of {listed} containers: {list_ms:.0f} ms answered, {list_parsed_ms:.0f} ms with the client's "
              "JSON decoding (median of 5)", flush=True)

        watch = asyncio.run(watch_delivery(url, api_port, token, watchers=args.watchers, events=args.watch_events))
        print(f"watch delivery to {args.watchers} watchers ({len(watch)} deliveries): "
              f"p50 {percentile(watch, 50):.1f} ms, p99 {percentile(watch, 99):.1f} ms", flush=True)

        figures = {
            "mutating_p50_ms": round(percentile(mut, 50), 2),
            "mutating_p99_ms": round(percentile(mut, 99), 2),
            "etcd_put_p50_ms": round(percentile(put, 50), 2),
            "etcd_put_p99_ms": round(percentile(put, 99), 2),
            "ratio_p50": round(percentile(mut, 50) / percentile(put, 50), 2),
            "list_10k_ms": round(list_ms, 1),
            "list_10k_parsed_ms": round(list_parsed_ms, 1),
            "list_items": listed,
            "watch_1000_p50_ms": round(percentile(watch, 50), 1),
            "watch_1000_p99_ms": round(percentile(watch, 99), 1),
            "watchers": args.watchers,
            "watch_deliveries": len(watch),
            "rate_per_s": args.rate,
            "mutations": args.mutations,
            "transport": "http-loopback",
        }
        print(json.dumps(figures))
    except BaseException:
        for name in ("apiserver.log", "etcd.log"):
            path = tmp / name
            if path.exists():
                sys.stderr.write(f"--- last lines of {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-30:]) + "\n")
        raise
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
