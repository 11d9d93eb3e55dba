"""The served product lists of the quick demo shop against the simulator's ground truth.

Shopwise issue 23: on the demo shop ``/v1/products/{id}/complementary`` looked unrelated to the
product (a tent gave a cleansing balm and a card game), because the simulated baskets followed
no notion of what goes together. The simulator now has one (``ShopTruth.complements``); this
module builds the quick demo shop the way ``shopwise demo --quick`` does (load it through the
collector, train the transition model), asks the API for a sample of products and scores the
answers against that truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.conftest import quick_demo

from shopwise.auth import KeyKind
from shopwise.simulate import SimulatedShop

SAMPLE = 60
"""Products asked for (drawn with a fixed seed among those the model was trained on)."""
K = 5
"""List length scored (precision at ``K``)."""


@dataclass
class Served:
    """What the API answered for the sampled products, and the shop it was built from."""

    shop: SimulatedShop
    complementary: dict[str, list[str]]
    similar: dict[str, list[str]]


def _ids(client: TestClient, path: str, headers: dict[str, str]) -> list[str]:
    response = client.get(path, params={"n": K}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["product_id"] for item in response.json()["items"]]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir: Path = tmp_path_factory.mktemp("complements") / "var"
    with quick_demo(data_dir, "transition") as (client, runtime, shop):  # the quick demo's model
        key = runtime.keys.create(KeyKind.SECRET)[1]  # a shop backend: no per-shopper limit
        headers = {"Authorization": f"Bearer {key}"}
        artifact = runtime.champion.get()
        assert artifact is not None
        trained = sorted(set(artifact.items.ids) & set(shop.truth.complements))
        rng = np.random.default_rng(23)
        sample = [
            str(p) for p in rng.choice(trained, size=min(SAMPLE, len(trained)), replace=False)
        ]
        yield Served(
            shop=shop,
            complementary={
                p: _ids(client, f"/v1/products/{p}/complementary", headers) for p in sample
            },
            similar={p: _ids(client, f"/v1/products/{p}/similar", headers) for p in sample},
        )


def chance_rate(shop: SimulatedShop) -> float:
    """Share of complements among all other products: the precision of a random list."""
    truth = shop.truth.complements
    others = len(truth) - 1
    return float(np.mean([len(mates) / others for mates in truth.values()]))


def complementary_precision(served: Served) -> float:
    """Mean over the sampled products of the share of their top ``K`` that go with them."""
    truth = served.shop.truth.complements
    return float(
        np.mean(
            [sum(p in truth[q] for p in got[:K]) / K for q, got in served.complementary.items()]
        )
    )


def same_department_share(served: Served) -> float:
    """Share of all served similar products in the query product's top-level category."""
    department: dict[str, str] = {row["id"]: row["category"][0] for row in served.shop.products}
    pairs = [(q, p) for q, got in served.similar.items() for p in got]
    return sum(department[q] == department[p] for q, p in pairs) / len(pairs)


@pytest.mark.slow
def test_the_sample_is_answered(served: Served) -> None:
    assert len(served.complementary) == SAMPLE
    assert sum(len(got) == K for got in served.similar.values()) >= 0.9 * SAMPLE


def test_served_complements_match_the_ground_truth_far_above_chance(served: Served) -> None:
    chance = chance_rate(served.shop)
    precision = complementary_precision(served)
    assert 0.0 < chance < 0.1
    assert precision >= 5 * chance, (precision, chance)


def test_similar_products_stay_in_the_department(served: Served) -> None:
    assert same_department_share(served) >= 0.8
