"""End-to-end fixtures: a real ``shopwise serve`` on 127.0.0.1, CLI-made keys, a lossy proxy,
and the same application served by uvicorn in a thread behind a fault injector.

The SDK tests talk to the server the way a shop's backend would, over TCP. The proxy sits between
an SDK and the server and can throw away a response after the server has committed the request,
which is exactly when an SDK retries a batch the server already holds. The in-thread server
(:class:`EdgeServer`) gives the tests its runtime (to revoke keys, drain rate-limit buckets) and
:class:`Faults`, which counts the Segment posts server-side and can replace the next bodies or
answer the next posts with a status of the test's choosing.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopwise.api import create_app
from shopwise.api._errors import speaks_segment
from shopwise.auth import KeyKind
from shopwise.runtime import Runtime
from shopwise.settings import Settings

NODE_DIR = Path(__file__).parent / "node"
"""The unmodified @segment/analytics-node SDK (``npm ci --prefix tests/compat/node``)."""


def node_with_sdk() -> str:
    """The ``node`` binary, once analytics-node is installed; skips the test otherwise."""
    node = shutil.which("node")
    if node is None:
        pytest.skip(reason="node is not installed")
    if not (NODE_DIR / "node_modules" / "@segment" / "analytics-node").is_dir():
        pytest.skip(reason=f"npm packages are missing: run 'npm ci' in {NODE_DIR}")
    return node


HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _shopwise() -> list[str]:
    script = Path(sys.executable).with_name("shopwise")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from shopwise.cli import main; main()"]


@dataclass
class LiveServer:
    """A running ``shopwise serve`` with a write and a secret key made by ``shopwise keys``."""

    url: str
    env: dict[str, str]
    write_key: str
    secret_key: str

    def get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.secret_key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body: dict[str, Any] = orjson.loads(response.read())
            return body

    def profile_events(self, any_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.get(f"/v1/profiles/{any_id}/events?limit=1000")[
            "events"
        ]
        return events

    def wait_for_events(
        self, any_id: str, count: int, timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """The profile's events once there are ``count`` (profiles are updated asynchronously)."""
        deadline = time.monotonic() + timeout
        events: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            with contextlib.suppress(urllib.error.HTTPError):
                events = self.profile_events(any_id)
                if len(events) >= count:
                    return events
            time.sleep(0.1)
        return events


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _create_keys(env: dict[str, str], kinds: tuple[str, ...]) -> list[str]:
    """Keys made with ``shopwise keys create`` (run side by side; each prints its key last)."""
    runs = [
        subprocess.Popen(
            [*_shopwise(), "keys", "create", "--kind", kind, "--name", f"compat {kind}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind in kinds
    ]
    keys = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        if run.returncode != 0:
            raise RuntimeError(f"shopwise keys create failed: {err}")
        keys.append(out.strip().splitlines()[-1].strip())
    return keys


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``shopwise serve`` over a fresh data directory, shared by the SDK tests of this folder."""
    data_dir = tmp_path_factory.mktemp("compat") / "var"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPWISE_")}
    env.update(
        SHOPWISE_DATA_DIR=str(data_dir),
        SHOPWISE_HOST=HOST,
        SHOPWISE_PORT=str(port),
        SHOPWISE_LOG_LEVEL="WARNING",
    )
    data_dir.mkdir(parents=True)
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen([*_shopwise(), "serve"], env=env, stdout=log, stderr=log)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"shopwise serve did not start; see {log.name}")
            time.sleep(0.05)
        write_key, secret_key = _create_keys(env, ("write", "secret"))
        yield LiveServer(url, env, write_key, secret_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        log.close()


class LossyProxy:
    """A TCP proxy to ``target`` that loses the first ``drop`` responses after they are written.

    The request reaches the server whole and the server answers (so the batch is committed);
    the proxy then closes the client's connection instead of passing the answer on. The client
    sees a network error and retries the same batch.
    """

    def __init__(self, target_port: int, drop: int = 1) -> None:
        self.target_port = target_port
        self.drop = drop
        self.dropped = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server((HOST, 0))
        self.port: int = self._listener.getsockname()[1]
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _take_drop(self) -> bool:
        with self._lock:
            if self.dropped < self.drop:
                self.dropped += 1
                return True
            return False

    def _pipe(self, client: socket.socket) -> None:
        upstream = socket.create_connection((HOST, self.target_port))
        try:
            while True:
                readable, _, _ = select.select([client, upstream], [], [], 30)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is upstream and self._take_drop():
                        return  # the answer is lost; the server has already committed
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self._stopping = True
        self._listener.close()


@pytest.fixture
def lossy_proxy(live_server: LiveServer) -> Iterator[LossyProxy]:
    """A proxy to the live server that loses the first response (forcing one SDK retry)."""
    proxy = LossyProxy(int(live_server.url.rsplit(":", 1)[1]), drop=1)
    yield proxy
    proxy.close()


class Faults:
    """A test-only ASGI wrapper: counts Segment posts and injects the faults a test queues.

    ``bodies``: the next posts reach shopwise with this body instead of theirs (no content
    encoding), so shopwise's own 400 or 413 answers them. ``statuses``: the next posts are
    answered with this status before shopwise sees them, as a failing load balancer would.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.posts = 0
        self.bodies: list[bytes] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not speaks_segment(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        with self._lock:
            self.posts += 1
            status = self.statuses.pop(0) if self.statuses else None
            body = self.bodies.pop(0) if self.bodies and status is None else None
        if status is not None:
            await Response(b"injected", status_code=status)(scope, receive, send)
        elif body is not None:
            await self.app(*_with_body(scope, body), send)
        else:
            await self.app(scope, receive, send)


def _with_body(scope: Scope, body: bytes) -> tuple[Scope, Receive]:
    dropped = (b"content-length", b"content-encoding")
    kept = [(k, v) for k, v in scope["headers"] if k not in dropped]
    headers = [*kept, (b"content-length", str(len(body)).encode())]
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return {**scope, "headers": headers}, receive


async def _raise(_request: Any) -> Response:
    raise RuntimeError("a bug in a route (test)")


RAISING_ROUTE = "/test/raise"
"""A route of the in-thread server that raises an unexpected exception."""


@dataclass
class EdgeServer(LiveServer):
    """shopwise served by uvicorn in this process, behind :class:`Faults`."""

    runtime: Runtime
    faults: Faults

    def new_key(self, kind: KeyKind = KeyKind.WRITE) -> tuple[str, str]:
        """A new key's id and plaintext."""
        key, plaintext = self.runtime.keys.create(kind)
        return key.id, plaintext


@pytest.fixture(scope="package")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeServer]:
    """The application in a thread, shared by the tests of this folder; keys refill slowly
    (one every two seconds) so that a test can drain one key's bucket and see a real 429."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("edge") / "var",
        log_level="ERROR",
        rate_limit_per_second=0.5,
        rate_limit_burst=1000,
    )
    runtime = Runtime.build(settings, migrate=True)
    app = create_app(settings, runtime)
    app.add_route(RAISING_ROUTE, _raise, methods=["GET"])
    faults = Faults(app)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(faults, host=HOST, port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the in-thread server did not start")
        time.sleep(0.02)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPWISE_")}
    secret = runtime.keys.create(KeyKind.SECRET)[1]
    write = runtime.keys.create(KeyKind.WRITE)[1]
    try:
        yield EdgeServer(f"http://{HOST}:{port}", env, write, secret, runtime, faults)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
