"""The shoppers of the closed loop and how they choose among what they are shown.

:class:`Storefront` regenerates a simulated shop's catalog and customers from its
:class:`SimulationConfig` (the same seed gives the same products, customers and tastes as the shop
``simulate`` built and ``shopwise demo`` loaded) without simulating its history, and holds the
choice model the traffic simulator draws from: a shown product is clicked with a probability that
rises with its fit to the shopper's hidden tastes (category taste, brand affinity, price against
budget, popularity and quality: :func:`view_affinity` of the session model) and falls with its
position in the list; a clicked product goes into the cart by the session model's cart odds, lifted
by the shopper's taste for its category. This is the ground truth a better recommender earns more
against.
"""

from __future__ import annotations

import zlib
from typing import Final

import numpy as np

from shopwise.simulate._catalog import Catalog, FloatArray, IntArray, build_catalog
from shopwise.simulate._config import SimulationConfig
from shopwise.simulate._customers import Customer, build_customers
from shopwise.simulate._traffic import SessionModel

CLICK_BIAS: Final = -4.5
"""Log-odds of clicking a shown product of average fit at the top of a list."""
POSITION_DECAY: Final = 0.85
"""Each position further down a list multiplies the chance of being looked at by this."""
CART_TASTE_LIFT: Final = 0.5
"""Weight of the category taste in the odds of adding a clicked product to the cart."""
BANNER_BIAS: Final = -3.0
"""Log-odds of clicking a banner of average appeal."""
BANNER_SPREAD: Final = 0.6
"""Standard deviation of the hidden appeal of banners around ``BANNER_BIAS``."""


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


class Storefront:
    """A simulated shop's catalog, customers and choice model, without its event history.

    Parameters
    ----------
    config
        The config the served shop was simulated from (``shopwise demo`` uses
        ``SimulationConfig()`` or, with ``--quick``, ``SimulationConfig.quick()``; the start date
        does not change products, customers or tastes).
    """

    def __init__(self, config: SimulationConfig) -> None:
        # the same streams as ``simulate``: catalog first, then customers
        catalog_rng, customer_rng, _sessions, _ids = np.random.default_rng(config.seed).spawn(4)
        self.config = config
        self.catalog: Catalog = build_catalog(config, catalog_rng)
        self.customers: list[Customer] = build_customers(config, self.catalog, customer_rng)
        self.model = SessionModel(config, self.catalog)
        self.index = {pid: i for i, pid in enumerate(self.catalog.ids)}
        """Catalog position of each product id."""
        self.in_stock = np.array([row["stock"] > 0 for row in self.catalog.rows], dtype=bool)
        self._labels = len(self.catalog.leaves)
        self._stocked = np.array([m.size > 0 for m in self.catalog.leaf_members], dtype=bool)
        """Categories that have products (a shopper can browse there)."""

    def new_visitor(self, rng: np.random.Generator) -> Customer:
        """A shopper the shop has never seen: tastes, budget, consent and a fresh cookie, drawn
        like a customer's (their ``customer_id`` is never sent: they stay anonymous)."""
        one = self.config.model_copy(update={"n_customers": 1})
        return build_customers(one, self.catalog, rng)[0]

    def fit(self, customer: Customer, items: IntArray) -> FloatArray:
        """How well each product of ``items`` fits ``customer``: the log of their taste for its
        category against a uniform taste, plus the session model's view log-weight."""
        taste = customer.leaf_taste[self.catalog.leaf[items]] * self._labels
        view = self.model.view_logits(customer, sale=False)[items]
        return np.asarray(np.log(taste) + view, dtype=np.float64)

    def click_probability(self, customer: Customer, items: IntArray) -> FloatArray:
        """Chance that ``customer`` clicks each of ``items`` shown in this order."""
        examined = POSITION_DECAY ** np.arange(items.size, dtype=np.float64)
        return examined * _sigmoid(CLICK_BIAS + self.fit(customer, items))

    def cart_probability(self, customer: Customer, items: IntArray) -> FloatArray:
        """Chance that ``customer`` adds each of ``items`` to the cart once looking at it (zero
        for a sold-out product)."""
        taste = np.log(customer.leaf_taste[self.catalog.leaf[items]] * self._labels)
        odds = self.model.cart_logits(customer, sale=False)[items] + CART_TASTE_LIFT * taste
        return np.where(self.in_stock[items], _sigmoid(odds), 0.0)

    def banner_probability(self, name: str) -> float:
        """Chance that a shopper clicks the banner block ``name``: a hidden appeal per block,
        fixed by the shop's seed and the name, so a banner test has a true winner."""
        draw = np.random.default_rng([self.config.seed, zlib.crc32(name.encode())])
        appeal = BANNER_BIAS + BANNER_SPREAD * float(draw.standard_normal())
        return float(1.0 / (1.0 + np.exp(-appeal)))

    def pick_leaf(self, customer: Customer, rng: np.random.Generator) -> int:
        """A category to browse, drawn by the customer's taste among stocked categories."""
        weight = customer.leaf_taste * self._stocked
        return int(rng.choice(weight.size, p=weight / weight.sum()))

    def pick_product(self, customer: Customer, leaf: int, rng: np.random.Generator) -> int:
        """A product of ``leaf`` to look at, drawn by the customer's view weights."""
        members = self.catalog.leaf_members[leaf]
        logits = self.model.view_logits(customer, sale=False)[members]
        weight = np.exp(logits - logits.max())
        return int(members[int(rng.choice(members.size, p=weight / weight.sum()))])
