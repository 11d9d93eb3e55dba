"""kill -9 between commit and delivery, and during a send: exactly one delivery is observed.

A child process enqueues and commits a message, then is killed with SIGKILL before it dispatches
(or while its send is in flight); a second process dispatches. The local receivers count what they
would act on: webhook idempotency keys, email Message-IDs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.journeys.conftest import Mailbox, Receiver

from shopwise.settings import Settings

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("_child.py")
ROOT = Path(__file__).parents[2]


def _start(mode: str, settings: Settings, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, str(CHILD), mode, settings.resolved_database_url]
    command += [str(settings.data_dir), *args]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "committed"
    return child


def _kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    if child.stdout is not None:
        child.stdout.close()


def _dispatch(settings: Settings, args: list[str], now: float | None = None) -> dict[str, Any]:
    args = [*args[:-1], "-" if now is None else str(now)]
    command = [sys.executable, str(CHILD), "dispatch", settings.resolved_database_url]
    done = subprocess.run(
        [*command, str(settings.data_dir), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _wait_for(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_webhook_killed_after_commit_is_delivered_once(
    engine: sa.Engine, backend_settings: Settings, receiver: Receiver
) -> None:
    args = ["9", "webhook", receiver.url, "crash-hook-1", "-"]
    _kill(_start("commit", backend_settings, *args))
    assert receiver.requests == []
    assert _dispatch(backend_settings, args)["delivered"] == 1
    assert _dispatch(backend_settings, args)["claimed"] == 0
    assert receiver.keys == {"crash-hook-1": 1}
    assert receiver.delivered() == {"crash-hook-1"}


def test_webhook_killed_during_the_send_is_delivered_once(
    engine: sa.Engine, backend_settings: Settings, receiver: Receiver
) -> None:
    args = ["9", "webhook", receiver.url, "crash-hook-2", "-"]
    receiver.hold.set()
    child = _start("inflight", backend_settings, *args)
    _wait_for(lambda: len(receiver.requests) == 1)
    _kill(child)
    receiver.hold.clear()
    receiver.release.set()
    # within the dead dispatcher's lease nobody sends; after it, the message is sent again
    assert _dispatch(backend_settings, args)["claimed"] == 0
    assert _dispatch(backend_settings, args, now=time.time() + 31)["delivered"] == 1
    assert len(receiver.requests) == 2
    assert receiver.delivered() == {"crash-hook-2"}  # the receiver drops the repeat by its key


def test_email_killed_after_commit_is_delivered_once(
    engine: sa.Engine, backend_settings: Settings, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    args = [str(port), "email", "ada@shop.example", "crash-mail-1", "-"]
    _kill(_start("commit", backend_settings, *args))
    assert box.messages == []
    assert _dispatch(backend_settings, args)["delivered"] == 1
    assert _dispatch(backend_settings, args)["claimed"] == 0
    assert len(box.messages) == 1 and len(box.message_ids) == 1


def test_email_killed_during_the_send_is_delivered_once(
    engine: sa.Engine, backend_settings: Settings, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.delay = 3.0
    args = [str(port), "email", "ada@shop.example", "crash-mail-2", "-"]
    child = _start("inflight", backend_settings, *args)
    _wait_for(lambda: len(box.messages) == 1)
    _kill(child)
    box.delay = 0.0
    assert _dispatch(backend_settings, args)["claimed"] == 0
    assert _dispatch(backend_settings, args, now=time.time() + 31)["delivered"] == 1
    assert len(box.messages) == 2
    assert len(box.message_ids) == 1  # one Message-ID: the repeat is the same email
