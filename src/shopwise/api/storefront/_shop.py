"""What the storefront's pages show of the catalog, and the two secrets-adjacent things a shop's
backend does for its pages: hand them a write key and vouch for the logged-in user's id.

Only public catalog facts reach a page (title, category path, brand, price, stock state); the
shopper's own data never passes through here: the page asks the API for it with the SDK.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import orjson

from shopwise.auth import KeyKind
from shopwise.catalog import Product
from shopwise.errors import AuthError, NotFound
from shopwise.files import write_private
from shopwise.profiles import identity_secret, user_hash
from shopwise.runtime import Runtime

DEMO_KEYS: Final = "demo-keys.json"
"""The key file ``shopwise demo`` writes in the data dir (``shopwise.cli.demo.DEMO_KEYS``): its
write key is reused, so the storefront sends with the key the demo prints."""
STOREFRONT_KEY: Final = "storefront-key.json"
"""The storefront's own write key file, for a data dir that ``shopwise demo`` did not set up."""
KEY_NAME: Final = "demo storefront"


@dataclass(frozen=True)
class Category:
    """One node of the category tree: its path, its URL slug and how many products it holds."""

    path: tuple[str, ...]
    slug: str
    count: int

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def label(self) -> str:
        """The path as the API's ``category`` query takes it (``Home > Kitchen > Knives``)."""
        return " > ".join(self.path)


@dataclass(frozen=True)
class Card:
    """A product as a page shows it (public catalog facts only)."""

    id: str
    title: str
    brand: str | None
    category: Category | None
    price: float
    sale_price: float | None
    currency: str
    in_stock: bool
    description: str

    @property
    def effective_price(self) -> float:
        return self.sale_price if self.sale_price is not None else self.price


def slugify(path: Iterable[str]) -> str:
    """``("Home", "Kitchen", "Coffee & Tea")`` as ``home-kitchen-coffee-tea``."""
    text = "-".join(path).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


class Shop:
    """The storefront's view of one catalog snapshot: the category tree and product cards.

    Built from ``Catalog.snapshot()``, which returns the same object while the catalog is
    unchanged, so the router keeps the last view and builds a new one only for a new snapshot.
    """

    def __init__(self, snapshot: Mapping[str, Product]) -> None:
        self.snapshot = snapshot
        counts: dict[tuple[str, ...], int] = {}
        for product in snapshot.values():
            for depth in range(1, len(product.category) + 1):
                path = tuple(product.category[:depth])
                counts[path] = counts.get(path, 0) + 1
        self.categories = {
            slugify(path): Category(path, slugify(path), count)
            for path, count in sorted(counts.items())
        }
        self._by_path = {c.path: c for c in self.categories.values()}

    def departments(self) -> list[Category]:
        """The top-level categories, largest first."""
        tops = [c for c in self.categories.values() if len(c.path) == 1]
        return sorted(tops, key=lambda c: (-c.count, c.name))

    def children(self, parent: Category) -> list[Category]:
        depth = len(parent.path) + 1
        return [
            c
            for c in self.categories.values()
            if len(c.path) == depth and c.path[:-1] == parent.path
        ]

    def trail(self, category: Category) -> list[Category]:
        """The category and its ancestors, top first (the breadcrumb)."""
        return [self._by_path[category.path[:depth]] for depth in range(1, len(category.path) + 1)]

    def category(self, slug: str) -> Category:
        found = self.categories.get(slug)
        if found is None:
            raise NotFound(f"category: no category has the slug {slug!r}")
        return found

    def card(self, product: Product) -> Card:
        return Card(
            id=product.id,
            title=product.title,
            brand=product.brand,
            category=self._by_path.get(tuple(product.category)),
            price=product.price,
            sale_price=product.sale_price,
            currency=product.currency,
            in_stock=product.in_stock,
            description=product.description,
        )

    def product(self, product_id: str) -> Card:
        product = self.snapshot.get(product_id)
        if product is None:
            raise NotFound(f"product_id: {product_id!r} is not in the catalog")
        return self.card(product)

    def in_category(self, category: Category) -> list[Card]:
        """The category's products in the catalog's own order (in stock first, then by id): the
        order a page shows before the shopper's ranking arrives."""
        depth = len(category.path)
        members = [p for p in self.snapshot.values() if tuple(p.category[:depth]) == category.path]
        members.sort(key=lambda p: (not p.in_stock, p.id))
        return [self.card(p) for p in members]

    def featured(self, n: int) -> list[Card]:
        """The newest in-stock products: the home page's server-rendered row (no shopper's data)."""
        fresh = [p for p in self.snapshot.values() if p.in_stock]
        fresh.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        return [self.card(p) for p in fresh[:n]]


def write_key(runtime: Runtime) -> str:
    """The write key the storefront's pages send with: the demo's (``shopwise demo``) when its
    key file holds one that still verifies, else the storefront's own, created once and kept in
    the data dir (a revoked one is replaced)."""
    data_dir = runtime.settings.data_dir
    for name, field in ((DEMO_KEYS, KeyKind.WRITE.value), (STOREFRONT_KEY, "key")):
        key = _stored_key(runtime, data_dir / name, field)
        if key is not None:
            return key
    plaintext = runtime.keys.create(KeyKind.WRITE, KEY_NAME, actor="storefront")[1]
    write_private(data_dir / STOREFRONT_KEY, orjson.dumps({"key": plaintext}))
    return plaintext


def _stored_key(runtime: Runtime, path: Path, field: str) -> str | None:
    """The write key stored under ``field`` in the JSON file ``path``, if it still verifies."""
    if not path.is_file():
        return None
    value = orjson.loads(path.read_bytes()).get(field)
    if not isinstance(value, str):
        return None
    try:
        key = runtime.keys.verify(value)
    except AuthError:
        return None
    return value if key.kind == KeyKind.WRITE else None


def vouch(runtime: Runtime, user_id: str) -> str:
    """The ``user_hash`` of ``user_id``: what a shop's backend computes for the user it logged in
    (see ``shopwise.profiles.user_hash``); the demo's login takes any id, so it is development
    only (see the package docstring)."""
    secret = identity_secret(runtime.settings.secret_key.get_secret_value().encode())
    return user_hash(secret, user_id)
