"""The event store as an event log for the temporal protocol.

The same consented interactions that training reads (:mod:`shopwise.recommend.training`), one row
per product interaction with the canonical profile as the user, and the catalog as item content,
so cold-start items (sold only after the cutoff) can be scored by the content model.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from shopwise.catalog import Catalog
from shopwise.evaluate._datasets import EventLog
from shopwise.evaluate._errors import EvaluationInputError
from shopwise.privacy import ConsentPolicy
from shopwise.recommend.candidates import ItemIndex
from shopwise.recommend.training import consented_interactions, item_content
from shopwise.schema import Columns


def store_event_log(engine: sa.Engine, catalog: Catalog, policy: ConsentPolicy) -> EventLog:
    """Every consented product interaction of the store, oldest first."""
    rows, _excluded = consented_interactions(engine, policy)
    if not rows:
        raise EvaluationInputError("the event store holds no consented product interactions")
    rows.sort(key=lambda i: i.timestamp)
    known = set(catalog.snapshot())
    items = ItemIndex(tuple(sorted(known | {i.product for i in rows})))
    events = pd.DataFrame(
        {
            Columns.USER: [i.profile for i in rows],
            Columns.ITEM: items.encode([i.product for i in rows]),
            Columns.TIME: pd.to_datetime([i.timestamp for i in rows], unit="ms"),
        }
    )
    return EventLog(events=events, items=items, content=item_content(items, catalog))
