"""Online KPIs: what the served answers led to, attributed through their ``recommendation_id``.

Measurement stage, above privacy and the store: :class:`KpiRefresh` (the worker's ``kpis`` job)
keeps per-hour and per-day counts in ``kpi_buckets`` current from the event log under the
attribution rules of :func:`aggregate`, for consenting shoppers only; :func:`read_kpis` reads them
with their rates (the API's ``GET /v1/kpis`` and ``shopwise kpis``); :func:`read_unit_totals`
runs the same attribution over the log grouped as its caller asks (an experiment's units), and
:func:`read_unit_behaviour` reads chosen shoppers' views, adds and orders (CUPED's covariates).
"""

from shopwise.kpis._attribution import (
    DAY_MS,
    HOUR_MS,
    Dims,
    Exposure,
    Order,
    Tally,
    Totals,
    Touch,
    aggregate,
    aggregate_by,
    outcomes,
)
from shopwise.kpis._query import GRAINS, RATES, Grain, read_kpis
from shopwise.kpis._refresh import CONSUMER, KpiRefresh
from shopwise.kpis._units import BEHAVIOUR, Behaviour, read_unit_behaviour, read_unit_totals

__all__ = [
    "BEHAVIOUR",
    "CONSUMER",
    "DAY_MS",
    "GRAINS",
    "HOUR_MS",
    "RATES",
    "Behaviour",
    "Dims",
    "Exposure",
    "Grain",
    "KpiRefresh",
    "Order",
    "Tally",
    "Totals",
    "Touch",
    "aggregate",
    "aggregate_by",
    "outcomes",
    "read_kpis",
    "read_unit_behaviour",
    "read_unit_totals",
]
