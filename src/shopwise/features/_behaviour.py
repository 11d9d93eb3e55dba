"""Behaviour features from the events frame: sessions, affinities, price sensitivity, email.

Everything here reads the events known at ``as_of`` (via :func:`shopwise.features.cut`). Session
features count what a customer did (views, searches, cart adds, checkouts), how long sessions last
(dwell) and how often a session is a single event (bounce). Affinities weight item events by
:data:`shopwise.schema.ITEM_EVENT_WEIGHTS` with an exponential time decay, so a purchase last week
counts for more than a view last year. Price sensitivity compares the prices a customer looks at and
buys with the median price of the same category. Email engagement is open and click rates per send.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from shopwise.features._frames import as_timestamp, check_events, cut, days
from shopwise.schema import ITEM_EVENT_WEIGHTS, Columns, EventType

_COUNTED = {
    "views": EventType.PRODUCT_VIEWED,
    "searches": EventType.PRODUCTS_SEARCHED,
    "cart_adds": EventType.PRODUCT_ADDED,
    "checkouts": EventType.CHECKOUT_STARTED,
    "page_views": EventType.PAGE_VIEWED,
}


def _count(events: pd.DataFrame, event_type: str) -> pd.Series:
    hits = events.loc[events[Columns.TYPE] == event_type]
    return hits.groupby(Columns.PROFILE).size().astype(float)


def _days_since(events: pd.DataFrame, event_type: str, stamp: pd.Timestamp) -> pd.Series:
    hits = events.loc[events[Columns.TYPE] == event_type]
    return days(stamp - hits.groupby(Columns.PROFILE)[Columns.TIME].max())


def session_features(
    events: pd.DataFrame, as_of: datetime | pd.Timestamp | str, *, recent_days: float = 7.0
) -> pd.DataFrame:
    """Per-profile session features from the events known at ``as_of``.

    Parameters
    ----------
    events
        Events frame (see :data:`shopwise.features.EVENT_COLUMNS`).
    as_of
        Cutoff; later events are ignored.
    recent_days
        Width of the "recent" window for the ``recent_*`` counts.

    Returns
    -------
    pandas.DataFrame
        Indexed by profile id: ``sessions``, ``events``, counts per kind (``views``, ``searches``,
        ``cart_adds``, ``checkouts``, ``page_views``), their ``recent_*`` versions,
        ``dwell_seconds`` (mean session length, to the last page ping), ``bounce_rate``,
        ``cart_rate`` (cart adds per view), ``days_since_event`` and ``days_since_cart_add``.
    """
    check_events(events)
    stamp = as_timestamp(as_of)
    known = cut(events, stamp)
    # page pings (the SDK's activity heartbeats) stretch a session to the shopper's last
    # active moment, so dwell is time on site, not first to last page view; they are not
    # actions, so they count neither as events nor against a bounce
    acts = known[Columns.TYPE] != EventType.PAGE_PING
    sessions = (
        known.assign(_acts=acts)
        .groupby([Columns.PROFILE, Columns.SESSION])
        .agg(min=(Columns.TIME, "min"), max=(Columns.TIME, "max"), size=("_acts", "sum"))
    )
    per_session = sessions.groupby(level=0)
    frame = pd.DataFrame(
        {
            "sessions": per_session.size().astype(float),
            "events": known.loc[acts].groupby(Columns.PROFILE).size().astype(float),
            "dwell_seconds": ((sessions["max"] - sessions["min"]).dt.total_seconds())
            .groupby(level=0)
            .mean(),
            "bounce_rate": (sessions["size"] == 1).astype(float).groupby(level=0).mean(),
        }
    )
    recent = known.loc[known[Columns.TIME] > stamp - pd.Timedelta(days=recent_days)]
    for name, event_type in _COUNTED.items():
        frame[name] = _count(known, event_type)
        frame[f"recent_{name}"] = _count(recent, event_type)
    counts = list(_COUNTED) + [f"recent_{name}" for name in _COUNTED]
    frame[counts] = frame[counts].fillna(0.0)
    frame["cart_rate"] = frame["cart_adds"] / frame["views"].where(frame["views"] > 0)
    frame["days_since_event"] = days(stamp - known.groupby(Columns.PROFILE)[Columns.TIME].max())
    frame["days_since_cart_add"] = _days_since(known, EventType.PRODUCT_ADDED, stamp)
    frame.index.name = Columns.PROFILE
    return frame


def affinities(
    events: pd.DataFrame,
    as_of: datetime | pd.Timestamp | str,
    *,
    column: str = Columns.CATEGORY,
    half_life_days: float = 30.0,
) -> pd.DataFrame:
    """Decayed, weighted affinity of each profile to each value of ``column``.

    Parameters
    ----------
    events
        Events frame.
    as_of
        Cutoff; later events are ignored, and decay is measured back from it.
    column
        :attr:`Columns.CATEGORY` or :attr:`Columns.BRAND` (any item attribute column works).
    half_life_days
        An event this many days old counts half as much as one at ``as_of``.

    Returns
    -------
    pandas.DataFrame
        Long frame with columns profile, ``column``, ``weight`` (decayed sum) and ``share`` (the
        weight over the profile's total, so shares sum to 1 per profile).
    """
    stamp = as_timestamp(as_of)
    known = cut(events, stamp)
    known = known.loc[known[column].notna() & known[Columns.TYPE].isin(ITEM_EVENT_WEIGHTS)]
    age = days(stamp - known[Columns.TIME])
    base = known[Columns.TYPE].map(ITEM_EVENT_WEIGHTS).astype(float)
    weighted = known.assign(**{Columns.WEIGHT: base * np.exp2(-age / half_life_days)})
    long = weighted.groupby([Columns.PROFILE, column])[Columns.WEIGHT].sum().reset_index()
    totals = long.groupby(Columns.PROFILE)[Columns.WEIGHT].transform("sum")
    long["share"] = long[Columns.WEIGHT] / totals
    return long


def affinity_summary(long: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Top share, entropy (bits) and number of distinct values per profile (:func:`affinities`)."""
    by = long.groupby(Columns.PROFILE)["share"]
    entropy = (-long["share"] * np.log2(long["share"])).groupby(long[Columns.PROFILE]).sum()
    frame = pd.DataFrame(
        {
            f"{prefix}_top_share": by.max(),
            f"{prefix}_entropy": entropy,
            f"{prefix}_count": by.size(),
        }
    )
    frame[f"{prefix}_count"] = frame[f"{prefix}_count"].astype(float)
    return frame


def price_features(events: pd.DataFrame, as_of: datetime | pd.Timestamp | str) -> pd.DataFrame:
    """Price sensitivity: prices seen and bought relative to the category median.

    The index of an event is its price over the median price of its category among all priced
    item events known at ``as_of`` (the whole price when the category is missing). A customer who
    buys below what they browse (``bought_vs_viewed`` < 1) is price sensitive.

    Returns
    -------
    pandas.DataFrame
        Indexed by profile id: ``viewed_price_index``, ``bought_price_index``,
        ``bought_vs_viewed``, ``mean_price``.
    """
    known = cut(events, as_of)
    priced = known.loc[known[Columns.PRICE].notna() & (known[Columns.PRICE] > 0)]
    category = priced[Columns.CATEGORY].astype(object).where(priced[Columns.CATEGORY].notna(), "")
    median = priced[Columns.PRICE].groupby(category).transform("median")
    index = priced[Columns.PRICE] / median
    viewed = priced[Columns.TYPE] == EventType.PRODUCT_VIEWED
    bought = priced[Columns.TYPE] == EventType.ORDER_COMPLETED
    profile = priced[Columns.PROFILE]
    frame = pd.DataFrame(
        {
            "viewed_price_index": index[viewed].groupby(profile[viewed]).mean(),
            "bought_price_index": index[bought].groupby(profile[bought]).mean(),
            "mean_price": priced[Columns.PRICE].groupby(profile).mean(),
        }
    )
    frame["bought_vs_viewed"] = frame["bought_price_index"] / frame["viewed_price_index"]
    frame.index.name = Columns.PROFILE
    return frame


def email_features(events: pd.DataFrame, as_of: datetime | pd.Timestamp | str) -> pd.DataFrame:
    """Email engagement: sends, open and click rates, days since the last open and click.

    Returns
    -------
    pandas.DataFrame
        Indexed by profile id: ``emails_sent``, ``email_open_rate``, ``email_click_rate``,
        ``days_since_email_open``, ``days_since_email_click``. Rates are missing without sends.
    """
    stamp = as_timestamp(as_of)
    known = cut(events, stamp)
    sent = _count(known, EventType.EMAIL_SENT)
    frame = pd.DataFrame({"emails_sent": sent})
    frame = frame.reindex(frame.index.union(pd.Index(known[Columns.PROFILE].unique())))
    frame["emails_sent"] = frame["emails_sent"].fillna(0.0)
    has_sends = frame["emails_sent"].where(frame["emails_sent"] > 0)
    frame["email_open_rate"] = (_count(known, EventType.EMAIL_OPENED) / has_sends).clip(upper=1.0)
    frame["email_click_rate"] = (_count(known, EventType.EMAIL_CLICKED) / has_sends).clip(upper=1.0)
    frame["days_since_email_open"] = _days_since(known, EventType.EMAIL_OPENED, stamp)
    frame["days_since_email_click"] = _days_since(known, EventType.EMAIL_CLICKED, stamp)
    frame.loc[has_sends.notna(), ["email_open_rate", "email_click_rate"]] = frame.loc[
        has_sends.notna(), ["email_open_rate", "email_click_rate"]
    ].fillna(0.0)
    frame.index.name = Columns.PROFILE
    return frame
