"""PII sealing: values round-trip, stay unreadable at rest, rotate, and need the right secret."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from shopwise import store
from shopwise.privacy import DataKeyError, PiiCipher, is_token
from shopwise.settings import Settings


@pytest.fixture
def engine(settings: Settings) -> sa.Engine:
    eng = store.create_engine(settings)
    store.upgrade(eng)
    return eng


def test_pii_traits_round_trip_and_others_are_left_alone(engine: sa.Engine) -> None:
    cipher = PiiCipher(engine, b"secret")
    values: dict[str, Any] = {
        "email": "Ann@Example.com",
        "address": {"city": "Leeds", "street": "1 Rose Lane"},
        "birthday": "1990-02-01",
        "plan": "gold",
    }
    sealed = cipher.seal_json({"traits": values, "product_id": "p1"})
    traits = sealed["traits"]
    assert all(is_token(traits[name]) for name in ("email", "address", "birthday"))
    assert traits["plan"] == "gold" and sealed["product_id"] == "p1"
    assert "Ann" not in str(sealed) and "Rose" not in str(sealed)
    assert cipher.open_json(sealed) == {"traits": values, "product_id": "p1"}
    assert cipher.seal_json(sealed) == sealed  # sealing twice changes nothing
    # an email token carries the keyed hash of the normalised address, for exact lookups
    assert traits["email"].endswith(":" + cipher.index(" ann@example.COM "))
    assert not traits["address"].endswith(cipher.index("x"))


def test_another_process_with_the_secret_reads_and_a_wrong_secret_is_refused(
    engine: sa.Engine,
) -> None:
    sealed = PiiCipher(engine, b"secret").seal("email", "ann@example.com")
    assert PiiCipher(engine, b"secret").open(sealed) == "ann@example.com"
    with pytest.raises(DataKeyError, match="SHOPWISE_SECRET_KEY"):
        PiiCipher(engine, b"another secret").open(sealed)


def test_rotation_reseals_every_stored_value_under_a_new_key(engine: sa.Engine) -> None:
    cipher = PiiCipher(engine, b"secret")
    email = cipher.seal("email", "ann@example.com")
    first = cipher.active_key
    state = {"traits": {"email": [email, 1, "m1", "identify"]}, "consent": {}}
    with engine.begin() as conn:
        conn.execute(store.profiles.insert().values(profile_id="p_1", state=state, updated_at=1))
        conn.execute(
            store.dead_letters.insert().values(
                received_at=1,
                fingerprint="f",
                raw=f'{{"properties": {{"traits": {{"email": "{email}"}}}}}}',
                code="x",
                message="x",
            )
        )
    counts = cipher.rotate()
    assert counts == {"profiles": 1, "events": 0, "dead_letters": 1}
    assert cipher.active_key != first
    with engine.connect() as conn:
        stored = conn.execute(sa.select(store.profiles.c.state)).scalar_one()
        raw = conn.execute(sa.select(store.dead_letters.c.raw)).scalar_one()
    fresh = stored["traits"]["email"][0]
    assert fresh.startswith(f"pii:1:{cipher.active_key}:") and fresh != email
    assert fresh.endswith(":" + cipher.index("ann@example.com"))  # lookups survive rotation
    assert cipher.open(fresh) == "ann@example.com" and cipher.open(email) == "ann@example.com"
    assert f"pii:1:{cipher.active_key}:" in raw and email not in raw
    assert cipher.rotate()["profiles"] == 1
