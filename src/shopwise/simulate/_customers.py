"""Simulated customers: latent types, tastes, budgets, devices and consent.

Every customer gets a latent type (bargain hunter, loyal high spender, browser, one-off, lapsed)
that sets how often they visit, how much they browse and how readily they buy; a taste over leaf
categories (concentrated on one or two departments) and over brands; a budget and a price
sensitivity; one to three devices, each with its own cookie (``anonymous_id``); and the consent
they give. :class:`CustomerTruth` is the public ground truth; :class:`Customer` adds the arrays the
session model needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from shopwise.simulate._catalog import Catalog, FloatArray
from shopwise.simulate._config import SimulationConfig
from shopwise.simulate._vocab import (
    DEPARTMENTS,
    FIRST_NAMES,
    LAST_NAMES,
    LOCALE_SHARES,
    LOCALES,
    USER_AGENTS,
)


class CustomerType(StrEnum):
    """The latent behaviour types of simulated customers."""

    BARGAIN_HUNTER = "bargain_hunter"
    LOYAL_HIGH_SPENDER = "loyal_high_spender"
    BROWSER = "browser"
    ONE_OFF = "one_off"
    LAPSED = "lapsed"


@dataclass(frozen=True)
class TypeParams:
    """Behaviour parameters of one customer type.

    Attributes
    ----------
    share
        Share of customers of this type.
    sessions_per_day
        Mean own visits a day on an average weekday (one-off customers ignore it).
    views_per_intent
        Mean product views per browsed category.
    cart_bias
        Log-odds of adding a viewed product to the cart before quality, brand and price.
    checkout_prob
        Probability that a visit with a non-empty cart goes to checkout (raised in the sale).
    sensitivity
        Range of the price sensitivity drawn per customer.
    budget_log_mean
        Mean log budget (budget 1.0 = a category's median price).
    taste_alpha
        Dirichlet concentration over departments; smaller means more focused tastes.
    brand_beta
        How much brand affinity steers which products are viewed (brand loyalty).
    sale_boost
        Multiplier of the visit rate on sale days.
    email_open, email_click
        Probability of opening a campaign mail, and of clicking through once opened.
    login_early
        Probability that a logged-out visitor logs in at the start of a visit (else at checkout).
    refund_factor
        Multiplier of the shop's refund rate.
    """

    share: float
    sessions_per_day: float
    views_per_intent: float
    cart_bias: float
    checkout_prob: float
    sensitivity: tuple[float, float]
    budget_log_mean: float
    taste_alpha: float
    brand_beta: float
    sale_boost: float
    email_open: float
    email_click: float
    login_early: float
    refund_factor: float


TYPE_PARAMS: dict[CustomerType, TypeParams] = {
    CustomerType.BARGAIN_HUNTER: TypeParams(
        share=0.25,
        sessions_per_day=0.09,
        views_per_intent=2.4,
        cart_bias=-2.6,
        checkout_prob=0.25,
        sensitivity=(1.5, 3.0),
        budget_log_mean=-0.35,
        taste_alpha=0.35,
        brand_beta=0.3,
        sale_boost=2.6,
        email_open=0.35,
        email_click=0.25,
        login_early=0.2,
        refund_factor=1.0,
    ),
    CustomerType.LOYAL_HIGH_SPENDER: TypeParams(
        share=0.10,
        sessions_per_day=0.28,
        views_per_intent=2.8,
        cart_bias=-1.9,
        checkout_prob=0.50,
        sensitivity=(0.1, 0.6),
        budget_log_mean=0.45,
        taste_alpha=0.25,
        brand_beta=1.2,
        sale_boost=1.4,
        email_open=0.6,
        email_click=0.3,
        login_early=0.6,
        refund_factor=0.6,
    ),
    CustomerType.BROWSER: TypeParams(
        share=0.30,
        sessions_per_day=0.11,
        views_per_intent=4.0,
        cart_bias=-3.2,
        checkout_prob=0.12,
        sensitivity=(0.6, 1.6),
        budget_log_mean=0.0,
        taste_alpha=0.45,
        brand_beta=0.5,
        sale_boost=1.6,
        email_open=0.2,
        email_click=0.1,
        login_early=0.1,
        refund_factor=1.2,
    ),
    CustomerType.ONE_OFF: TypeParams(
        share=0.25,
        sessions_per_day=0.0,
        views_per_intent=2.4,
        cart_bias=-1.8,
        checkout_prob=0.45,
        sensitivity=(0.5, 1.5),
        budget_log_mean=0.0,
        taste_alpha=0.25,
        brand_beta=0.5,
        sale_boost=1.5,
        email_open=0.1,
        email_click=0.05,
        login_early=0.1,
        refund_factor=1.5,
    ),
    CustomerType.LAPSED: TypeParams(
        share=0.10,
        sessions_per_day=0.2,
        views_per_intent=2.8,
        cart_bias=-2.4,
        checkout_prob=0.35,
        sensitivity=(0.6, 1.6),
        budget_log_mean=0.1,
        taste_alpha=0.35,
        brand_beta=0.6,
        sale_boost=1.0,
        email_open=0.3,
        email_click=0.15,
        login_early=0.3,
        refund_factor=1.0,
    ),
}
"""Behaviour per type: bargain hunters react most to the sale; browsers view a lot, buy little."""

_REGISTERED_SHARE = 0.6  # customers with an account before the simulated period starts


@dataclass
class Device:
    """A browser or phone of a customer; its cookie is the ``anonymous_id``."""

    anonymous_id: str
    user_agent: str
    ip: str
    logged_in: bool


@dataclass(frozen=True)
class CustomerTruth:
    """Ground truth about one simulated customer, for tests that check what models recover.

    Attributes
    ----------
    customer_id
        The ``user_id`` the customer logs in with.
    customer_type
        The latent behaviour type.
    anonymous_ids
        Every cookie id the customer's devices used, in order of first use.
    email, name, locale
        Traits sent with ``identify`` events.
    category_taste
        Probability of each leaf category (key: ``"Home > Kitchen > Knives"``) as a browsing intent.
    brand_taste
        Relative affinity to each brand within its department (sums to 1 per department).
    budget
        Preferred price level relative to a category's median price (1.0 = the median).
    price_sensitivity
        How strongly prices above the budget put the customer off (0 = not at all).
    consent
        The ``context.consent`` object the customer's events carry.
    registered
        Whether the customer had an account before the period (known to email campaigns).
    active_until_day
        Last active day offset for lapsed customers, else ``None``.
    """

    customer_id: str
    customer_type: CustomerType
    anonymous_ids: list[str]
    email: str
    name: str
    locale: str
    category_taste: dict[str, float]
    brand_taste: dict[str, float]
    budget: float
    price_sensitivity: float
    consent: dict[str, Any]
    registered: bool
    active_until_day: int | None

    def favourite_categories(self, k: int = 3) -> list[str]:
        """The ``k`` leaf categories this customer browses most, best first."""
        ranked = sorted(self.category_taste.items(), key=lambda kv: (-kv[1], kv[0]))
        return [name for name, _ in ranked[:k]]

    def favourite_departments(self, k: int = 1) -> list[str]:
        """The ``k`` top-level categories with the most taste mass, best first."""
        mass: dict[str, float] = {}
        for name, weight in self.category_taste.items():
            top = name.split(" > ")[0]
            mass[top] = mass.get(top, 0.0) + weight
        ranked = sorted(mass.items(), key=lambda kv: (-kv[1], kv[0]))
        return [name for name, _ in ranked[:k]]


@dataclass
class Customer:
    """A customer as the session model sees it: truth fields plus working state."""

    index: int
    customer_id: str
    customer_type: CustomerType
    params: TypeParams
    email: str
    name: str
    locale: str
    leaf_taste: FloatArray
    brand_affinity: FloatArray
    budget: float
    price_sensitivity: float
    consent: dict[str, Any]
    registered: bool
    active_until_day: int | None
    devices: list[Device]
    device_weights: FloatArray
    anonymous_ids: list[str] = field(default_factory=list)
    known: bool = False

    def truth(self, catalog: Catalog) -> CustomerTruth:
        """The public ground truth of this customer."""
        taste = {
            leaf.label: float(w) for leaf, w in zip(catalog.leaves, self.leaf_taste, strict=True)
        }
        brands = {b: float(w) for b, w in zip(catalog.brands, self.brand_affinity, strict=True)}
        return CustomerTruth(
            customer_id=self.customer_id,
            customer_type=self.customer_type,
            anonymous_ids=list(self.anonymous_ids),
            email=self.email,
            name=self.name,
            locale=self.locale,
            category_taste=taste,
            brand_taste=brands,
            budget=self.budget,
            price_sensitivity=self.price_sensitivity,
            consent=self.consent,
            registered=self.registered,
            active_until_day=self.active_until_day,
        )


def new_anonymous_id(rng: np.random.Generator) -> str:
    """A cookie id as a browser SDK would make it (random, 16 bytes of hex)."""
    return rng.bytes(16).hex()


def _consent(rng: np.random.Generator) -> dict[str, Any]:
    draw = rng.random()
    purposes = {"analytics": True, "personalization": True, "marketing": True, "advertising": True}
    if draw < 0.10:  # refuses personalization (and mostly marketing with it)
        purposes.update(personalization=False, marketing=bool(rng.random() < 0.3))
        purposes["advertising"] = False
    elif draw < 0.18:  # refuses marketing only
        purposes.update(marketing=False, advertising=False)
    elif draw < 0.22:  # refuses advertising only
        purposes["advertising"] = False
    return {"purposes": purposes, "do_not_sell": bool(rng.random() < 0.07)}


def _taste(rng: np.random.Generator, catalog: Catalog, alpha: float) -> FloatArray:
    n_dept = len(DEPARTMENTS)
    dept_taste = rng.dirichlet(np.full(n_dept, alpha))
    leaf_taste = np.zeros(len(catalog.leaves))
    for d in range(n_dept):
        mine = np.flatnonzero(catalog.leaf_department == d)
        leaf_taste[mine] = dept_taste[d] * rng.dirichlet(np.full(len(mine), 0.8))
    leaf_taste = 0.97 * leaf_taste + 0.03 / len(leaf_taste)  # everyone wanders sometimes
    return np.asarray(leaf_taste / leaf_taste.sum(), dtype=np.float64)


def _brand_affinity(rng: np.random.Generator, catalog: Catalog) -> FloatArray:
    affinity = np.zeros(len(catalog.brands))
    for d in range(len(DEPARTMENTS)):
        mine = np.flatnonzero(catalog.brand_department == d)
        affinity[mine] = rng.dirichlet(np.full(len(mine), 0.7))
    return affinity


def _devices(rng: np.random.Generator, registered: bool) -> list[Device]:
    count = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
    devices = []
    for _ in range(count):
        block = str(rng.choice(["192.0.2", "198.51.100", "203.0.113"]))
        devices.append(
            Device(
                anonymous_id=new_anonymous_id(rng),
                user_agent=str(rng.choice(USER_AGENTS)),
                ip=f"{block}.{int(rng.integers(1, 255))}",
                logged_in=registered and bool(rng.random() < 0.5),
            )
        )
    return devices


def build_customers(
    config: SimulationConfig, catalog: Catalog, rng: np.random.Generator
) -> list[Customer]:
    """Draw the customer base of a simulated shop.

    Parameters
    ----------
    config
        The simulation config (number of customers, period).
    catalog
        The catalog (tastes are over its leaves and brands).
    rng
        The generator every draw comes from.

    Returns
    -------
    list[Customer]
        Customers in id order.
    """
    kinds = list(TYPE_PARAMS)
    shares = np.array([TYPE_PARAMS[k].share for k in kinds])
    drawn = rng.choice(len(kinds), size=config.n_customers, p=shares / shares.sum())
    customers = []
    for i in range(config.n_customers):
        kind = kinds[int(drawn[i])]
        params = TYPE_PARAMS[kind]
        first, last = str(rng.choice(FIRST_NAMES)), str(rng.choice(LAST_NAMES))
        local = f"{first}.{last}".lower().replace(" ", "")
        registered = bool(rng.random() < _REGISTERED_SHARE)
        devices = _devices(rng, registered)
        weights = rng.dirichlet(np.full(len(devices), 2.0))
        lapse = None
        if kind is CustomerType.LAPSED:
            lapse = int(rng.integers(max(1, config.days // 5), max(2, config.days // 2)))
        customers.append(
            Customer(
                index=i,
                customer_id=f"cust-{i + 1:06d}",
                customer_type=kind,
                params=params,
                email=f"{local}.{i + 1}@example.com",
                name=f"{first} {last}",
                locale=str(rng.choice(LOCALES, p=LOCALE_SHARES)),
                leaf_taste=_taste(rng, catalog, params.taste_alpha),
                brand_affinity=_brand_affinity(rng, catalog),
                budget=float(np.exp(rng.normal(params.budget_log_mean, 0.3))),
                price_sensitivity=float(rng.uniform(*params.sensitivity)),
                consent=_consent(rng),
                registered=registered,
                active_until_day=lapse,
                devices=devices,
                device_weights=weights,
                known=registered,
            )
        )
    return customers
