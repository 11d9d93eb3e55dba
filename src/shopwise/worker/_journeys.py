"""The journeys job of the worker: run the triggers every minute.

:func:`trigger_runner` wires :class:`~shopwise.journeys.TriggerRunner` to this runtime: the live
trigger sets, the catalog, the outbox's enqueue (the ``deliver-messages`` job sends what it
enqueues) and :class:`ServingPersonalizer`, through which a message's recommendations are served
like any answer on the ``email`` placement, so its ``recommendation_id`` is an exposure that clicks
and orders attribute to.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from shopwise.errors import NotFound
from shopwise.journeys import (
    Composer,
    Outbox,
    Recommended,
    Templates,
    TriggerRunner,
    deliver_audiences,
    trigger_store,
)
from shopwise.logs import Progress
from shopwise.runtime import Runtime
from shopwise.serving import RecommendationRequest
from shopwise.worker._scheduler import Job

JOURNEYS_SECONDS: Final = 60.0
"""How often the worker runs the triggers."""
JOURNEYS_JOB: Final = "journeys"
AUDIENCES_JOB: Final = "deliver-audiences"


class ServingPersonalizer:
    """A message's fresh products, served by this runtime's recommendations."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def recommend(self, profile_id: str, cart: Sequence[str], n: int) -> Recommended | None:
        identity = self._runtime.profiles.identity_of(profile_id)
        if identity is None:
            return None
        user_id, anonymous_id = identity
        request = RecommendationRequest(
            placement="email", n=n, user_id=user_id, anonymous_id=anonymous_id, cart=tuple(cart)
        )
        served = self._runtime.recommendations.recommend(request)
        return Recommended(served.recommendation_id, served.answer.product_ids)

    def complementary(self, product_id: str, n: int) -> Recommended | None:
        try:
            served = self._runtime.recommendations.similar(product_id, n, complementary=True)
        except NotFound:
            return None
        return Recommended(served.recommendation_id, served.answer.product_ids)


def trigger_runner(
    runtime: Runtime, outbox: Outbox | None = None, clock: Callable[[], float] = time.time
) -> TriggerRunner:
    """The triggers over ``runtime``'s store, enqueueing into ``outbox`` (the settings' one by
    default), with ``clock`` the clock of the store's writes."""
    settings = runtime.settings
    if outbox is None:
        outbox = Outbox.from_settings(settings, runtime.engine, runtime.consent, runtime.cipher)
    composer = Composer(
        runtime.catalog.snapshot,
        ServingPersonalizer(runtime),
        lambda: runtime.content.live().value,
        str(settings.shop_url),
    )
    return TriggerRunner(
        runtime.engine,
        trigger_store(runtime.engine),
        runtime.consent,
        runtime.cipher,
        runtime.catalog.snapshot,
        composer,
        Templates.of_data_dir(settings.data_dir),
        outbox.enqueue,
        settings.journeys_timezone,
        clock,
    )


def journeys_job(
    runtime: Runtime,
    every_seconds: float = JOURNEYS_SECONDS,
    clock: Callable[[], float] = time.time,
) -> Job:
    """Run the triggers (:meth:`TriggerRunner.run`) at the clock's present."""
    runner = trigger_runner(runtime, clock=clock)

    def run(_progress: Progress) -> dict[str, Any]:
        return runner.run(int(clock() * 1000)).public()

    return Job(JOURNEYS_JOB, every_seconds, run)


def audiences_job(runtime: Runtime, destination: str, every_seconds: float) -> Job:
    """Deliver the lookalike audience's changes and the bids to ``destination``
    (:func:`~shopwise.journeys.deliver_audiences`); waits for the customer models."""
    outbox = Outbox.from_settings(runtime.settings, runtime.engine, runtime.consent, runtime.cipher)
    customers = runtime.customers

    def waits_for() -> str | None:
        if customers.models.needs_training(math.inf):
            return "the customer models are not trained yet (the lookalike seed needs them)"
        return None

    def run(_progress: Progress) -> dict[str, Any]:
        audience = customers.audiences.lookalike_audience(customers.frames())
        delivered = deliver_audiences(
            runtime.engine, customers.audiences, audience, destination, outbox.enqueue
        )
        return delivered.public()

    return Job(AUDIENCES_JOB, every_seconds, run, waits_for=waits_for)
