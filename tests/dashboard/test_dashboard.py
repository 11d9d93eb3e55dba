"""The dashboard over HTTP: the admin-key login and its cookie, every page with data, the rules
editor's refusals, promote and rollback, and the audit of every personal-data view."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from tests.dashboard.helpers import EXPERIMENT, FilledShop

from shopwise.api.dashboard._session import COOKIE
from shopwise.auth import KeyKind
from shopwise.worker import list_models

LOGIN = "/dashboard/login"


def _login(client: TestClient, key: str) -> None:
    client.cookies.clear()
    answer = client.post(LOGIN, data={"api_key": key}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard"


def _actions(filled: FilledShop) -> list[tuple[str, str | None]]:
    return [(entry.action, entry.subject) for entry in filled.runtime.audit.entries(limit=100_000)]


@pytest.mark.slow
def test_the_pages_need_a_login_and_only_an_admin_key_gets_one(filled: FilledShop) -> None:
    client = filled.client
    client.cookies.clear()
    assert client.get("/dashboard/models", follow_redirects=False).headers["location"] == LOGIN
    wrong = client.post(LOGIN, data={"api_key": "sw_admin_nope_nope"}, follow_redirects=False)
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert "unknown or revoked API key" in wrong.text
    secret = client.post(LOGIN, data={"api_key": filled.secret_key}, follow_redirects=False)
    assert secret.status_code == 403 and "set-cookie" not in secret.headers

    accepted = client.post(LOGIN, data={"api_key": filled.admin_key}, follow_redirects=False)
    assert accepted.status_code == 303
    cookie = accepted.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert filled.admin_key not in cookie  # the cookie names the key's id, never the key
    assert client.get("/dashboard").status_code == 200


def test_a_forged_or_revoked_session_and_a_logout_end_in_the_login_form(
    filled: FilledShop,
) -> None:
    client = filled.client
    _login(client, filled.admin_key)
    token = client.cookies[COOKIE]
    body, _, signature = token.partition(".")
    client.cookies.clear()
    client.cookies.set(COOKIE, f"{body}.{signature[::-1]}")
    assert signature[::-1] != signature
    assert client.get("/dashboard", follow_redirects=False).status_code == 303

    key, plaintext = filled.runtime.keys.create(KeyKind.ADMIN, name="short-lived")
    _login(client, plaintext)
    assert client.get("/dashboard/jobs").status_code == 200
    filled.runtime.keys.revoke(key.id)
    assert client.get("/dashboard/jobs", follow_redirects=False).status_code == 303

    _login(client, filled.admin_key)
    out = client.post("/dashboard/logout", follow_redirects=False)
    assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_a_form_posted_from_another_site_is_refused(filled: FilledShop) -> None:
    client = filled.client
    _login(client, filled.admin_key)
    answer = client.post(
        "/dashboard/drift/check", headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert answer.status_code == 403
    assert "origin" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/dashboard", ["Click-through rate per placement", "Impressions per variant", "home"]),
        ("/dashboard/experiments", [EXPERIMENT, "running"]),
        (f"/dashboard/experiments/{EXPERIMENT}", ["ctr per variant", "Units per variant"]),
        ("/dashboard/models", ["Recommender holdout metrics per version", "NDCG@10", "Promote"]),
        ("/dashboard/jobs", ["Run duration per job", "kpis", "succeeded"]),
        ("/dashboard/segments", ["Segment sizes", "current sizes"]),
        ("/dashboard/journeys", ["cart_abandonment", "Recent messages"]),
        ("/dashboard/privacy", ["export", "completed", "privacy.export"]),
        ("/dashboard/ingestion", ["invalid_envelope", "Events by outcome"]),
        ("/dashboard/editor", ["live version", "Preview a shopper"]),
    ],
)
def test_every_page_renders_with_data(filled: FilledShop, path: str, expected: list[str]) -> None:
    _login(filled.client, filled.admin_key)
    answer = filled.client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    for text in expected:
        assert text in answer.text, text


def test_the_charts_carry_the_served_kpis(filled: FilledShop) -> None:
    _login(filled.client, filled.admin_key)
    html = filled.client.get("/dashboard").text
    assert '<script src="/dashboard/static/plotly.min.js"></script>' in html
    figures = re.findall(r'<script type="application/json" id="chart-\d+">(.*?)</script>', html)
    assert len(figures) >= 7
    impressions = sum(
        value
        for value in map(float, re.findall(r'"y":\[([\d.]+)', figures[0]))  # first bucket only
    )
    assert impressions > 0


def test_plotly_is_served_from_the_python_package_and_the_root_points_the_way(
    filled: FilledShop,
) -> None:
    client = filled.client
    plotly = client.get("/dashboard/static/plotly.min.js")
    assert plotly.status_code == 200 and plotly.headers["content-type"].startswith("text/javascr")
    assert b"plotly" in plotly.content[:2000].lower()
    assert client.get("/dashboard/static/nothing.js").status_code == 404
    root = client.get("/")
    assert root.status_code == 200
    for link in ('href="/dashboard"', 'href="/demo"', 'href="/docs"'):
        assert link in root.text


def test_the_editor_refuses_an_invalid_rule_set_naming_the_field(filled: FilledShop) -> None:
    client, rt = filled.client, filled.runtime
    _login(client, filled.admin_key)
    before = rt.rules.live().version
    bad = "rules:\n  - name: big\n    type: boost\n    match: {}\n    factor: not-a-number\n"
    for action in ("validate", "save"):
        answer = client.post("/dashboard/editor/rules", data={"yaml": bad, "action": action})
        assert answer.status_code == 400
        assert '<code class="field">rules.0.boost.factor</code>' in answer.text, answer.text
        assert "factor: not-a-number" in answer.text  # the draft stays in the editor
    unparsable = client.post("/dashboard/editor/rules", data={"yaml": "a: [", "action": "save"})
    assert unparsable.status_code == 400 and "YAML does not parse" in unparsable.text
    assert rt.rules.live().version == before


def test_the_editor_saves_a_valid_rule_set_as_the_api_would(filled: FilledShop) -> None:
    client, rt = filled.client, filled.runtime
    _login(client, filled.admin_key)
    text = rt.rules.live().body
    checked = client.post("/dashboard/editor/rules", data={"yaml": text, "action": "validate"})
    assert checked.status_code == 200 and "valid; not saved yet" in checked.text
    saved = client.post("/dashboard/editor/rules", data={"yaml": text, "action": "save"})
    assert saved.status_code == 200
    version = rt.rules.live().version
    assert f"saved as version {version}" in saved.text
    assert ("rules.changed", str(version)) in _actions(filled)


def test_the_preview_shows_a_shoppers_slot_and_is_audited(filled: FilledShop) -> None:
    client, rt = filled.client, filled.runtime
    _login(client, filled.admin_key)
    form = {"placement": "home", "shopper": filled.shopper, "n": "5"}
    answer = client.post("/dashboard/preview", data=form)
    assert answer.status_code == 200, answer.text
    rows = re.findall(r"<tr><td>\d+</td><td><code>([^<]+)</code>", answer.text)
    assert 1 <= len(rows) <= 5 and all(pid in rt.catalog.snapshot() for pid in rows)
    profile = rt.profiles.canonical(filled.shopper)
    assert ("decision.previewed", profile) in _actions(filled)

    unknown = client.post("/dashboard/preview", data={**form, "shopper": "nobody-at-all"})
    assert unknown.status_code == 400 and '<code class="field">shopper</code>' in unknown.text
    bad = client.post("/dashboard/preview", data={**form, "placement": "Home Page!"})
    assert bad.status_code == 400 and '<code class="field">placement</code>' in bad.text


def test_promote_and_rollback_act_on_the_registry(filled: FilledShop) -> None:
    client, rt = filled.client, filled.runtime
    _login(client, filled.admin_key)
    versions = list_models(rt, "recommenders")
    assert len(versions) == 2
    other = next(m["version"] for m in versions if m["status"] != "champion")
    champion = rt.recommenders.champion()

    promoted = client.post(f"/dashboard/models/recommenders/{other}/promote")
    assert promoted.status_code == 200 and "is the champion now" in promoted.text
    assert rt.recommenders.champion() == other
    assert ("model.promoted", f"recommenders/{other}") in _actions(filled)

    rolled = client.post("/dashboard/models/recommenders/rollback")
    assert rolled.status_code == 200 and "rolled back to" in rolled.text
    assert rt.recommenders.champion() == champion
    assert ("model.rolled_back", f"recommenders/{champion}") in _actions(filled)

    unknown = client.post("/dashboard/models/recommenders/no-such-version/promote")
    assert unknown.status_code == 404 and "no recommenders version" in unknown.text


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("/dashboard/privacy", "privacy_requests.read"),
        ("/dashboard/privacy", "audit_log.read"),
        ("/dashboard/journeys", "messages.read"),
        ("/dashboard/ingestion", "dead_letters.read"),
    ],
)
def test_personal_data_views_are_audited_under_the_sessions_key(
    filled: FilledShop, path: str, action: str
) -> None:
    _login(filled.client, filled.admin_key)
    last = filled.runtime.audit.entries(limit=100_000)[-1].id
    assert filled.client.get(path).status_code == 200
    new = filled.runtime.audit.entries(after_id=last, limit=100)
    (operator,) = [key.id for key in filled.runtime.keys.list() if key.name == "operator"]
    assert any(e.action == action and e.actor == f"key:{operator}" for e in new), new
