"""CSV exports for ad platforms: hashed-email audiences and bid multipliers.

Ad platforms match customers on the SHA-256 of the trimmed, lower-cased email address; the plain
address never leaves the shop. Consent is the caller's call: every export takes a predicate that
says whether a profile may be used for ad targeting, and the privacy stage builds it from consent
state (advertising purpose granted and no CCPA "do not sell"). Rows the predicate refuses, and rows
without an email, are never written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pandas as pd

from shopwise.files import open_private_text
from shopwise.schema import Columns

HASHED_EMAIL = "hashed_email"
ConsentPredicate = Callable[[str], bool]
"""Takes a profile id, returns whether the profile may be exported for advertising."""


def hash_email(email: str) -> str:
    """SHA-256 hex digest of the trimmed, lower-cased ``email`` (the ad-platform match key)."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def audience_rows(
    scores: pd.Series,
    emails: pd.Series,
    allowed: ConsentPredicate,
    *,
    top_n: int | None = None,
) -> pd.DataFrame:
    """The exportable rows of an audience: consented profiles with an email, best scores first.

    Parameters
    ----------
    scores
        Score per profile id (lookalike score, CLV, propensity).
    emails
        Email per profile id.
    allowed
        Consent predicate; profiles for which it returns ``False`` are left out.
    top_n
        Keep at most this many rows, after consent filtering.

    Returns
    -------
    pandas.DataFrame
        Columns ``hashed_email`` and ``score``, sorted by score descending, indexed by profile
        id (the index is not written to the CSV).
    """
    joined = pd.DataFrame({"score": scores, "email": emails.reindex(scores.index)}).dropna()
    joined = joined.loc[joined["email"].astype(str).str.strip() != ""]
    permitted = [bool(allowed(str(profile))) for profile in joined.index]
    joined = joined.loc[permitted].sort_values("score", ascending=False, kind="stable")
    if top_n is not None:
        joined = joined.head(top_n)
    rows = pd.DataFrame(
        {
            HASHED_EMAIL: [hash_email(str(email)) for email in joined["email"]],
            Columns.SCORE: joined["score"].to_numpy(),
        },
        index=joined.index.rename(Columns.PROFILE),
    )
    return rows.drop_duplicates(HASHED_EMAIL)


def write_audience_csv(
    target: str | Path | IO[str],
    scores: pd.Series,
    emails: pd.Series,
    allowed: ConsentPredicate,
    *,
    top_n: int | None = None,
) -> int:
    """Write :func:`audience_rows` as CSV to ``target`` and return the number of rows written."""
    return write_audience(target, audience_rows(scores, emails, allowed, top_n=top_n))


def write_audience(target: str | Path | IO[str], rows: pd.DataFrame) -> int:
    """Write rows of :func:`audience_rows` as CSV (hashed emails and scores, no profile ids)."""
    _to_csv(rows, target, float_format="%.6f")
    return len(rows)


def write_bids_csv(target: str | Path | IO[str], bids: pd.DataFrame) -> int:
    """Write a :func:`bid_multipliers` table as CSV (audience, multiplier, explanation)."""
    out = bids.reset_index()[["audience", "multiplier", "customers", "explanation"]]
    _to_csv(out, target)
    return len(out)


def _to_csv(frame: pd.DataFrame, target: str | Path | IO[str], **options: Any) -> None:
    """``frame`` as CSV into an open stream, or into a file readable by its owner only."""
    if isinstance(target, str | Path):
        with open_private_text(Path(target)) as handle:
            frame.to_csv(handle, index=False, **options)
    else:
        frame.to_csv(target, index=False, **options)
