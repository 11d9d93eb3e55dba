"""Erasure on the demo shop: 50 people erased through the API reach every table, file, model
artifact and cache; events sent for them afterwards are dropped; everyone else's answers stay."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.conftest import quick_demo

from shopwise.auth import KeyKind
from shopwise.recommend import RecommenderArtifact
from shopwise.recommend.candidates import KeepsUserRows
from shopwise.runtime import Runtime
from shopwise.simulate import SimulatedShop
from shopwise.simulate._customers import Customer
from shopwise.store import events, metadata

pytestmark = pytest.mark.slow  # loads the quick demo shop and trains the production model

ERASED = 50


@dataclass
class Demo:
    client: TestClient
    runtime: Runtime
    shop: SimulatedShop
    keys: dict[str, dict[str, str]]
    data_dir: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("erasure") / "var"
    with quick_demo(data_dir, "shopwise") as (client, runtime, shop):
        keys = {k.value: {"Authorization": f"Bearer {runtime.keys.create(k)[1]}"} for k in KeyKind}
        yield Demo(client, runtime, shop, keys, data_dir)


def _chosen(demo: Demo) -> tuple[list[Customer], list[str]]:
    """50 known customers the production model was trained on, and 30 devices of others."""
    artifact = demo.runtime.champion.get()
    assert isinstance(artifact, RecommenderArtifact)
    trained = set(artifact.profile_ids)
    erased = [
        c
        for c in demo.shop.customers
        if demo.runtime.profiles.canonical(c.customer_id) in trained
        and demo.runtime.profiles.get(c.customer_id) is not None
        and demo.runtime.profiles.get(c.customer_id).state.traits.get("email")  # type: ignore[union-attr]
    ][:ERASED]
    gone = {c.customer_id for c in erased}
    others = [a for c in demo.shop.customers if c.customer_id not in gone for a in c.anonymous_ids]
    return erased, others[:30]


def _answers(demo: Demo, devices: list[str]) -> dict[str, list[str]]:
    found = {}
    for device in devices:
        params = {"placement": "home", "anonymous_id": device, "n": 10}
        body = demo.client.get("/v1/recommendations", params=params, headers=demo.keys["secret"])
        assert body.status_code == 200
        found[device] = [item["product_id"] for item in body.json()["items"]]
    return found


def _files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


def test_fifty_people_erased_through_the_api_are_found_nowhere(demo: Demo) -> None:
    client, runtime = demo.client, demo.runtime
    erased, others = _chosen(demo)
    assert len(erased) == ERASED
    before = _answers(demo, others)
    people = {c.customer_id: runtime.rights.export(c.customer_id, "test") for c in erased}
    profiles = {p for document in people.values() for p in document["identities"]["profile_ids"]}
    anonymous = {a for document in people.values() for a in document["identities"]["anonymous_ids"]}
    emails = {c.email for c in erased}
    assert all(document["events"] for document in people.values())
    trained = runtime.champion.get()
    assert isinstance(trained, RecommenderArtifact)
    their_rows = [i for i, p in enumerate(trained.profile_ids) if p in profiles]
    assert len(their_rows) >= ERASED
    listed = runtime.precomputed.get()
    assert listed is not None
    assert len(profiles & set(runtime.candidate_lists.read_all(listed.model_version))) >= ERASED

    statuses = []
    for customer in erased:
        answer = client.post(
            f"/v1/privacy/erase/{customer.customer_id}", headers=demo.keys["secret"]
        )
        assert answer.status_code == 202 and answer.json()["status"] == "pending"
        statuses.append(answer.json()["request_id"])
    for request_id in statuses:
        found = client.get(f"/v1/privacy/requests/{request_id}", headers=demo.keys["secret"])
        assert found.json()["status"] == "verified", found.json()["details"]

    # every table, searched here independently of the verification
    users = [c.customer_id for c in erased]
    with runtime.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(sa.select(table)).mappings().all()
            flat = "\n".join(str(dict(row)) for row in rows)
            for needle in [*users, *emails, *anonymous]:
                assert needle not in flat, f"{needle} still in {table.name}"
    # every model artifact file, every version of every family
    for path in _files(demo.data_dir / "models"):
        data = path.read_bytes()
        for needle in [*users, *emails]:
            assert needle.encode() not in data, f"{needle} still in {path.name}"
    # the serving champion's per-user rows and lists, in memory
    artifact = runtime.champion.get()
    assert isinstance(artifact, RecommenderArtifact) and isinstance(artifact.model, KeepsUserRows)
    assert not profiles & set(artifact.profile_ids)
    knn = next(g for g in artifact.model.active if g.name == "sknn")  # type: ignore[attr-defined]
    assert knn.state.sessions[their_rows].nnz == 0
    precomputed = runtime.precomputed.get()
    assert precomputed is not None
    assert not profiles & set(runtime.candidate_lists.read_all(precomputed.model_version))
    assert not runtime.recommendations.holds(sorted(anonymous), users)
    assert not runtime.profiles.cache.holds([*users, *anonymous], profiles)

    # later events for them are dropped; everyone else is served as before
    late = [
        {
            "message_id": uuid.uuid4().hex,
            "type": "page_viewed",
            "user_id": user,
            "timestamp": datetime.now(UTC).isoformat(),
        }
        for user in users[:5]
    ]
    answer = client.post("/v1/events", json={"batch": late}, headers=demo.keys["secret"]).json()
    assert answer["accepted"] == 0 and answer["suppressed"] == 5
    with runtime.engine.connect() as conn:
        stored = conn.execute(sa.select(events.c.id).where(events.c.user_id.in_(users))).all()
    assert stored == []
    assert _answers(demo, others) == before


def test_privacy_routes_need_a_secret_key_and_a_known_person(demo: Demo) -> None:
    client = demo.client
    assert client.post("/v1/privacy/erase/nobody", headers=demo.keys["secret"]).status_code == 404
    assert client.get("/v1/privacy/export/nobody", headers=demo.keys["secret"]).status_code == 404
    someone = demo.shop.customers[-1].customer_id
    write = demo.keys["write"]
    assert client.post(f"/v1/privacy/erase/{someone}", headers=write).status_code == 403
    assert client.get(f"/v1/privacy/export/{someone}", headers=write).status_code == 403
    missing = client.get("/v1/privacy/requests/none", headers=demo.keys["secret"])
    assert missing.status_code == 404
    exported = client.get(f"/v1/privacy/export/{someone}", headers=demo.keys["secret"]).json()
    assert exported["format"] == "shopwise.person.v1" and exported["request_id"]
    actions = [e.action for e in demo.runtime.audit.entries(action="privacy.export")]
    assert actions
