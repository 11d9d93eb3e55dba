"""A small trained shop with something on every dashboard page, for the HTTP and browser tests.

``quick_demo`` (the quick simulated shop with the fast ``transition`` model) is filled the way a
running shop fills itself: an experiment started before the closed-loop traffic; the worker's
``kpis`` job run through its scheduler (so a job run is recorded); the segments trained, which
records their sizes as the customer-score job does; a drift check saved; a second recommender
version trained; one event refused into the dead letters and one export of a shopper. Everything
goes through the services, no row is written by hand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi.testclient import TestClient

from shopwise.auth import KeyKind
from shopwise.runtime import Runtime
from shopwise.simulate import SimulatedShop, SimulationConfig, TrafficSimulator
from shopwise.worker import Scheduler, drift_monitor, kpis_job, train_recommenders

EXPERIMENT = "home-popular"
VISITS = 60


@dataclass
class FilledShop:
    """The filled shop: its in-process client and runtime, and what the tests need to know."""

    client: TestClient
    runtime: Runtime
    admin_key: str
    secret_key: str
    shopper: str
    """An anonymous id of a simulated shopper with a profile."""


def fill(client: TestClient, runtime: Runtime, shop: SimulatedShop) -> FilledShop:
    """Fill the quick demo shop (see the module docstring)."""
    admin = runtime.keys.create(KeyKind.ADMIN, name="operator")[1]
    secret = runtime.keys.create(KeyKind.SECRET)[1]
    auth = {"Authorization": f"Bearer {admin}"}
    spec = {
        "id": EXPERIMENT,
        "placements": ["home"],
        "variants": [{"name": "control"}, {"name": "popular", "model_version": "popular"}],
        "primary_metric": "ctr",
    }
    assert client.post("/v1/experiments", json=spec, headers=auth).status_code == 201
    assert client.post(f"/v1/experiments/{EXPERIMENT}/start", headers=auth).status_code == 200
    # the test client speaks the HTTP client interface the simulator types as httpx's
    simulator = TrafficSimulator(client, SimulationConfig.quick(), secret, seed=1)  # type: ignore[arg-type]
    simulator.run(visits=VISITS)
    bad = {"batch": [{"type": "product_viewed", "anonymous_id": "a-bad"}]}
    client.post("/v1/events", json=bad, headers={"Authorization": f"Bearer {secret}"})
    time.sleep(1.2)  # serving's exposure log reaches the store within a second
    kpis = kpis_job(runtime)
    Scheduler(runtime.engine, [kpis]).run_once(kpis)
    runtime.customers.retrain(("segments",))  # records the segment sizes (the customer job's)
    drift_monitor(runtime).check(None)  # before the retraining, whose window covers the traffic
    train_recommenders(runtime, "transition", lambda _message: None)
    shopper = next(e["anonymous_id"] for e in shop.events if e.get("anonymous_id"))
    runtime.rights.export(shopper, "test")
    return FilledShop(client, runtime, admin, secret, shopper)
