"""Helpers shared by the HTTP benchmarks: a ``shopwise serve`` subprocess, keys, events, a client.

The benchmarks drive the real server the way an operator runs it: ``shopwise serve`` as a separate
process on 127.0.0.1 over a temporary data directory, a write key made with ``shopwise keys
create``, and event batches posted to ``/v1/events``. The load generator is a lean HTTP/1.1
keep-alive client on asyncio (uvloop when installed) that sends pre-encoded requests, so on a
2-core machine shared with the server the client costs as little CPU as possible; it speaks only
to 127.0.0.1.

A :class:`Backend` says where the server keeps its store and online state: the embedded defaults
(SQLite in the data dir, state in the process), or PostgreSQL and Redis as ``docs/deploy.md``
runs several processes, with a fresh database made for the run and dropped after it. The same
:class:`Server` then runs ``shopwise serve --workers N`` and, when asked, one ``shopwise worker``
beside it; its CPU figures add up every process of the API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import orjson

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def shopwise_command() -> list[str]:
    """The ``shopwise`` CLI of this interpreter's environment."""
    script = Path(sys.executable).with_name("shopwise")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from shopwise.cli import main; main()"]


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU model, cores, memory, Python, load at start."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "Model name":
                model = value.strip()
    memory_gb = 0.0
    with contextlib.suppress(OSError, ValueError):
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 2**30, 1)
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python_loop_ns": python_loop_ns(),
    }


def python_loop_ns(iterations: int = 1_000_000, repeats: int = 5) -> float:
    """Nanoseconds an iteration of a plain Python loop (median of ``repeats``): how fast this
    machine ran Python when the benchmark started. The shared machines' speed drifts (other
    tenants): the serving floor's CPU a request at saturation was 49 us in one run and 167 us in
    a run five hours later, so results from different runs are read against it."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for i in range(iterations):
            total += i
        times.append(time.perf_counter() - started)
    return round(median(times) * 1e9 / iterations, 1)


def fsync_latency_ms(samples: int = 50) -> dict[str, float]:
    """p50 / p99 of a 4 KiB write + fsync in the temp dir, where the benchmarks keep SQLite."""
    times = []
    with temp_dir("shopwise-fsync-") as path:
        fd = os.open(path / "probe", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for _ in range(samples):
                os.write(fd, b"x" * 4096)
                started = time.perf_counter()
                os.fsync(fd)
                times.append(time.perf_counter() - started)
        finally:
            os.close(fd)
    return {"p50": percentile_ms(times, 50), "p99": percentile_ms(times, 99)}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``; 0 elsewhere)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int, field: str = "VmRSS") -> int | None:
    """Resident memory of ``pid`` (``VmRSS`` from Linux ``/proc``; ``VmHWM`` for its peak),
    ``None`` when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, ``None`` when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children, their children, ...), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, frontier = [], [pid]
    while frontier:
        below = children.get(frontier.pop(), [])
        found += below
        frontier += below
    return sorted(found)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants (``serve --workers N``: every worker).

    A descendant that exited is not counted; the servers' processes live for the whole run."""
    return sum(process_cpu_seconds(p) for p in (pid, *descendants(pid)))


def redis_cpu_seconds() -> float:
    """CPU seconds of the ``redis-server`` processes so far (other clients' work included)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "redis-server":
                total += process_cpu_seconds(int(entry.name))
    return total


def spent_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two :meth:`Backend.store_cpu` readings: a process that
    started in between counts from zero; one that ended in between is lost (an undercount)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


@dataclass(frozen=True)
class Backend:
    """Where a benchmark's server keeps its store and online state.

    ``embedded`` is the one-machine default (SQLite in the data dir, state in the process);
    ``postgres-redis`` sets ``SHOPWISE_DATABASE_URL``, ``SHOPWISE_REDIS_URL`` and
    ``SHOPWISE_REDIS_PREFIX`` (:func:`open_backend` makes the database and clears the prefix).
    """

    name: str = "embedded"
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "shopwise"

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for ``Settings`` in the benchmark's own process."""
        if self.database_url is None:
            return {}
        return {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "redis_prefix": self.redis_prefix,
        }

    def env(self) -> dict[str, str]:
        """The same settings as ``SHOPWISE_*`` variables for the server's processes."""
        return {f"SHOPWISE_{k.upper()}": str(v) for k, v in self.settings().items()}

    def store_cpu(self) -> dict[int, float]:
        """CPU seconds so far of each PostgreSQL process connected to this backend's database,
        by pid (PostgreSQL runs one process a connection): the store's work for this run only,
        not that of other databases on the same server. Empty for the embedded backend."""
        if self.database_url is None:
            return {}
        import psycopg

        url = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchall()
        return {pid: process_cpu_seconds(pid) for (pid,) in rows}


BACKENDS = ("embedded", "postgres-redis")


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """``--postgres-url`` and ``--redis-url``: the servers a ``postgres-redis`` run uses."""
    parser.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432",
        help="PostgreSQL server (no database): each run makes its own and drops it",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/14",
        help="Redis database; each run's keys live under a prefix 'bench.<token>' of its own",
    )


@contextlib.contextmanager
def open_backend(name: str, postgres_url: str, redis_url: str) -> Iterator[Backend]:
    """A ready backend: for ``postgres-redis`` a new, empty database (dropped afterwards) and no
    keys under the Redis prefix (deleted before and after)."""
    if name == "embedded":
        yield Backend()
        return
    import redis
    import sqlalchemy as sa

    token = uuid.uuid4().hex[:10]
    database = f"bench_{token}"
    admin = sa.create_engine(f"{postgres_url}/postgres", isolation_level="AUTOCOMMIT")
    client = redis.Redis.from_url(redis_url)
    # a prefix of its own, so that runs side by side on one Redis database never share a key
    backend = Backend(name, f"{postgres_url}/{database}", redis_url, f"bench.{token}")
    try:
        clear_prefix(client, backend.redis_prefix)
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
        yield backend
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
        clear_prefix(client, backend.redis_prefix)
        client.close()


def clear_prefix(client: Any, prefix: str) -> int:
    """Delete every Redis key under ``prefix`` (a previous run's); returns how many."""
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    return len(keys)


@dataclass
class Server:
    """A ``shopwise serve`` subprocess over ``data_dir``; :meth:`start` waits for ``/readyz``.

    With ``workers`` above one it is ``shopwise serve --workers N`` (a parent and N uvicorn
    processes); with ``worker`` a ``shopwise worker`` starts beside it and stops with it.
    """

    data_dir: Path
    synchronous: str = "FULL"
    port: int = field(default_factory=free_port)
    log_level: str = "INFO"
    consumers: bool = True
    """False: the API without in-process bus consumers (as when ``shopwise worker`` runs them)."""
    command: list[str] | None = None
    """Another server command over the same environment (default: ``shopwise serve``)."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """More settings for the server (``SHOPWISE_...`` variables)."""
    backend: Backend = field(default_factory=Backend)
    """Where the store and the online state live."""
    workers: int = 1
    """API processes (``shopwise serve --workers``)."""
    worker: bool = False
    """Start one ``shopwise worker`` (bus consumers and jobs) beside the API."""
    process: subprocess.Popen[bytes] | None = None
    worker_process: subprocess.Popen[bytes] | None = None

    @property
    def database(self) -> Path:
        return self.data_dir / "shopwise.db"

    def env(self) -> dict[str, str]:
        """The server's environment: a private data dir, and a rate limit above the offered load."""
        env = dict(os.environ)
        env.update(
            SHOPWISE_DATA_DIR=str(self.data_dir),
            SHOPWISE_HOST=HOST,
            SHOPWISE_PORT=str(self.port),
            SHOPWISE_SQLITE_SYNCHRONOUS=self.synchronous,
            SHOPWISE_LOG_LEVEL=self.log_level,
            SHOPWISE_RATE_LIMIT_PER_SECOND="1000000",
            SHOPWISE_RATE_LIMIT_BURST="1000000",
            # every request comes from one address, which a write key's limit takes for one shopper
            SHOPWISE_RATE_LIMIT_PER_SHOPPER_PER_SECOND="1000000",
            SHOPWISE_RATE_LIMIT_PER_SHOPPER_BURST="1000000",
            SHOPWISE_API_CONSUMERS="true" if self.consumers else "false",
        )
        for name in ("SHOPWISE_DATABASE_URL", "SHOPWISE_REDIS_URL", "SHOPWISE_REDIS_PREFIX"):
            env.pop(name, None)
        env.update(self.backend.env())
        env.update(self.extra_env)
        return env

    def create_key(self, kind: str = "write") -> str:
        """A new key made with ``shopwise keys create`` (the plaintext: its last output line)."""
        out = subprocess.run(
            [*shopwise_command(), "keys", "create", "--kind", kind, "--name", "benchmark"],
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        return out.strip().splitlines()[-1].strip()

    def start(self, timeout: float = 120.0) -> None:
        """Start the API (and the worker), wait for ``/readyz`` and for the worker's start-up
        jobs to finish (:meth:`wait_worker_idle`), so that they do not land in a measurement."""
        command = [*shopwise_command(), "serve", "--host", HOST, "--port", str(self.port)]
        if self.command is not None:
            command = self.command
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self.process = self._spawn(command, "server.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see logs")
            if _ready(self.port):
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise TimeoutError(f"server not ready after {timeout} s")
        if self.worker:
            self.worker_process = self._spawn([*shopwise_command(), "worker"], "worker.log")
            self.wait_worker_idle()

    def _spawn(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with (self.data_dir / log_name).open("ab") as log:
            return subprocess.Popen(
                command, env=self.env(), stdout=log, stderr=log, preexec_fn=_die_with_parent
            )

    def wait_worker_idle(self, timeout: float = 600.0, window: float = 2.0) -> None:
        """Wait until the worker used under a tenth of a core over ``window`` seconds: its
        jobs that fall due at start (customers, KPIs, drift) have run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = self.worker_cpu_seconds()
            time.sleep(window)
            if self.worker_cpu_seconds() - before < 0.1 * window:
                return
        raise TimeoutError(f"worker still busy after {timeout} s")

    def cpu_seconds(self) -> float:
        """CPU seconds of the API so far: the server process and all its children."""
        return tree_cpu_seconds(self.pid)

    def worker_cpu_seconds(self) -> float:
        """CPU seconds of the ``shopwise worker`` so far (0 without one)."""
        if self.worker_process is None:
            return 0.0
        return tree_cpu_seconds(self.worker_process.pid)

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("server is not running")
        return self.process.pid

    def kill(self) -> None:
        """``kill -9``: no shutdown, no drain, no flush."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None

    def stop(self) -> None:
        """A graceful stop of the worker and the API (SIGTERM, then SIGKILL after 30 s)."""
        for process in (self.worker_process, self.process):
            if process is not None:
                _terminate(process)
        self.worker_process = self.process = None


def _terminate(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit`` so that ``finally`` blocks stop the server and clean up."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def _die_with_parent() -> None:
    """In the server's child process: get SIGKILL when the benchmark dies (Linux), no orphans."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory under the system's temp dir, removed afterwards.

    The SQLite file lives there, so fsync costs are those of that file system (a tmpfs /tmp would
    make FULL look free).
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


_TYPES = ("product_viewed", "product_viewed", "product_viewed", "page_viewed", "product_added")


def make_events(count: int, rng: np.random.Generator, prefix: str) -> list[dict[str, Any]]:
    """``count`` valid, realistic storefront events; ``message_id`` s are unique per call."""
    token = uuid.uuid4().hex[:10]
    products = rng.integers(1, 5000, size=count).tolist()
    visitors = rng.integers(1, 20000, size=count).tolist()
    kinds = rng.integers(0, len(_TYPES), size=count).tolist()
    second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 60))
    out = []
    for i in range(count):
        kind = _TYPES[kinds[i]]
        product = f"p{products[i]}"
        properties: dict[str, Any] = {}
        if kind != "page_viewed":
            properties = {"product_id": product, "price": 19.99, "category": "shoes/running"}
        if kind == "product_added":
            properties["quantity"] = 1
        out.append(
            {
                "message_id": f"{prefix}-{token}-{i}",
                "type": kind,
                "anonymous_id": f"a{visitors[i]}",
                "timestamp": f"{second}.{i % 1000:03d}Z",
                "context": {
                    "page": {"url": f"https://shop.example/p/{product}", "referrer": ""},
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) benchmark",
                    "locale": "en-GB",
                    "ip": "203.0.113.9",
                },
                "properties": properties,
            }
        )
    return out


def request_bytes(port: int, key: str, events: Sequence[dict[str, Any]]) -> bytes:
    """A complete ``POST /v1/events`` HTTP/1.1 request carrying ``events`` as one batch."""
    body = orjson.dumps({"batch": list(events)})
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class HttpError(Exception):
    """The connection broke or the response could not be parsed."""


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        start = head.find(b"content-length:")
        if start < 0:
            self._fail(HttpError("response without content-length"))
            return
        length = int(head[start + 15 :].split(b"\r\n", 1)[0])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(HttpError(f"connection lost: {exc}"))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.waiter = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            raise HttpError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(port: int) -> _Connection:
    """A new keep-alive connection to the server on 127.0.0.1."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(_Connection, HOST, port)
    return protocol


def run_async(coro: Any) -> Any:
    """Run ``coro`` on uvloop when installed (the cheaper client), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def percentile_ms(latencies: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of latencies given in seconds, in milliseconds."""
    if not latencies:
        return float("nan")
    return round(float(np.percentile(np.asarray(latencies), q)) * 1000, 2)


def median(values: Sequence[float]) -> float:
    return round(float(np.median(np.asarray(values))), 2) if values else float("nan")


def record_run(
    script: str,
    name: str,
    args: argparse.Namespace,
    defaults: dict[str, Any],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    markdown: Callable[[dict[str, Any]], str],
) -> int:
    """Run ``run(args)`` and write ``results/<name>.json`` and ``.md`` (printed too): the
    machine, the command that reproduces the run (``script`` with the options that differ from
    ``defaults``, and ``--quick``), the arguments, the results and the seconds it took."""
    command = script
    for option, default in defaults.items():
        if getattr(args, option) != default:
            command += f" --{option.replace('_', '-')} {getattr(args, option)}"
    if args.quick:
        command += " --quick"
    started = time.perf_counter()
    config = {**vars(args), "reuse": None if args.reuse is None else str(args.reuse)}
    payload: dict[str, Any] = {"machine": machine(), "command": command, "config": config}
    payload["results"] = run(args)
    payload["seconds"] = round(time.perf_counter() - started, 1)
    write_json(RESULTS / f"{name}.json", payload)
    text = markdown(payload)
    (RESULTS / f"{name}.md").write_text(text)
    print(text)
    return 0


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")


def load_into(runtime: Any, shop: Any) -> int:
    """Push ``shop`` through the runtime's catalog and collector (``shopwise.simulate.load``);
    returns the last stored event id, for ``runtime.bus.wait_until_consumed``."""
    from shopwise.simulate import load

    last = 0

    def ingest(batch: list[dict[str, Any]]) -> object:
        nonlocal last
        result = runtime.collector.ingest(batch)
        last = max(last, result.last_event_id)
        return result

    load(shop, ingest, runtime.catalog.upsert)
    return last


def write_report(
    out: Path, report: dict[str, Any], markdown: Callable[[dict[str, Any]], str]
) -> str:
    """Write ``report`` as ``out`` (JSON) and its ``markdown`` beside it (``.md``); returns the
    markdown."""
    text = markdown(report)
    write_json(out, report)
    out.with_suffix(".md").write_text(text)
    return text


def commit() -> str:
    """The checkout's commit, as ``git describe --always --dirty`` names it."""
    found = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    )
    return found.stdout.strip() or "unknown"


def write_labelled_run(
    out: Path,
    setup: dict[str, Any],
    label: str,
    run: dict[str, Any],
    markdown: Callable[[dict[str, Any]], str],
) -> str:
    """:func:`write_report` of a report whose ``runs`` are keyed by the code measured: the runs
    of other labels already in ``out`` are kept when they were measured with the same ``setup``,
    so code before a change is measured by running the benchmark on that code's ``src``."""
    previous = orjson.loads(out.read_bytes()) if out.exists() else {}
    runs = previous.get("runs", {}) if previous.get("setup") == setup else {}
    report = {"machine": machine(), "setup": setup, "runs": {**runs, label: run}}
    return write_report(out, report, markdown)


def code_variant(text: str) -> tuple[str, Path]:
    """A ``--variant LABEL=SRC`` of the variants benchmarks: a label and a ``src`` folder that
    holds ``shopwise`` (a ``git worktree``'s, or a copy of this checkout with one change undone)."""
    label, sep, src = text.partition("=")
    path = Path(src).resolve()
    if not sep or not label or not (path / "shopwise" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not LABEL=SRC with SRC holding shopwise")
    return label, path


def variants_parser(description: str) -> argparse.ArgumentParser:
    """The options every variants benchmark takes: two or more ``--variant LABEL=SRC``,
    ``--rounds`` (the variants take turns in each) and ``--note`` (what each variant is)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--variant", type=code_variant, action="append", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--note", default="", help="what each variant is, for the report")
    return parser


def variants_lines(report: dict[str, Any]) -> list[str]:
    """The markdown lines naming a variants report's variants, and its note."""
    named = "; ".join(f"`{label}` = `{src}`" for label, src in report["variants"])
    lines = ["", f"Variants: {named}"]
    return lines + (["", report["note"]] if report["note"] else [])


def parse_variants(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments of a :func:`variants_parser` (a usage error below two variants)."""
    args = parser.parse_args()
    if len(args.variant) < 2:
        parser.error("give at least two --variant")
    return args


def variants_report(script: str, args: argparse.Namespace) -> dict[str, Any]:
    """The start of a variants benchmark's report: its command, start time, machine, variants,
    rounds and note (the caller adds its own settings, ``results`` and ``seconds``)."""
    return {
        "command": f"python benchmarks/{script} " + shlex.join(sys.argv[1:]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "variants": [(label, str(src)) for label, src in args.variant],
        "rounds": args.rounds,
        "note": args.note,
    }


def variants_rows(
    report: dict[str, Any],
    keys: Sequence[str],
    metric: str,
    cells: Callable[[str, str, dict[str, Any], float], str],
) -> list[str]:
    """A variants report's table rows: for each of ``keys`` (phases, endpoints), every variant's
    medians as ``cells(key, label, medians, ratio)`` makes them, ``ratio`` being its ``metric``
    against the first variant's."""
    medians = report["results"]["medians"]
    labels = [label for label, _ in report["variants"]]
    rows = []
    for key in keys:
        base = medians[labels[0]][key][metric]
        for label in labels:
            row = medians[label][key]
            rows.append(cells(key, label, row, row[metric] / base if base else float("nan")))
    return rows
