"""Building a simulated shop and pushing it through the collector.

:func:`simulate` draws the catalog, the customers and every customer's events from one seeded
generator and returns a :class:`SimulatedShop`: catalog rows, events sorted by time (plain dicts,
exactly what a client would POST) and the ground truth. :func:`load` hands the shop to two
callables, one that upserts catalog rows and one that ingests a batch of events, so the simulator
never touches the store itself and goes through the same validation and dedupe as real traffic.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from shopwise.errors import InvalidInput
from shopwise.simulate._catalog import Catalog, build_catalog
from shopwise.simulate._config import SimulationConfig
from shopwise.simulate._customers import (
    TYPE_PARAMS,
    CustomerTruth,
    CustomerType,
    build_customers,
)
from shopwise.simulate._sessions import Record, customer_events
from shopwise.simulate._traffic import SessionModel, view_affinity
from shopwise.simulate._vocab import DEPARTMENTS, complement_leaves

BATCH_SIZE = 500
"""Events (and catalog rows) per call in :func:`load`: the collector's batch limit."""


@dataclass(frozen=True)
class ShopTruth:
    """Ground truth of a simulated shop beyond the catalog rows.

    Attributes
    ----------
    customers
        Truth per customer, by ``customer_id``.
    owner_of_anonymous_id
        Which customer each anonymous id belongs to (the answer identity stitching should find).
    product_category
        Leaf category label of each product id.
    product_popularity
        Latent log-popularity of each product id.
    product_quality
        Latent quality of each product id (drives carts and review ratings).
    product_brand, product_price
        Brand and list price of each product id (as in the catalog rows).
    sale_window
        First and last sale day as ISO dates, or ``None`` without a sale.
    category_complements
        For each leaf category label, the leaf labels whose products go with it (from
        :data:`~shopwise.simulate.COMPLEMENT_PAIRS`; symmetric, never the leaf itself).
    complements
        For each product id, the ids of the products that go with it: every product of its
        complementary leaves. Shoppers look at and add these after a product, so baskets hold
        such pairs far more often than chance; a complementary-products list is judged on them.
    """

    customers: dict[str, CustomerTruth]
    owner_of_anonymous_id: dict[str, str]
    product_category: dict[str, str]
    product_popularity: dict[str, float]
    product_quality: dict[str, float]
    product_brand: dict[str, str]
    product_price: dict[str, float]
    sale_window: tuple[str, str] | None
    category_complements: dict[str, tuple[str, ...]]
    complements: dict[str, frozenset[str]]

    def favourite_categories(self, customer_id: str, k: int = 3) -> list[str]:
        """The ``k`` leaf categories ``customer_id`` browses most, best first."""
        return self.customers[customer_id].favourite_categories(k)

    def view_distribution(self, customer_id: str) -> dict[str, float]:
        """Probability that one product view of ``customer_id`` lands on each product.

        This is the distribution the simulator draws views from on a normal (non-sale) day:
        the customer's taste for each leaf category times a softmax, within the category, of
        popularity, quality, brand affinity and price against budget. It ignores launch dates
        and search terms, so it is the target a recommender would ideally recover.

        Parameters
        ----------
        customer_id
            A customer's ``user_id``.

        Returns
        -------
        dict[str, float]
            Probability per product id (sums to 1).
        """
        c = self.customers[customer_id]
        ids = list(self.product_category)
        labels = [self.product_category[i] for i in ids]
        median = {leaf.label: leaf.median_price for d in DEPARTMENTS for leaf in d.leaves}
        logits = view_affinity(
            popularity=np.array([self.product_popularity[i] for i in ids]),
            quality=np.array([self.product_quality[i] for i in ids]),
            brand_taste=np.array([c.brand_taste[self.product_brand[i]] for i in ids]),
            relative_price=np.array(
                [self.product_price[i] / median[lb] for i, lb in zip(ids, labels, strict=True)]
            ),
            budget=c.budget,
            sensitivity=c.price_sensitivity,
            brand_beta=TYPE_PARAMS[c.customer_type].brand_beta,
        )
        weight = np.zeros(len(ids))
        label_array = np.array(labels)
        for label in set(labels):
            mine = np.flatnonzero(label_array == label)
            soft = np.exp(logits[mine] - logits[mine].max())
            weight[mine] = c.category_taste[label] * soft / soft.sum()
        weight /= weight.sum()
        return {i: float(w) for i, w in zip(ids, weight, strict=True)}

    def customers_of_type(self, kind: CustomerType | str) -> list[str]:
        """Ids of the customers whose latent type is ``kind``."""
        wanted = CustomerType(kind)
        return [cid for cid, c in self.customers.items() if c.customer_type is wanted]


@dataclass(frozen=True)
class SimulatedShop:
    """A simulated shop: what to load into the engine, and what is secretly true about it.

    Attributes
    ----------
    config
        The config it was built from.
    products
        Catalog rows (id, title, description, category path, brand, price, sale_price, currency,
        stock, tags, image_url, created_at, attributes). ``sale_price`` is the markdown applied
        during the sale window (events in the window carry it); ``stock`` is the level at the
        end of the period (0 for products that sold out).
    events
        Event envelopes as JSON-able dicts, sorted by timestamp.
    customers
        Ground truth per customer, in customer id order.
    truth
        Ground truth lookups (identity, tastes, latent product columns).
    """

    config: SimulationConfig
    products: list[dict[str, Any]]
    events: list[dict[str, Any]]
    customers: list[CustomerTruth]
    truth: ShopTruth


class Loadable(Protocol):
    """Anything with catalog rows and events: a :class:`SimulatedShop` or a dataset import."""

    @property
    def products(self) -> list[dict[str, Any]]: ...

    @property
    def events(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load` pushed: counts and the ingest callable's answer for every batch."""

    products: int
    events: int
    batches: int
    responses: list[object]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _message_ids(rng: np.random.Generator, count: int) -> list[str]:
    """Random UUID-4-shaped ids, reproducible from the generator."""
    raw = rng.bytes(16 * count).hex()
    out = []
    for k in range(count):
        h = raw[32 * k : 32 * k + 32]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}")
    return out


def _finish(records: list[Record], rng: np.random.Generator) -> list[dict[str, Any]]:
    records.sort(key=lambda r: (r[0], r[1], r[2]))
    ids = _message_ids(rng, len(records))
    events = []
    for (moment, _, _, event), message_id in zip(records, ids, strict=True):
        event["message_id"] = message_id
        event["timestamp"] = _iso(moment)
        events.append(event)
    return events


def _truth(config: SimulationConfig, catalog: Catalog, customers: list[CustomerTruth]) -> ShopTruth:
    owners = {anon: c.customer_id for c in customers for anon in c.anonymous_ids}
    sale = None
    if config.sale_start_day is not None:
        first = config.start.toordinal() + config.sale_start_day
        last = first + config.sale_days - 1
        sale = (
            datetime.fromordinal(first).date().isoformat(),
            datetime.fromordinal(last).date().isoformat(),
        )
    leaf_label = [catalog.leaves[int(j)].label for j in catalog.leaf]
    return ShopTruth(
        customers={c.customer_id: c for c in customers},
        owner_of_anonymous_id=owners,
        product_category=dict(zip(catalog.ids, leaf_label, strict=True)),
        product_popularity={
            i: float(p) for i, p in zip(catalog.ids, catalog.popularity, strict=True)
        },
        product_quality={i: float(q) for i, q in zip(catalog.ids, catalog.quality, strict=True)},
        product_brand={row["id"]: row["brand"] for row in catalog.rows},
        product_price={row["id"]: row["price"] for row in catalog.rows},
        sale_window=sale,
        category_complements=complement_leaves(),
        complements=_product_complements(catalog),
    )


def _product_complements(catalog: Catalog) -> dict[str, frozenset[str]]:
    by_leaf = [frozenset(catalog.ids[int(i)] for i in m) for m in catalog.leaf_members]
    per_leaf = [
        frozenset().union(*(by_leaf[int(j)] for j in mates)) for mates in catalog.leaf_complements
    ]
    return {pid: per_leaf[int(j)] for pid, j in zip(catalog.ids, catalog.leaf, strict=True)}


def simulate(config: SimulationConfig) -> SimulatedShop:
    """Build a simulated shop, reproducibly from ``config.seed``.

    Parameters
    ----------
    config
        Size, period, sale window and seed of the shop.

    Returns
    -------
    SimulatedShop
        Catalog rows, time-sorted events and ground truth. The same config always gives an
        identical shop.
    """
    # Half a million small dicts make the cyclic collector rescan the growing heap again and
    # again, much of the run time; nothing built here forms a cycle, so pause it.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _simulate(config)
    finally:
        if paused:
            gc.enable()


def _simulate(config: SimulationConfig) -> SimulatedShop:
    root = np.random.default_rng(config.seed)
    catalog_rng, customer_rng, session_rng, id_rng = root.spawn(4)
    catalog = build_catalog(config, catalog_rng)
    customers = build_customers(config, catalog, customer_rng)
    model = SessionModel(config, catalog)
    records: list[Record] = []
    for customer, rng in zip(customers, session_rng.spawn(len(customers)), strict=True):
        records.extend(customer_events(model, customer, rng))
    truths = [c.truth(catalog) for c in customers]
    return SimulatedShop(
        config=config,
        products=catalog.rows,
        events=_finish(records, id_rng),
        customers=truths,
        truth=_truth(config, catalog, truths),
    )


def load(
    shop: Loadable,
    ingest: Callable[[list[dict[str, Any]]], object],
    upsert_products: Callable[[list[dict[str, Any]]], object],
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> LoadResult:
    """Push a simulated shop (or a dataset import) through the catalog and ingestion services.

    Products go first (so events refer to known products), then events in time order. The event
    dicts are passed as they are, not copied: ``ingest`` must not modify them.

    Parameters
    ----------
    shop
        The shop from :func:`simulate`, or anything with ``products`` and ``events`` (such as
        :class:`shopwise.collect.adapters.UciImport`).
    ingest
        Takes one batch of event dicts (at most ``batch_size``) and returns the collector's answer.
    upsert_products
        Takes one batch of catalog rows (its answer is ignored).
    progress
        Called after every batch with ``(done, total)``, counting products and events together.
    batch_size
        Items per call, 1 to 500.

    Returns
    -------
    LoadResult
        Counts and the answer of every ingest call.
    """
    if not 1 <= batch_size <= BATCH_SIZE:
        msg = f"batch_size must be between 1 and {BATCH_SIZE}, got {batch_size}"
        raise InvalidInput(msg)
    total = len(shop.products) + len(shop.events)
    done = 0
    batches = 0
    for k in range(0, len(shop.products), batch_size):
        rows = shop.products[k : k + batch_size]
        upsert_products(rows)
        done += len(rows)
        batches += 1
        if progress is not None:
            progress(done, total)
    responses: list[object] = []
    for k in range(0, len(shop.events), batch_size):
        batch = shop.events[k : k + batch_size]
        responses.append(ingest(batch))
        done += len(batch)
        batches += 1
        if progress is not None:
            progress(done, total)
    return LoadResult(
        products=len(shop.products), events=len(shop.events), batches=batches, responses=responses
    )
