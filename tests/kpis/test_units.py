"""Shoppers' behaviour read straight from the log (CUPED's pre-period covariates): every view, add
and order in the range counts, attributed to an answer or not, for consenting shoppers only, on
the canonical profile of a merged identity."""

from __future__ import annotations

import sqlalchemy as sa
from tests.kpis.helpers import HOUR, T0, Log

from shopwise import store
from shopwise.kpis import BEHAVIOUR, Behaviour, read_unit_behaviour
from shopwise.privacy import ConsentPolicy
from shopwise.profiles import anon_key, profile_id_for

END = T0 + 10 * HOUR


def _profile(shopper: str) -> str:
    return profile_id_for(anon_key(shopper))


def _view(log: Log, shopper: str, at: int, product: str = "p", **extra: object) -> None:
    log.event("product_viewed", shopper, at, {"product_id": product}, **extra)


def _add(log: Log, shopper: str, at: int) -> None:
    log.event("product_added", shopper, at, {"product_id": "p", "quantity": 1})


def test_views_adds_and_orders_count_with_or_without_an_answer(engine: sa.Engine, log: Log) -> None:
    for n in range(3):
        _view(log, "s1", T0 + n)
    answer = log.answer("s1", T0 + 10, ["p"])
    log.click("s1", T0 + 11, answer, "p", type_="product_viewed")  # a view from an answer
    _add(log, "s1", T0 + 12)
    log.order("s1", T0 + 20, "o1", {"p": 5.0, "q": 1.5})  # quantity 2: 13.0
    log.order("s1", T0 + 21, "o1", {"p": 5.0, "q": 1.5})  # the same order sent again
    log.order("s1", T0 + 22, "o2", {"q": 10.0})
    _view(log, "s1", T0 - 1)  # before the range
    _view(log, "s1", END)  # after it (the end is open)
    _view(log, "s2", T0 + 5)
    _view(log, "s3", T0 + 5)  # not asked for
    log.flush(engine)
    found = read_unit_behaviour(
        engine, ConsentPolicy(), T0, END, [_profile("s1"), _profile("s2"), _profile("nobody")]
    )
    assert found == {
        _profile("s1"): Behaviour(views=4, adds=1, orders=2, revenue=33.0),
        _profile("s2"): Behaviour(views=1),
    }
    assert found[_profile("s1")].row() == (4.0, 1.0, 2.0, 33.0)
    assert len(BEHAVIOUR) == len(Behaviour().row())


def test_refused_consent_hides_behaviour(engine: sa.Engine, log: Log) -> None:
    with engine.begin() as conn:
        conn.execute(
            store.profiles.insert().values(
                profile_id=_profile("s-no"),
                state={"consent": {"analytics": [False, T0, "m-c"]}},
                merged_into=None,
                updated_at=T0,
            )
        )
    _view(log, "s-no", T0 + 1)
    log.order("s-no", T0 + 2, "o-no", {"p": 50.0})
    _view(log, "s-said-no", T0 + 1, context={"consent": {"purposes": {"analytics": False}}})
    _view(log, "s-said-no", T0 + 2)
    log.flush(engine)
    wanted = [_profile("s-no"), _profile("s-said-no")]
    found = read_unit_behaviour(engine, ConsentPolicy(), T0, END, wanted)
    assert found == {_profile("s-said-no"): Behaviour(views=1)}


def test_a_merged_identity_counts_for_its_canonical_profile(engine: sa.Engine, log: Log) -> None:
    owner = _profile("phone")
    with engine.begin() as conn:
        conn.execute(
            store.identities.insert(),
            [
                {"id_key": anon_key("phone"), "profile_id": owner, "created_at": T0},
                {"id_key": anon_key("laptop"), "profile_id": owner, "created_at": T0},
            ],
        )
    _view(log, "phone", T0 + 1)
    _view(log, "laptop", T0 + 2)
    log.order("laptop", T0 + 3, "o-l", {"p": 2.5})
    log.flush(engine)
    found = read_unit_behaviour(engine, ConsentPolicy(), T0, END, [owner, _profile("laptop")])
    assert found == {owner: Behaviour(views=2, orders=1, revenue=5.0)}
