"""The HTTP edge that browsers meet: CORS on the public routes, the answer to unexpected errors
(never a reset connection), and forwarded headers believed only from trusted proxies."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.compat.conftest import RAISING_ROUTE, EdgeServer

from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.runtime import Runtime
from shopwise.settings import Settings

SHOP = "https://shop.example"
PREFLIGHT = {"Origin": SHOP, "Access-Control-Request-Method": "POST"}
PUBLIC = [
    "/v1/events",
    "/v1/identify",
    "/v1/alias",
    "/v1/recommendations",
    "/v1/decide",
    "/v1/products/p-1/similar",
    "/v1/products/p-1/complementary",
    "/segment/v1/t",
    "/v1/batch",
]


def _client(tmp_path: Path, **options: object) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "var", log_level="WARNING", **options)  # type: ignore[arg-type]
    rt = Runtime.build(settings, migrate=True)
    with TestClient(create_app(settings, rt), client=("10.1.2.3", 50000)) as client:
        yield client


@pytest.fixture
def listed(tmp_path: Path) -> Iterator[TestClient]:
    """An app that lets the shop's origin in, behind a proxy at 10.0.0.0/8."""
    yield from _client(tmp_path, cors_origins=(SHOP,), trusted_proxies=("10.0.0.0/8",))


@pytest.mark.parametrize("path", PUBLIC)
def test_listed_origins_get_a_preflight_answer_on_every_public_route(
    listed: TestClient, path: str
) -> None:
    response = listed.options(path, headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SHOP
    assert response.headers["vary"] == "Origin"
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {
        "authorization",
        "content-type",
        "content-encoding",
        "x-retry-count",
        "anonymousid",
    } <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]
    assert int(response.headers["access-control-max-age"]) > 0


def test_unlisted_origins_and_private_routes_get_no_cors(listed: TestClient) -> None:
    refused = listed.options("/v1/events", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    # the private routes are not opened to any origin
    private = listed.options("/v1/profiles/u1", headers=PREFLIGHT)
    assert private.status_code == 405
    assert "access-control-allow-origin" not in private.headers
    # with a list set, the Segment routes follow it too
    segment = listed.post(
        "/segment/v1/t", content=b"{}", headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in segment.headers


def test_error_answers_carry_cors_headers_and_expose_retry_after(listed: TestClient) -> None:
    response = listed.post("/v1/events", content=b"[]", headers={"Origin": SHOP})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == SHOP
    exposed = response.headers["access-control-expose-headers"]
    assert "Retry-After" in exposed and "X-Request-ID" in exposed
    # the native routes keep their own error envelope only
    assert set(response.json()) == {"error"}


def test_by_default_only_the_segment_routes_answer_any_origin(tmp_path: Path) -> None:
    for client in _client(tmp_path):
        segment = client.options("/segment/v1/b", headers=PREFLIGHT)
        assert (segment.status_code, segment.headers["access-control-allow-origin"]) == (204, "*")
        native = client.options("/v1/events", headers=PREFLIGHT)
        assert native.status_code == 403
        assert "access-control-allow-origin" not in native.headers


def test_the_settings_host_comes_from_trusted_proxies_only(tmp_path: Path) -> None:
    forwarded = {"X-Forwarded-Host": "track.shop.example", "X-Forwarded-Proto": "https"}
    for client in _client(tmp_path, trusted_proxies=("10.0.0.0/8",)):
        key = client.app.runtime.keys.create(KeyKind.WRITE)[1]  # type: ignore[attr-defined]
        body = client.get(f"/segment/v1/projects/{key}/settings", headers=forwarded).json()
        segment_io = body["integrations"]["Segment.io"]
        assert (segment_io["protocol"], segment_io["apiHost"]) == (
            "https",
            "track.shop.example/segment/v1",
        )
        assert body["metrics"]["sampleRate"] == 0
    for client in _client(tmp_path / "untrusted", trusted_proxies=("192.168.0.0/16",)):
        key = client.app.runtime.keys.create(KeyKind.WRITE)[1]  # type: ignore[attr-defined]
        body = client.get(f"/segment/v1/projects/{key}/settings", headers=forwarded).json()
        segment_io = body["integrations"]["Segment.io"]
        assert (segment_io["protocol"], segment_io["apiHost"]) == ("http", "testserver/segment/v1")


def test_analytics_js_telemetry_is_received_and_discarded(listed: TestClient) -> None:
    response = listed.post("/segment/v1/m", content=b'{"series": []}', headers={"Origin": SHOP})
    assert response.status_code == 204


def test_an_unexpected_error_is_answered_and_the_connection_kept(edge_server: EdgeServer) -> None:
    """Regression: Starlette answered the 500 and then re-raised to uvicorn, which could reset
    the keep-alive connection; the next request on it must be answered."""
    host, port = edge_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", RAISING_ROUTE)
        failed = connection.getresponse()
        body = json.loads(failed.read())
        assert failed.status == 500
        assert body["error"]["code"] == "internal_error"
        assert body["error"]["request_id"] == failed.getheader("x-request-id")
        assert not failed.will_close
        sock = connection.sock
        connection.request("GET", "/healthz")
        after = connection.getresponse()
        after.read()
        assert after.status == 200
        assert connection.sock is sock  # the same connection answered
    finally:
        connection.close()


def test_an_unexpected_error_does_not_escape_the_app(tmp_path: Path) -> None:
    """Raised out of the app, the exception would reach the server (TestClient re-raises it)."""
    for client in _client(tmp_path):
        client.app.add_route(RAISING_ROUTE, _raising, methods=["GET"])  # type: ignore[attr-defined]
        response = client.get(RAISING_ROUTE, headers={"Origin": SHOP})
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"


async def _raising(_request: object) -> None:
    raise RuntimeError("a bug in a route (test)")
