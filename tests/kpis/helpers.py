"""Hand-made event logs for the KPI tests: answers, clicks, adds and orders at chosen times."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from shopwise import store

T0 = 1_772_445_600_000
"""2026-03-02T10:00:00Z, the start of an hour."""
HOUR = 3_600_000
WINDOW = 24 * HOUR


def rid(served_ms: int, n: int) -> str:
    """A recommendation id as serving makes them: the serving time first."""
    return f"{served_ms:012x}{n:020x}"


@dataclass
class Log:
    """Builds event rows; :meth:`flush` stores the rows made since the last flush."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def _add(self, type_: str, shopper: str, at: int, props: dict[str, Any], **extra: Any) -> None:
        n = next(self._ids)
        self.rows.append(
            {
                "message_id": f"m-{n}",
                "type": type_,
                "anonymous_id": shopper,
                "user_id": None,
                "timestamp": at,
                "received_at": at,
                "product_id": props.get("product_id"),
                "context": extra.pop("context", {}),
                "properties": props,
                "key_id": None if type_ == "recommendation_viewed" else "k1",
            }
        )

    def answer(
        self,
        shopper: str,
        at: int,
        items: list[str],
        placement: str = "home",
        model: str | None = "m1",
        **props: Any,
    ) -> str:
        recommendation = rid(at, next(self._ids))
        body = {"recommendation_id": recommendation, "product_ids": items, "placement": placement}
        if model is not None:
            body["model_version"] = model
        self._add("recommendation_viewed", shopper, at, {**body, **props})
        return recommendation

    def click(
        self, shopper: str, at: int, recommendation: str, product: str, type_: str = ""
    ) -> None:
        props = {"recommendation_id": recommendation, "product_id": product}
        self._add(type_ or "recommendation_clicked", shopper, at, props)

    def add(self, shopper: str, at: int, recommendation: str, product: str) -> None:
        props = {"recommendation_id": recommendation, "product_id": product, "quantity": 1}
        self._add("product_added", shopper, at, props)

    def order(self, shopper: str, at: int, order_id: str, lines: dict[str, float]) -> None:
        products = [{"product_id": p, "price": price, "quantity": 2} for p, price in lines.items()]
        revenue = sum(2 * price for price in lines.values())
        props = {"order_id": order_id, "products": products, "revenue": revenue, "currency": "EUR"}
        self._add("order_completed", shopper, at, props)

    def event(self, type_: str, shopper: str, at: int, props: dict[str, Any], **extra: Any) -> None:
        self._add(type_, shopper, at, props, **extra)

    def flush(self, engine: sa.Engine) -> None:
        if self.rows:
            with engine.begin() as conn:
                conn.execute(store.events.insert(), self.rows)
        self.rows = []


def add_products(engine: sa.Engine, ids: list[str]) -> None:
    rows = [
        {
            "product_id": p,
            "title": p,
            "description": "",
            "category": [],
            "price": 10.0,
            "currency": "EUR",
            "available": True,
            "tags": [],
            "attributes": {},
            "created_at": 0,
            "updated_at": 0,
        }
        for p in ids
    ]
    with engine.begin() as conn:
        conn.execute(store.products.insert(), rows)
