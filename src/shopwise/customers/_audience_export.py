"""Audience exports for ad platforms: the lookalike audience of the top customers, and bids.

Only people whose consent allows advertising (explicitly granted, not opted out of sale) are ever
written, with SHA-256-hashed emails (:meth:`shopwise.privacy.ConsentPolicy.allows`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd
import sqlalchemy as sa

from shopwise.customers._artifacts import SEGMENT, CustomerModelsConfig
from shopwise.customers._champions import CustomerModels
from shopwise.customers._scoring import score_profiles, span
from shopwise.customers.segments import (
    audience_rows,
    bid_multipliers,
    hash_email,
    lookalike_scores,
    write_audience,
    write_bids_csv,
)
from shopwise.errors import ModelNotTrained
from shopwise.features import StoreFrames, customer_features
from shopwise.privacy import ConsentPolicy, PiiCipher
from shopwise.schema import Columns, Purpose
from shopwise.store import audience_exports, profiles, write_transaction

Target = str | Path | IO[str]
BIDS_UNTRAINED = "bids need trained propensity, CLV and segment models"


@dataclass(frozen=True)
class LookalikeAudience:
    """One computed lookalike audience: ``rows`` (``hashed_email`` and ``score`` by profile id,
    best first, consented only), the seed and candidate counts, and the bid table (``None`` until
    the propensity, CLV and segment models are trained)."""

    rows: pd.DataFrame
    seed: int
    candidates: int
    bids: pd.DataFrame | None


def record_export(conn: sa.Connection, profile_ids: Iterable[str], kind: str) -> str:
    """Keep who was written in an export (``audience_exports``), so a person can be told where
    their data went; returns the export's id."""
    export_id = uuid.uuid4().hex[:16]
    now = int(time.time() * 1000)
    rows = [
        {"export_id": export_id, Columns.PROFILE: str(p), "kind": kind, "exported_at": now}
        for p in profile_ids
    ]
    if rows:
        conn.execute(audience_exports.insert(), rows)
    return export_id


class AudienceExport:
    """Writes the lookalike audience and the bid table of one store as CSV."""

    def __init__(
        self,
        engine: sa.Engine,
        models: CustomerModels,
        config: CustomerModelsConfig,
        policy: ConsentPolicy,
        cipher: PiiCipher,
    ) -> None:
        self.engine = engine
        self.models = models
        self.config = config
        self.policy = policy
        self.cipher = cipher

    def lookalikes(
        self,
        frames: StoreFrames,
        target: Target,
        bids: Target | None = None,
        *,
        seed_share: float = 0.1,
        top_n: int = 1000,
    ) -> dict[str, Any]:
        """Write the lookalike audience of the top CLV customers, and the bid table, as CSV.

        The seed is the top ``seed_share`` of profiles by ``clv_gbm`` (else ``clv``, else the
        purchase propensity) in the current scores; every other profile is scored by similarity
        and the best ``top_n`` that allow advertising and have an email are written with
        SHA-256-hashed emails. Bids are per K-Means segment: purchase propensity times expected
        order value, bounded and explained.
        """
        audience = self.lookalike_audience(frames, seed_share=seed_share, top_n=top_n)
        written = write_audience(target, audience.rows)
        with write_transaction(self.engine) as conn:
            export_id = record_export(conn, audience.rows.index, "lookalike")
        result: dict[str, Any] = {
            "export_id": export_id,
            "seed": audience.seed,
            "candidates": audience.candidates,
            "rows": written,
        }
        if bids is not None:
            if audience.bids is None:
                raise ModelNotTrained(BIDS_UNTRAINED)
            result["bid_rows"] = write_bids_csv(bids, audience.bids)
        return result

    def lookalike_audience(
        self, frames: StoreFrames, *, seed_share: float = 0.1, top_n: int = 1000
    ) -> LookalikeAudience:
        """The rows :meth:`lookalikes` writes (consent-filtered, hashed emails), with the bids."""
        scores, members = score_profiles(self.models, frames)
        _, last = span(frames)
        features = customer_features(frames.events, frames.orders, last)
        value = _seed_value(scores)
        seed = value.nlargest(max(1, round(len(value) * seed_share))).index
        similar = lookalike_scores(features, list(seed), self.config.lookalike)
        allowed = self.policy.allowed_profiles(self.engine, Purpose.ADVERTISING)
        rows = audience_rows(similar, self._emails(), allowed, top_n=top_n)
        bids = self.bid_table(scores, members) if _can_bid(scores, members) else None
        return LookalikeAudience(rows, len(seed), len(similar), bids)

    def bids(self, frames: StoreFrames, target: Target) -> int:
        """Write the current bid table as CSV; returns the number of rows."""
        scores, members = score_profiles(self.models, frames)
        return write_bids_csv(target, self.bid_table(scores, members))

    def bid_table(self, scores: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
        """Bid multipliers per K-Means segment (see :func:`bid_multipliers`)."""
        if not _can_bid(scores, members):
            raise ModelNotTrained(BIDS_UNTRAINED)
        segments = members.loc[members["kind"] == SEGMENT].set_index(Columns.PROFILE)[SEGMENT]
        return bid_multipliers(
            segments, scores["purchase_7d"], scores["expected_order_value"], self.config.bids
        )

    def hashed_emails(self, profile_ids: Iterable[str]) -> dict[str, str]:
        """The SHA-256-hashed email of each of ``profile_ids`` that has one."""
        emails = self._emails(list(profile_ids))
        return {str(p): hash_email(str(email)) for p, email in emails.items()}

    def _emails(self, profile_ids: list[str] | None = None) -> pd.Series:
        """Every unmerged profile's email, or only those of ``profile_ids``."""
        emails: dict[str, str] = {}
        query = sa.select(profiles.c.profile_id, profiles.c.state).where(
            profiles.c.merged_into.is_(None)
        )
        if profile_ids is not None:
            query = query.where(profiles.c.profile_id.in_(profile_ids))
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                email = (row.state.get("traits") or {}).get("email")
                opened = self.cipher.open(email[0]) if email else None
                if isinstance(opened, str) and opened:
                    emails[row.profile_id] = opened
        return pd.Series(emails, dtype=object)


def _can_bid(scores: pd.DataFrame, members: pd.DataFrame) -> bool:
    """Whether the propensity, CLV and segment models that :meth:`AudienceExport.bid_table`
    reads ran."""
    has_segments = bool((members["kind"] == SEGMENT).any())
    return has_segments and "purchase_7d" in scores and "expected_order_value" in scores


def _seed_value(scores: pd.DataFrame) -> pd.Series:
    for name in ("clv_gbm", "clv", "purchase_7d"):
        if name in scores and scores[name].notna().any():
            column: pd.Series = scores[name].dropna()
            return column
    raise ModelNotTrained("lookalikes need a trained CLV or propensity model")
