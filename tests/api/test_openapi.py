"""The OpenAPI schema lists every route of the app, and the docs pages work offline."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount
from tests.test_readme import app_routes

from shopwise.api._openapi import ASSETS, PLAIN_OPERATIONS
from shopwise.api.serving import ShopperQuery
from shopwise.collect.tracking_api import CALL_TYPES

DOCS_PAGES = frozenset({"/openapi.json", "/docs", "/redoc"})

BODYLESS_POSTS = frozenset(
    {
        "/v1/dead-letters/replay",
        "/v1/profiles/{profile_id}/scores/refresh",
        "/v1/privacy/erase/{any_id}",
        "/v1/experiments/{experiment_id}/start",
        "/v1/experiments/{experiment_id}/stop",
    }
)
"""POST routes that are actions on their path alone and read no body."""


def _operations(client: TestClient) -> set[tuple[str, str]]:
    """(path, method) of every route of the app but the docs pages and their assets, CORS
    preflights and the routes a FastAPI router hides on purpose (``include_in_schema=False``);
    a plain Starlette route is always included."""
    found = set()
    for route in app_routes(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route, Mount) or route.path in DOCS_PAGES:
            continue
        if isinstance(route, APIRoute) and not route.include_in_schema:
            continue
        found |= {(route.path, m.lower()) for m in route.methods - {"HEAD", "OPTIONS"}}
    return found


def test_every_route_is_in_the_schema_with_its_methods(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    documented = {(path, method) for path, item in paths.items() for method in item}
    expected = _operations(client)
    assert ("/v1/events", "post") in expected and ("/segment/v1/t", "post") in expected
    assert sorted(expected - documented) == []
    assert sorted(documented - expected) == []


def test_post_routes_have_a_request_body(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    posts = {path for path, item in paths.items() if "post" in item}
    without = {path for path in posts if "requestBody" not in paths[path]["post"]}
    assert without == BODYLESS_POSTS
    assert "requestBody" in paths["/v1/catalog/products"]["put"]


def test_every_operation_documents_errors_and_security(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    error = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert responses["4XX"]["content"]["application/json"]["schema"] == error, path
            assert "422" not in responses, (path, method)
            assert "security" in operation, (path, method)
    envelope = schema["components"]["schemas"]["ErrorBody"]
    assert set(envelope["properties"]) == {"code", "message", "details", "request_id"}
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "basic"}
    assert {"basic": []} in schema["paths"]["/segment/v1/batch"]["post"]["security"]
    assert schema["paths"]["/healthz"]["get"]["security"] == []


def test_the_recommendations_route_documents_the_query_it_reads(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/recommendations"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == set(ShopperQuery.model_fields) >= {"placement", "n", "cart"}
    assert parameters["cart"]["schema"]["anyOf"][0]["type"] == "array"
    assert parameters["placement"]["required"] and not parameters["n"]["required"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Recommendations"}


def test_the_documented_answers_are_what_the_plain_routes_answer(
    client: TestClient, write_auth: dict[str, str]
) -> None:
    event = {
        "message_id": "m-1",
        "type": "page_viewed",
        "anonymous_id": "a-1",
        "timestamp": "2026-01-01T00:00:00Z",
    }
    answer = client.post("/v1/events", json={"batch": [event, {}]}, headers=write_auth).json()
    ingest = next(op for op in PLAIN_OPERATIONS if op.paths == ("/v1/events",))
    assert ingest.answer.model_validate(answer).accepted == 1
    success = client.post("/segment/v1/batch", json={"batch": []}, headers=write_auth).json()
    segment = next(op for op in PLAIN_OPERATIONS if "/segment/v1/batch" in op.paths)
    assert segment.answer.model_validate(success)


def test_the_docs_pages_load_everything_from_this_server(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert re.findall(r"https?://", html) == [], page
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(url.startswith(ASSETS) for url in assets), assets
        for url in assets:
            response = client.get(url)
            assert response.status_code == 200 and response.content, url
    assert "/openapi.json" in client.get("/docs").text


def test_the_segment_call_types_are_those_the_routes_take(client: TestClient) -> None:
    message = client.get("/openapi.json").json()["components"]["schemas"]["SegmentMessage"]
    types = message["properties"]["type"]["anyOf"][0]["enum"]
    assert tuple(types) == CALL_TYPES
