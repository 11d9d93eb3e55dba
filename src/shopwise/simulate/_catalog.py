"""The simulated catalog: products drawn from the category vocabulary.

Each product sits in one leaf category, has a brand of its department, a log-normal price around
the leaf's median (shifted by a brand premium), latent popularity and quality, a launch day and,
for a few, a sell-out day. The rows handed to the catalog service follow the catalog fields of
issue 4; the latent columns stay in :class:`Catalog` so the session model and the ground truth can
use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from shopwise.simulate._config import SimulationConfig
from shopwise.simulate._vocab import DEPARTMENTS, Department, Leaf, complement_leaves

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_NEW_SHARE = 0.12  # products launched during the simulated period (cold-start items)
_SOLD_OUT_SHARE = 0.08  # products that sell out during the period and end with stock 0
_DISCOUNTS = np.array([0.15, 0.2, 0.25, 0.3, 0.4])


@dataclass(frozen=True)
class Catalog:
    """Catalog rows plus the latent product columns the simulator needs (aligned by index)."""

    rows: list[dict[str, Any]]
    ids: list[str]
    leaves: tuple[Leaf, ...]
    brands: tuple[str, ...]
    leaf: IntArray
    department: IntArray
    brand: IntArray
    noun: list[str]
    price: FloatArray
    sale_price: FloatArray
    popularity: FloatArray
    quality: FloatArray
    created_day: IntArray
    sold_out_day: IntArray
    leaf_members: tuple[IntArray, ...]
    leaf_department: IntArray
    brand_department: IntArray
    leaf_complements: tuple[IntArray, ...]
    """Indices of the leaves whose products go with each leaf (see ``COMPLEMENT_PAIRS``)."""

    def effective_price(self, item: int, sale: bool) -> float:
        """What ``item`` costs on a sale day (``sale=True``) or on a normal day."""
        if sale and not np.isnan(self.sale_price[item]):
            return float(self.sale_price[item])
        return float(self.price[item])


def charm_price(value: float) -> float:
    """Round a raw price to a shop-like price ending in .99 (or .49 below 10)."""
    if value < 10:
        return max(0.49, round(float(np.floor(value * 2)) / 2 + 0.49, 2))
    return round(float(np.floor(value)) + 0.99, 2)


def _all_leaves() -> tuple[tuple[Leaf, ...], IntArray]:
    leaves = [leaf for dept in DEPARTMENTS for leaf in dept.leaves]
    owners = [d for d, dept in enumerate(DEPARTMENTS) for _ in dept.leaves]
    return tuple(leaves), np.asarray(owners, dtype=np.int64)


def _leaf_complements(leaves: tuple[Leaf, ...]) -> tuple[IntArray, ...]:
    index = {leaf.label: j for j, leaf in enumerate(leaves)}
    mates = complement_leaves()
    return tuple(
        np.asarray([index[label] for label in mates[leaf.label]], dtype=np.int64) for leaf in leaves
    )


def _all_brands() -> tuple[tuple[str, ...], IntArray]:
    brands = [brand for dept in DEPARTMENTS for brand in dept.brands]
    owners = [d for d, dept in enumerate(DEPARTMENTS) for _ in dept.brands]
    return tuple(brands), np.asarray(owners, dtype=np.int64)


def _description(
    rng: np.random.Generator, dept: Department, leaf: Leaf, brand: str, noun: str, material: str
) -> str:
    adjective = str(rng.choice(dept.adjectives))
    features = rng.choice(len(leaf.features), size=min(3, len(leaf.features)), replace=False)
    f1, f2, f3 = (leaf.features[int(i)] for i in features)
    phrase = str(rng.choice(dept.phrases))
    return (
        f"A {adjective} {noun} from {brand} with {f1} and {f2}. {phrase} "
        f"Made with {material}; {f3}. Part of our {leaf.path[2].lower()} range in "
        f"{leaf.path[1].lower()}."
    )


def _title(brand: str, adjective: str, noun: str, variant: str) -> str:
    return f"{brand} {adjective.title()} {noun.title()} - {variant}"


@dataclass(frozen=True)
class _Latent:
    """Per-product draws that need no text: placement, latent appeal, launch and sell-out."""

    leaf: IntArray
    popularity: FloatArray
    quality: FloatArray
    created_day: IntArray
    sold_out_day: IntArray
    on_sale: npt.NDArray[np.bool_]
    discount: FloatArray


def _latent(config: SimulationConfig, rng: np.random.Generator, n_leaves: int) -> _Latent:
    n = config.n_products
    leaf_weight = rng.gamma(4.0, 1.0, size=n_leaves)
    leaf = rng.choice(n_leaves, size=n, p=leaf_weight / leaf_weight.sum()).astype(np.int64)
    leaf[: min(n, n_leaves)] = np.arange(min(n, n_leaves))  # every leaf gets a product
    new = rng.random(n) < _NEW_SHARE
    created_day = np.where(
        new, rng.integers(1, max(2, config.days), size=n), -rng.integers(1, 540, size=n)
    ).astype(np.int64)
    sold_out = rng.random(n) < _SOLD_OUT_SHARE
    sold_out_day = np.where(sold_out, rng.integers(0, config.days, size=n), config.days + 1)
    return _Latent(
        leaf=leaf,
        popularity=rng.normal(0.0, 1.0, size=n),
        quality=rng.normal(0.0, 1.0, size=n),
        created_day=created_day,
        sold_out_day=np.maximum(sold_out_day, created_day + 1).astype(np.int64),
        on_sale=(rng.random(n) < config.sale_share) & (config.sale_start_day is not None),
        discount=rng.choice(_DISCOUNTS, size=n),
    )


@dataclass(frozen=True)
class _Drawn:
    """One product's catalog row and the columns the session model reads."""

    row: dict[str, Any]
    brand: int
    noun: str
    price: float
    sale_price: float


class _ProductWriter:
    """Draws brand, words and price of each product and writes its catalog row."""

    def __init__(self, config: SimulationConfig, rng: np.random.Generator, latent: _Latent) -> None:
        self.config = config
        self.rng = rng
        self.latent = latent
        self.leaves, _ = _all_leaves()
        self.brands, self.brand_department = _all_brands()
        self.brand_premium = rng.normal(0.0, 0.3, size=len(self.brands))
        self.brand_share = rng.gamma(1.5, 1.0, size=len(self.brands))
        self.start = datetime(config.start.year, config.start.month, config.start.day, tzinfo=UTC)

    def _brand(self, department: int) -> int:
        candidates = np.flatnonzero(self.brand_department == department)
        share = self.brand_share[candidates] / self.brand_share[candidates].sum()
        return int(self.rng.choice(candidates, p=share))

    def _prices(self, i: int, leaf: Leaf, brand: int) -> tuple[float, float]:
        spread = self.rng.normal(0.0, 0.45)
        price = charm_price(
            float(np.exp(np.log(leaf.median_price) + self.brand_premium[brand] + spread))
        )
        sale = np.nan
        if self.latent.on_sale[i]:
            marked = charm_price(price * (1.0 - float(self.latent.discount[i])))
            sale = marked if marked < price else np.nan
        return price, sale

    def product(self, i: int, department: int) -> _Drawn:
        rng, lat = self.rng, self.latent
        leaf, dept = self.leaves[int(lat.leaf[i])], DEPARTMENTS[department]
        brand = self._brand(department)
        noun, material = str(rng.choice(leaf.nouns)), str(rng.choice(dept.materials))
        variant, adjective = str(rng.choice(dept.variants)), str(rng.choice(dept.adjectives))
        price, sale = self._prices(i, leaf, brand)
        product_id = f"sku-{i + 1:05d}"
        created = self.start + timedelta(
            days=int(lat.created_day[i]), seconds=int(rng.integers(0, 86400))
        )
        tags = [leaf.slug, noun.replace(" ", "-"), material.replace(" ", "-")]
        tags += ["new"] if lat.created_day[i] >= 0 else []
        tags += [] if np.isnan(sale) else ["sale"]
        sold_out = lat.sold_out_day[i] <= self.config.days
        row = {
            "id": product_id,
            "title": _title(self.brands[brand], adjective, noun, variant),
            "description": _description(rng, dept, leaf, self.brands[brand], noun, material),
            "category": list(leaf.path),
            "brand": self.brands[brand],
            "price": price,
            "sale_price": None if np.isnan(sale) else float(sale),
            "currency": self.config.currency,
            "stock": 0 if sold_out else int(rng.negative_binomial(2, 0.05)) + 1,
            "tags": tags,
            "image_url": f"{self.config.site_url}/img/{product_id}.jpg",
            "created_at": created.isoformat(),
            "attributes": {
                "material": material,
                "variant": variant,
                "product_type": noun,
                "rating": round(float(np.clip(3.9 + 0.5 * lat.quality[i], 1.0, 5.0)), 1),
            },
        }
        return _Drawn(row=row, brand=brand, noun=noun, price=price, sale_price=float(sale))


def build_catalog(config: SimulationConfig, rng: np.random.Generator) -> Catalog:
    """Draw the catalog of a simulated shop.

    Parameters
    ----------
    config
        The simulation config (size, period, sale, currency).
    rng
        The generator every draw comes from.

    Returns
    -------
    Catalog
        Catalog rows and latent product columns.
    """
    leaves, leaf_department = _all_leaves()
    brands, brand_department = _all_brands()
    latent = _latent(config, rng, len(leaves))
    department = leaf_department[latent.leaf]
    writer = _ProductWriter(config, rng, latent)
    drawn = [writer.product(i, int(department[i])) for i in range(config.n_products)]
    members = tuple(np.flatnonzero(latent.leaf == j).astype(np.int64) for j in range(len(leaves)))
    return Catalog(
        rows=[d.row for d in drawn],
        ids=[d.row["id"] for d in drawn],
        leaves=leaves,
        brands=brands,
        leaf=latent.leaf,
        department=department.astype(np.int64),
        brand=np.array([d.brand for d in drawn], dtype=np.int64),
        noun=[d.noun for d in drawn],
        price=np.array([d.price for d in drawn]),
        sale_price=np.array([d.sale_price for d in drawn]),
        popularity=latent.popularity,
        quality=latent.quality,
        created_day=latent.created_day,
        sold_out_day=latent.sold_out_day,
        leaf_members=members,
        leaf_department=leaf_department,
        brand_department=brand_department,
        leaf_complements=_leaf_complements(leaves),
    )
