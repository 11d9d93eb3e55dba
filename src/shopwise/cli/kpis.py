"""``shopwise kpis``: the online KPIs the worker's ``kpis`` job keeps, as a table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from shopwise.cli._common import console, fail, load_settings
from shopwise.errors import ShopwiseError

DEFAULT_DAYS = 7
"""Days shown when no ``--from`` is given."""

COLUMNS = (
    ("impressions", "impressions", "{:d}"),
    ("clicks", "clicks", "{:d}"),
    ("ctr", "CTR", "{:.2%}"),
    ("add_to_cart_rate", "add to cart", "{:.2%}"),
    ("conversion_rate", "conversion", "{:.2%}"),
    ("revenue", "revenue", "{:.2f}"),
    ("revenue_per_visitor", "per visitor", "{:.2f}"),
    ("average_order_value", "AOV", "{:.2f}"),
    ("catalog_coverage", "coverage", "{:.2%}"),
    ("fallback_share", "fallback", "{:.2%}"),
)
"""Rate and count columns shown: field, heading, format."""


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} takes an ISO date or time (2026-03-01, 2026-03-01T12:00Z), not {text!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _cell(row: dict[str, Any], field: str, form: str) -> str:
    value = row[field]
    return "-" if value is None else form.format(value)


def kpis(
    start: str | None = typer.Option(None, "--from", help="First bucket (ISO; UTC if naive)."),
    end: str | None = typer.Option(None, "--to", help="Buckets starting before (default now)."),
    grain: str = typer.Option("day", "--grain", help="hour | day"),
    placement: str | None = typer.Option(None, "--placement", help="Only this placement."),
) -> None:
    """Print the online KPIs per bucket, placement, model, rule version and variant."""
    from shopwise import store
    from shopwise.kpis import DAY_MS, read_kpis

    end_at, start_at = _moment(end, "--to"), _moment(start, "--from")
    end_ms = int((end_at or datetime.now(UTC)).timestamp() * 1000)
    start_ms = (
        end_ms - DEFAULT_DAYS * DAY_MS if start_at is None else int(start_at.timestamp() * 1000)
    )
    engine = store.create_engine(load_settings())
    try:
        if not store.is_current(engine):
            store.upgrade(engine)
        rows = read_kpis(engine, start_ms, end_ms, grain, placement=placement)
    except ShopwiseError as exc:
        fail(exc.message)
    finally:
        engine.dispose()
    table = Table("bucket", "placement", "model", "rules", "variant", title=f"KPIs per {grain}")
    for _field, heading, _form in COLUMNS:
        table.add_column(heading, justify="right")
    for row in rows:
        keys = [row[k] for k in ("bucket_start", "placement", "model_version", "rule_version")]
        cells = [_cell(row, field, form) for field, _heading, form in COLUMNS]
        table.add_row(*keys, row["variant"], *cells)
    console.print(table)
