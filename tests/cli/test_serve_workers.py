"""``shopwise serve --workers 2``: two API processes on one port, one running the consumers.

Runs the real command as a subprocess on a free port over a temporary data directory (the
embedded store and bus), sends events and reads recommendations through the shared port, and
stops it with SIGTERM as a process manager would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopwise.auth import KeyKind
from shopwise.runtime import Runtime
from shopwise.settings import Settings

pytestmark = pytest.mark.slow

START_SECONDS = 60.0
"""How long two workers may take to import the serving stack on a loaded machine."""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    write: dict[str, str]
    secret: dict[str, str]
    log_path: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (read from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _worker_logs(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("msg") == "serve worker started"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data_dir = tmp_path / "var"
    runtime = Runtime.build(Settings(data_dir=data_dir, log_level="WARNING"), migrate=True)
    write = runtime.keys.create(KeyKind.WRITE)[1]
    secret = runtime.keys.create(KeyKind.SECRET)[1]
    runtime.catalog.upsert(
        [{"id": f"p{i}", "title": f"Product {i}", "price": 10 + i} for i in range(5)]
    )
    runtime.engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "SHOPWISE_DATA_DIR": str(data_dir),
        "SHOPWISE_LOG_LEVEL": "INFO",
        "SHOPWISE_API_CONSUMERS": "true",
    }
    env.pop("SHOPWISE_REDIS_URL", None)
    env.pop("SHOPWISE_DATABASE_URL", None)
    command = [str(Path(sys.executable).parent / "shopwise"), "serve", "--workers", "2"]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while len(_worker_logs(log_path)) < 2 or not _healthy(url):
            assert process.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.2)
        yield Server(
            process,
            url,
            {"Authorization": f"Bearer {write}"},
            {"Authorization": f"Bearer {secret}"},
            log_path,
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _view(anonymous_id: str, product_id: str) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": "product_viewed",
        "anonymous_id": anonymous_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": {"product_id": product_id},
    }


def test_two_workers_share_the_port_and_one_runs_the_consumers(server: Server) -> None:
    workers = _worker_logs(server.log_path)
    pids = {line["worker_pid"] for line in workers}
    assert len(pids) == 2
    assert pids <= _children(server.process.pid)  # both alive, children of the supervisor
    assert sorted(line["consumers"] for line in workers) == [False, True]

    for i in range(20):
        # a new connection each time, so the kernel hands them to either worker
        events = [_view(f"a-{i % 4}", f"p{i % 5}")]
        response = httpx.post(
            f"{server.url}/v1/events", json={"batch": events}, headers=server.write, timeout=10
        )
        assert response.status_code < 300, response.text
        answer = httpx.get(
            f"{server.url}/v1/recommendations",
            params={"placement": "home", "anonymous_id": f"a-{i % 4}"},
            headers=server.write,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"]

    # the one consumer folds every worker's events into profiles
    deadline = time.monotonic() + 20
    while True:
        profile = httpx.get(f"{server.url}/v1/profiles/a-3", headers=server.secret, timeout=10)
        if profile.status_code == 200:
            break
        assert time.monotonic() < deadline, profile.text
        time.sleep(0.2)
    assert pids <= _children(server.process.pid)  # no worker died serving

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    assert not pids & _children(server.process.pid)
