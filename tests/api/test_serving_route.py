"""``GET /v1/recommendations`` as a plain route: the query checked in the app's error format."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shopwise.api._json import JsonResponse
from shopwise.auth import KeyKind
from shopwise.runtime import Runtime
from shopwise.serving import RecommendationRequest, Served

URL = "/v1/recommendations"


def _headers(client: TestClient, kind: KeyKind = KeyKind.SECRET) -> dict[str, str]:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {runtime.keys.create(kind)[1]}"}


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("anonymous_id=a", "placement", "missing"),
        ("placement=Home!&anonymous_id=a", "placement", "string_pattern_mismatch"),
        ("placement=home&anonymous_id=a&n=0", "n", "greater_than_equal"),
        ("placement=home&anonymous_id=a&n=101", "n", "less_than_equal"),
        ("placement=home&anonymous_id=a&n=ten", "n", "int_parsing"),
        ("placement=home&user_id=" + "u" * 129, "user_id", "string_too_long"),
        ("placement=search&query=" + "q" * 513, "query", "string_too_long"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(
    client: TestClient, query: str, field: str, code: str
) -> None:
    response = client.get(f"{URL}?{query}", headers=_headers(client))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["request_id"]
    assert error["message"].startswith(f"{field}: ")
    assert error["details"][0]["field"] == field and error["details"][0]["code"] == code


def test_every_bad_parameter_is_listed(client: TestClient) -> None:
    error = client.get(f"{URL}?n=0", headers=_headers(client)).json()["error"]
    assert [d["field"] for d in error["details"]] == ["placement", "n"]


def test_identity_key_and_method_rules(client: TestClient) -> None:
    secret, write = _headers(client), _headers(client, KeyKind.WRITE)
    missing = client.get(f"{URL}?placement=home", headers=secret)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "missing_identity"
    assert client.get(f"{URL}?placement=product", headers=secret).status_code == 200
    assert client.get(f"{URL}?placement=home&user_id=u", headers=write).status_code == 403
    assert client.get(f"{URL}?placement=home&anonymous_id=a").status_code == 401
    post = client.post(f"{URL}?placement=home&anonymous_id=a", headers=secret)
    assert post.status_code == 405 and post.json()["error"]["code"] == "method_not_allowed"


def test_repeated_cart_items_are_all_kept(client: TestClient) -> None:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    seen: list[RecommendationRequest] = []
    original = runtime.recommendations.recommend

    def spy(request: RecommendationRequest) -> Served:
        seen.append(request)
        return original(request)

    runtime.recommendations.recommend = spy  # type: ignore[method-assign]
    query = "placement=cart&anonymous_id=a&cart=x&cart=y&n=3&unknown=1"
    response = client.get(f"{URL}?{query}", headers=_headers(client))
    assert response.status_code == 200 and response.json()["placement"] == "cart"
    assert seen[0].cart == ("x", "y") and seen[0].n == 3


def test_the_same_query_is_checked_against_each_key(client: TestClient) -> None:
    """A write key asking for a user_id a secret key asked for first is still refused, and a
    query without an identity is refused each time."""
    query = f"{URL}?placement=home&user_id=u-asked"
    assert client.get(query, headers=_headers(client)).status_code == 200
    assert client.get(query, headers=_headers(client, KeyKind.WRITE)).status_code == 403
    assert client.get(query).status_code == 401
    missing = f"{URL}?placement=home&n=3"
    for _ in range(2):
        error = client.get(missing, headers=_headers(client)).json()["error"]
        assert error["code"] == "missing_identity"


def test_the_rendered_answer_is_sent_with_the_json_response_headers(client: TestClient) -> None:
    response = client.get(f"{URL}?placement=home&anonymous_id=a", headers=_headers(client))
    assert response.status_code == 200
    expected = JsonResponse(response.json())
    assert response.headers["content-type"] == expected.headers["content-type"]
    assert int(response.headers["content-length"]) == len(response.content)
