"""How the unmodified SDKs take shopwise's error answers on the Segment routes.

Each SDK (segment-analytics-python, rudder-sdk-python, @segment/analytics-node) sends one event to
the in-thread server while a real error stands in its way: a body shopwise cannot parse (400), a
revoked key (401), a body over the batch limit (413) or a drained rate-limit bucket (429 with
``Retry-After``). Posts are counted server-side. A 4xx other than 429 must be reported once
through the SDK's error callback and never retried (regression: rudder-sdk-python failed with
``KeyError('code')`` on our error envelope and retried a 401 four times); a 429 is retried after
the wait and the event lands once.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import orjson
import pytest
from tests.compat.conftest import NODE_DIR, EdgeServer, node_with_sdk

SDKS = ["segment", "rudderstack", "node"]
EXPECTED = {400: "malformed_json", 401: "unauthorized", 413: "payload_too_large"}
"""Status -> the ``code`` shopwise answers (and the Python SDKs report)."""


def _python_sdk(name: str, write_key: str, url: str, anon: str) -> list[Any]:
    module = pytest.importorskip(f"{name}.analytics")
    errors: list[Any] = []
    client = module.Client(
        write_key,
        host=f"{url}/segment",
        on_error=lambda error, _batch: errors.append(error),
        max_retries=8,
    )
    client.track(anonymous_id=anon, event="Product Viewed", properties={"product_id": "p-1"})
    client.flush()
    client.join()
    return errors


def _node_sdk(server: EdgeServer, write_key: str, anon: str) -> list[Any]:
    node = node_with_sdk()
    env = {
        **server.env,
        "SHOPWISE_URL": server.url,
        "SHOPWISE_WRITE_KEY": write_key,
        "SHOPWISE_ANON": anon,
    }
    run = subprocess.run(
        [node, "send_one.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    errors: list[Any] = orjson.loads(run.stdout.strip().splitlines()[-1])["errors"]
    return errors


def _require(sdk: str) -> None:
    """Skip now, before a fault is queued on the shared server, when ``sdk`` is not installed (a
    queued fault nobody consumes would be served to the next test)."""
    if sdk == "node":
        node_with_sdk()
    else:
        pytest.importorskip(f"{sdk}.analytics")


def _send_one(sdk: str, server: EdgeServer, write_key: str, anon: str) -> list[Any]:
    if sdk == "node":
        return _node_sdk(server, write_key, anon)
    return _python_sdk(sdk, write_key, server.url, anon)


def _assert_reported(sdk: str, errors: list[Any], status: int) -> None:
    assert len(errors) == 1, errors
    if sdk == "node":
        assert errors[0].startswith(f"delivery_failure: Error: [{status}]"), errors
        return
    error = errors[0]
    assert type(error).__name__ == "APIError", repr(error)  # not a KeyError
    assert (error.status, error.code) == (status, EXPECTED[status])


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize(
    ("status", "body"), [(400, b"{"), (413, b" " * (600 * 1024))], ids=["400", "413"]
)
def test_a_refused_body_is_reported_and_not_retried(
    edge_server: EdgeServer, sdk: str, status: int, body: bytes
) -> None:
    _require(sdk)
    _, write_key = edge_server.new_key()
    edge_server.faults.bodies.append(body)
    before = edge_server.faults.posts
    errors = _send_one(sdk, edge_server, write_key, f"{sdk}-{status}")
    _assert_reported(sdk, errors, status)
    assert edge_server.faults.posts - before == 1
    assert edge_server.faults.bodies == []


@pytest.mark.parametrize("sdk", SDKS)
def test_a_revoked_key_is_reported_and_not_retried(edge_server: EdgeServer, sdk: str) -> None:
    key_id, write_key = edge_server.new_key()
    edge_server.runtime.keys.revoke(key_id)
    before = edge_server.faults.posts
    errors = _send_one(sdk, edge_server, write_key, f"{sdk}-401")
    _assert_reported(sdk, errors, 401)
    assert edge_server.faults.posts - before == 1


@pytest.mark.parametrize("sdk", SDKS)
def test_a_rate_limited_batch_is_retried_after_the_wait_and_lands_once(
    edge_server: EdgeServer, sdk: str
) -> None:
    key_id, write_key = edge_server.new_key()
    edge_server.runtime.limits.per_key.take(key_id, cost=1000)  # the whole fresh bucket
    before, started = edge_server.faults.posts, time.monotonic()
    anon = f"{sdk}-429"
    errors = _send_one(sdk, edge_server, write_key, anon)
    assert errors == []
    assert edge_server.faults.posts - before >= 2
    if sdk != "rudderstack":  # rudder-sdk-python backs off on its own clock, ignoring the header
        assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    events = edge_server.wait_for_events(anon, 1)
    assert [e["type"] for e in events] == ["product_viewed"]


def test_segment_error_answers_carry_segments_fields_and_ours(edge_server: EdgeServer) -> None:
    """The body the SDKs parse: top-level ``success``, ``code``, ``message`` beside ``error``."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        edge_server.url + "/segment/v1/batch", data=b"{}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    body = orjson.loads(raised.value.read())
    assert raised.value.code == 401
    assert body["success"] is False
    assert (body["code"], body["message"]) == (body["error"]["code"], body["error"]["message"])
    assert body["code"] == "unauthorized"
