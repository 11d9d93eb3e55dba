"""Adapter from the UCI Online Retail file to catalog rows and order events.

The UCI Online Retail data (a UK gift wholesaler, 2010-12 to 2011-12) is invoice lines, not
events. This adapter turns it into what a shop would have sent: one catalog row per stock code
(title from the description, median unit price, first sale as ``created_at``, a category derived
from keywords) and one ``order_completed`` per invoice of a known customer, plus one
``order_refunded`` per cancellation invoice (``C`` prefix), matched to the customer's latest
earlier invoice with the same products. Message ids derive from invoice numbers, so importing the
file twice is deduplicated by the collector. Rows that cannot be used (no description, zero or
negative price, fee and postage codes, stock adjustments) are counted and sampled in the
:class:`UciReport`; they never stop the import.

The cleaning rules the evaluation harness shares with this adapter (what a cancellation is, what
a known customer is, positive quantities and prices, stock-code normalisation) live here as
:func:`clean_text`, :func:`stock_codes`, :func:`cancellations`, :func:`customer_ids`,
:func:`positive` and :func:`sale_lines`, so both readers of the file agree on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from shopwise.errors import InvalidInput, NotFound
from shopwise.schema import EventType

__all__ = [
    "COLUMNS",
    "UciConfig",
    "UciImport",
    "UciReport",
    "cancellations",
    "clean_text",
    "convert_uci",
    "customer_ids",
    "keyword_category",
    "positive",
    "read_uci",
    "sale_lines",
    "stock_codes",
]

COLUMNS: Final = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
"""Columns the UCI file must have."""

_FEE_CODES: Final = frozenset(
    {"POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B"}
)
_POSTAGE_CODES: Final = frozenset({"POST", "DOT", "C2"})
_MISSING_TEXT: Final = frozenset({"", "nan", "none", "null", "?"})
_LIBRARY: Final = {"name": "shopwise-uci-adapter", "version": "1"}
_EXAMPLES: Final = 5

_CATEGORY_RULES: Final = (
    (("Seasonal", "Christmas"), r"CHRISTMAS|XMAS|ADVENT|SANTA|REINDEER|SNOWFLAKE|NATIVITY"),
    (("Seasonal", "Easter"), r"EASTER|EGG HUNT"),
    (("Party",), r"PARTY|BUNTING|BALLOON|CAKE CASES|PAPER CHAIN|CONFETTI"),
    (("Stationery & Gifts",), r"CARD|WRAP|NOTEBOOK|PENCIL|PEN\b|STICKER|TAPE|GIFT TAG|ENVELOPE"),
    (("Kitchen & Dining",), r"MUG|CUP|PLATE|BOWL|TEA\b|TEAPOT|BAKING|LUNCH|JAR|SPOON|NAPKIN|TRAY"),
    (("Bags & Accessories",), r"BAG|PURSE|UMBRELLA|KEY ?RING|NECKLACE|BRACELET|EARRING|HAIR"),
    (("Toys & Games",), r"TOY|GAME|PUZZLE|JIGSAW|DOLL|SKIPPING|PLAYHOUSE|SPACEBOY"),
    (("Garden",), r"GARDEN|PLANT|BIRD|WATERING|FLOWER POT|HERB"),
    (("Home Decor",), r"CANDLE|T-LIGHT|HOLDER|FRAME|SIGN|CLOCK|DOORSTOP|VASE|LANTERN|CUSHION"),
    (("Home Decor",), r"HEART|ORNAMENT|MIRROR|HOOK|LIGHT|DECORATION|WREATH|BOX"),
)
_COLOURS: Final = re.compile(r"\b(RED|PINK|BLUE|GREEN|WHITE|BLACK|IVORY|GOLD|SILVER|PURPLE)\b")


class UciConfig(BaseModel):
    """How the UCI file is turned into catalog rows and events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(default="GBP", pattern=r"^[A-Z]{3}$")
    """Currency of ``UnitPrice``."""
    timezone: str = "Europe/London"
    """Time zone of ``InvoiceDate`` (the file stores local times without an offset)."""
    user_prefix: str = "uci-"
    """Prefix of user ids: customer 17850 becomes ``uci-17850``."""
    include_guests: bool = False
    """Also emit orders of invoices without a customer (``anonymous_id = uci-guest-<invoice>``)."""
    derive_categories: bool = True
    """Derive a coarse category from keywords in the description (else ``[]``)."""


@dataclass(frozen=True)
class UciReport:
    """What happened to every row of the file.

    ``rows == order_rows + refund_rows + guest_rows + sum(skipped.values())`` always holds.

    Attributes
    ----------
    rows
        Rows read.
    order_rows, refund_rows
        Rows that became product lines of ``order_completed`` / ``order_refunded`` events.
    guest_rows
        Valid sale rows without a customer: they shape the catalog but make no event (unless
        ``include_guests``, when they count as order rows).
    skipped
        Rows left out, by reason code.
    examples
        Up to five raw rows per reason, for the import summary.
    orders, refunds
        Events made.
    unmatched_refunds
        Cancellations whose original invoice was not found (their ``order_id`` is the
        cancellation number).
    products
        Catalog rows made.
    """

    rows: int
    order_rows: int
    refund_rows: int
    guest_rows: int
    skipped: dict[str, int]
    examples: dict[str, list[dict[str, Any]]]
    orders: int
    refunds: int
    unmatched_refunds: int
    products: int

    def summary(self) -> str:
        """One line per count, for the CLI."""
        lines = [
            f"rows read: {self.rows}",
            f"order lines: {self.order_rows} in {self.orders} orders",
            f"refund lines: {self.refund_rows} in {self.refunds} refunds "
            f"({self.unmatched_refunds} without a matching order)",
            f"guest lines (catalog only): {self.guest_rows}",
            f"products: {self.products}",
        ]
        lines += [f"skipped ({reason}): {count}" for reason, count in sorted(self.skipped.items())]
        return "\n".join(lines)


@dataclass(frozen=True)
class UciImport:
    """Catalog rows, time-sorted event dicts and the report of one conversion."""

    products: list[dict[str, Any]]
    events: list[dict[str, Any]]
    report: UciReport
    config: UciConfig = field(default_factory=UciConfig)


def read_uci(path: str | Path, config: UciConfig | None = None) -> UciImport:
    """Read the UCI Online Retail parquet file and convert it.

    Parameters
    ----------
    path
        ``online_retail.parquet`` (columns :data:`COLUMNS`).
    config
        Conversion options; defaults to :class:`UciConfig()`.

    Returns
    -------
    UciImport
        Catalog rows, events and the report.

    Raises
    ------
    NotFound
        When the file does not exist.
    InvalidInput
        When a required column is missing.
    """
    source = Path(path)
    if not source.is_file():
        msg = f"UCI Online Retail file not found: {source}"
        raise NotFound(msg)
    return convert_uci(pd.read_parquet(source), config)


def convert_uci(frame: pd.DataFrame, config: UciConfig | None = None) -> UciImport:
    """Convert UCI Online Retail rows (already in memory) to catalog rows and events.

    Parameters
    ----------
    frame
        Rows with the columns :data:`COLUMNS`.
    config
        Conversion options; defaults to :class:`UciConfig()`.

    Returns
    -------
    UciImport
        Catalog rows, events sorted by timestamp, and the report.
    """
    config = config or UciConfig()
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        msg = f"UCI frame lacks columns {missing}"
        raise InvalidInput(msg, details=[{"column": c} for c in missing])
    rows = _normalise(frame, config)
    reason = _classify(rows)
    skipped = reason[reason != ""].value_counts()
    examples = {
        str(r): _examples(frame.loc[reason.index[reason == r][:_EXAMPLES]]) for r in skipped.index
    }
    good = rows[reason == ""]
    postage = rows[reason == "fee_or_postage"]
    is_cancel = good["cancel"]
    has_customer = good["customer"] != ""
    sales = good[~is_cancel]
    products = _catalog(sales, config)
    order_lines = sales[has_customer[~is_cancel] | config.include_guests]
    refund_lines = good[is_cancel]
    orders = _orders(order_lines, postage, config)
    refunds, unmatched = _refunds(refund_lines, sales[sales["customer"] != ""], config)
    events = sorted(orders + refunds, key=lambda e: (e["timestamp"], e["message_id"]))
    report = UciReport(
        rows=len(rows),
        order_rows=len(order_lines),
        refund_rows=len(refund_lines),
        guest_rows=len(sales) - len(order_lines),
        skipped={str(k): int(v) for k, v in skipped.items()},
        examples=examples,
        orders=len(orders),
        refunds=len(refunds),
        unmatched_refunds=unmatched,
        products=len(products),
    )
    return UciImport(products=products, events=events, report=report, config=config)


def clean_text(values: pd.Series) -> pd.Series:
    """Strings with outer blanks trimmed and inner runs of blanks collapsed; missing as ``""``.

    ``NaN``, ``None`` and the placeholders ``nan``, ``none``, ``null`` and ``?`` count as missing.
    """
    text = values.astype("string").fillna("").str.strip().str.replace(r"\s+", " ", regex=True)
    return text.where(~text.str.lower().isin(_MISSING_TEXT), "")


def stock_codes(values: pd.Series) -> pd.Series:
    """Normalised stock codes: :func:`clean_text`, upper-cased (``85123a`` is ``85123A``)."""
    return clean_text(values).str.upper()


def cancellations(invoices: pd.Series) -> pd.Series:
    """Whether each invoice number is a cancellation (``C`` prefix, any case)."""
    return clean_text(invoices).str.upper().str.startswith("C").fillna(False).astype(bool)


def customer_ids(values: pd.Series) -> pd.Series:
    """Customer ids as integer strings (``17850.0`` is ``"17850"``); ``""`` when missing."""
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.map(lambda v: "" if pd.isna(v) else str(int(v))).astype(str)


def positive(values: pd.Series) -> pd.Series:
    """Whether each value is a finite number above zero (unparseable values are not)."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    return ((numbers > 0) & (numbers < np.inf)).astype(bool)


def sale_lines(frame: pd.DataFrame) -> pd.Series:
    """Lines that are a known customer's purchase: the rows every model learns from.

    Not a cancellation, a ``CustomerID`` present, and a positive quantity and unit price.

    Parameters
    ----------
    frame
        Raw rows with ``InvoiceNo``, ``CustomerID``, ``Quantity`` and ``UnitPrice``.

    Returns
    -------
    pandas.Series
        Boolean mask aligned with ``frame``.
    """
    keep = ~cancellations(frame["InvoiceNo"]) & (customer_ids(frame["CustomerID"]) != "")
    return keep & positive(frame["Quantity"]) & positive(frame["UnitPrice"])


def _normalise(frame: pd.DataFrame, config: UciConfig) -> pd.DataFrame:
    """Typed, cleaned columns under short names; nothing is dropped here."""
    invoice = clean_text(frame["InvoiceNo"])
    when = pd.to_datetime(frame["InvoiceDate"], errors="coerce")
    if when.dt.tz is None:
        when = when.dt.tz_localize(config.timezone, ambiguous="NaT", nonexistent="shift_forward")
    return pd.DataFrame(
        {
            "invoice": invoice,
            "cancel": cancellations(invoice),
            "code": stock_codes(frame["StockCode"]),
            "description": clean_text(frame["Description"]),
            "quantity": pd.to_numeric(frame["Quantity"], errors="coerce"),
            "when": when,
            "price": pd.to_numeric(frame["UnitPrice"], errors="coerce"),
            "customer": customer_ids(frame["CustomerID"]),
            "country": clean_text(frame["Country"]),
        },
        index=frame.index,
    )


def _classify(rows: pd.DataFrame) -> pd.Series:
    """Reason code per row ("" for usable rows); the first failing check wins."""
    q, p = rows["quantity"], rows["price"]
    checks = [
        ("missing_invoice", rows["invoice"] == ""),
        ("bad_timestamp", rows["when"].isna()),
        ("adjustment_invoice", rows["invoice"].str.upper().str.startswith("A")),
        ("missing_stock_code", rows["code"] == ""),
        ("fee_or_postage", rows["code"].isin(_FEE_CODES) | rows["code"].str.startswith("GIFT_")),
        ("missing_description", rows["description"] == ""),
        ("bad_quantity", q.isna() | (q == 0)),
        ("non_positive_price", ~positive(p)),
        ("stock_adjustment", ~rows["cancel"] & (q < 0)),
        ("positive_cancellation", rows["cancel"] & (q > 0)),
        # a cancellation refunds somebody's order; without a customer there is no one to credit
        ("cancellation_without_customer", rows["cancel"] & (rows["customer"] == "")),
    ]
    reason = pd.Series("", index=rows.index, dtype=object)
    for code, mask in reversed(checks):  # the earliest check overwrites the later ones
        reason = reason.mask(mask.fillna(True).astype(bool), code)
    return reason


def _examples(rows: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in rows.to_dict(orient="records"):
        out.append({str(k): (None if pd.isna(v) else str(v)) for k, v in record.items()})
    return out


def keyword_category(description: str) -> list[str]:
    """The coarse category path the catalog import derives from keywords of a description.

    ``"WHITE HANGING HEART T-LIGHT HOLDER"`` is ``["Home Decor"]``; ``[]`` when no rule matches.
    """
    upper = description.upper()
    for path, pattern in _CATEGORY_RULES:
        if re.search(pattern, upper):
            return list(path)
    return []


def _catalog(sales: pd.DataFrame, config: UciConfig) -> list[dict[str, Any]]:
    """One row per stock code: most frequent description, median price, first sale."""
    if sales.empty:
        return []
    by_code = sales.groupby("code", sort=True)
    price = by_code["price"].median()
    first = by_code["when"].min()
    spellings = (
        sales.groupby(["code", "description"], sort=False)["when"]
        .agg(["size", "max"])
        .reset_index()
        .sort_values(["code", "size", "max"], ascending=[True, False, False], kind="stable")
        .drop_duplicates("code")
        .set_index("code")["description"]
    )
    rows: list[dict[str, Any]] = []
    for code in price.index:
        description = str(spellings[code])
        tags = sorted({m.lower() for m in _COLOURS.findall(description.upper())})
        rows.append(
            {
                "id": str(code),
                "title": description.title(),
                "description": description,
                "category": keyword_category(description) if config.derive_categories else [],
                "brand": None,
                "price": round(float(price[code]), 2),
                "sale_price": None,
                "currency": config.currency,
                "stock": None,
                "tags": tags,
                "image_url": None,
                "created_at": first[code].isoformat(),
                "attributes": {"stock_code": str(code), "source": "uci-online-retail"},
            }
        )
    return rows


@dataclass(frozen=True)
class _Invoice:
    """One invoice's header and its product lines (same code and price summed)."""

    invoice: str
    when: pd.Timestamp
    customer: str
    country: str
    products: list[dict[str, Any]]

    @property
    def revenue(self) -> float:
        return round(float(sum(line["quantity"] * line["price"] for line in self.products)), 2)


def _invoices(lines: pd.DataFrame) -> list[_Invoice]:
    """Group lines by invoice without a Python-level groupby per invoice (18k of them)."""
    if lines.empty:
        return []
    summed = (
        lines.groupby(["invoice", "code", "price"], sort=True)["quantity"].sum().abs().reset_index()
    )
    heads = lines.groupby("invoice", sort=True).agg(
        when=("when", "min"), customer=("customer", "first"), country=("country", "first")
    )
    invoice = summed["invoice"].to_numpy()
    cut = np.flatnonzero(invoice[1:] != invoice[:-1]) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(invoice)]])
    codes = summed["code"].tolist()
    prices = summed["price"].tolist()
    quantities = summed["quantity"].tolist()
    out = []
    for (number, head), a, b in zip(heads.iterrows(), starts, ends, strict=True):
        products = [
            {"product_id": codes[k], "quantity": int(quantities[k]), "price": round(prices[k], 4)}
            for k in range(int(a), int(b))
        ]
        out.append(
            _Invoice(
                str(number), head["when"], str(head["customer"]), str(head["country"]), products
            )
        )
    return out


def _identity(invoice: str, customer: str, config: UciConfig) -> dict[str, str]:
    if customer:
        return {"user_id": f"{config.user_prefix}{customer}"}
    return {"anonymous_id": f"{config.user_prefix}guest-{invoice}"}


def _envelope(
    message_id: str, kind: EventType, inv: _Invoice, config: UciConfig, props: dict[str, Any]
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "type": kind.value,
        **_identity(inv.invoice, inv.customer, config),
        "timestamp": inv.when.isoformat(),
        "context": {"library": dict(_LIBRARY)},
        "properties": props,
    }


def _orders(lines: pd.DataFrame, postage: pd.DataFrame, config: UciConfig) -> list[dict[str, Any]]:
    shipping = (postage["quantity"] * postage["price"]).groupby(postage["invoice"]).sum()
    shipping_of = {str(k): float(v) for k, v in shipping.items() if v > 0}
    events = []
    for inv in _invoices(lines):
        props: dict[str, Any] = {
            "order_id": inv.invoice,
            "products": inv.products,
            "revenue": inv.revenue,
            "currency": config.currency,
            "country": inv.country,
        }
        if inv.invoice in shipping_of:
            props["shipping"] = round(shipping_of[inv.invoice], 2)
        message_id = f"uci-order-{inv.invoice}"
        events.append(_envelope(message_id, EventType.ORDER_COMPLETED, inv, config, props))
    return events


def _match_originals(cancels: pd.DataFrame, sales: pd.DataFrame) -> pd.Series:
    """Per cancellation line, the customer's latest earlier invoice with the same stock code."""
    left = cancels[["when", "customer", "code"]].reset_index().sort_values("when")
    right = sales[["when", "customer", "code", "invoice"]].sort_values("when")
    matched = pd.merge_asof(
        left,
        right,
        on="when",
        by=["customer", "code"],
        direction="backward",
        allow_exact_matches=True,
    )
    return matched.set_index("index")["invoice"].reindex(cancels.index)


def _refunds(
    cancels: pd.DataFrame, sales: pd.DataFrame, config: UciConfig
) -> tuple[list[dict[str, Any]], int]:
    if cancels.empty:
        return [], 0
    matched = pd.DataFrame(
        {"invoice": cancels["invoice"], "original": _match_originals(cancels, sales)}
    )
    # the original order of a cancellation: the invoice most of its lines point to
    original = (
        matched.dropna()
        .groupby(["invoice", "original"], sort=True)
        .size()
        .reset_index(name="lines")
        .sort_values(["invoice", "lines"], ascending=[True, False], kind="stable")
        .drop_duplicates("invoice")
        .set_index("invoice")["original"]
    )
    events = []
    unmatched = 0
    for inv in _invoices(cancels):
        found = inv.invoice in original.index
        unmatched += not found
        props: dict[str, Any] = {
            "order_id": str(original[inv.invoice]) if found else inv.invoice,
            "products": inv.products,
            "revenue": inv.revenue,
            "currency": config.currency,
            "cancellation_id": inv.invoice,
            "matched": found,
        }
        message_id = f"uci-refund-{inv.invoice}"
        events.append(_envelope(message_id, EventType.ORDER_REFUNDED, inv, config, props))
    return events, unmatched
