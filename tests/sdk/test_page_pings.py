"""Page pings, as the JS SDK sends them, in the session features: they stretch dwell to the last
active moment and are neither counted as events nor as what saves a session from a bounce."""

from __future__ import annotations

import pytest

from shopwise.features import session_features
from shopwise.features.testing import day, events_frame
from shopwise.schema import EventType, required_properties

AS_OF = day(60)
MINUTE = 1 / 1440


def test_page_pings_stretch_dwell_but_are_not_actions() -> None:
    ping = EventType.PAGE_PING.value
    events = events_frame(
        [
            ("a", "page_viewed", 10, "s1", None, None, None),
            ("a", ping, 10 + 1 * MINUTE, "s1", None, None, None),
            ("a", ping, 10 + 3 * MINUTE, "s1", None, None, None),
            ("b", "page_viewed", 20, "s2", None, None, None),
            ("b", "product_viewed", 20 + 1 * MINUTE, "s2", "i1", 5.0, "c1"),
        ]
    )
    frame = session_features(events, AS_OF)
    a, b = frame.loc["a"], frame.loc["b"]
    assert a["dwell_seconds"] == pytest.approx(180, abs=1e-3), "to the last ping"
    assert a["events"] == 1 and a["page_views"] == 1
    assert a["bounce_rate"] == 1.0, "one page read for three minutes is still one page"
    assert b["events"] == 2 and b["bounce_rate"] == 0.0


def test_a_page_ping_requires_its_active_seconds() -> None:
    assert required_properties(EventType.PAGE_PING) == ["active_seconds"]
