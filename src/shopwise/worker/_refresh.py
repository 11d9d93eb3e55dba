"""The candidate refresh: each shopper's precomputed list, recomputed only where it may change.

A precomputed list is a function of the champion, the profile's recent products and its consent,
nothing else. The lists live in the store, one row per (recommender version, profile)
(:class:`~shopwise.recommend.lists.CandidateLists`), and each refresh saves a small record in the
``candidates`` registry (:class:`~shopwise.recommend.Precomputed`: the version that ranked, when)
with a meta that says what the pass did. A refresh recomputes only the profiles whose row changed
since the previous record's read (``profiles.updated_at``: new events, a merge, a consent choice
all rewrite the row), drops the rows of profiles that are gone (erased, merged into another) or no
longer allow personalization, and leaves every other row as it is.

A **full pass** recomputes every profile instead: when there is no previous record, when the
champion changed, when the previous record was read under another history length, personalization
consent mode or list storage, when it could not be loaded, and at least every
:data:`FULL_PASS_SECONDS` whatever happened; it then deletes the rows of the version it did not
rewrite. Each saved record's meta says which pass made it (``pass``, and the ``reason`` of a full
one), how many lists were ``recomputed``, ``carried`` and ``dropped``, and when its profiles were
read (``read_at``), which the next incremental pass starts from.

Profiles are read a page of :data:`PAGE` at a time (keyset order), ranked and written before the
next page is read, so the worker's memory does not grow with the number of shoppers. The
incremental pass is exact for the profiles it recomputes: they go through the same
:func:`~shopwise.recommend.training.precompute` a full pass runs. Erasure deletes a person's rows
with their other rows, and a write keeps only profiles still stored (see
:mod:`shopwise.recommend.lists`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

import sqlalchemy as sa

from shopwise.errors import ModelNotTrained
from shopwise.logs import Progress
from shopwise.privacy import ConsentPolicy
from shopwise.profiles import ProfileState
from shopwise.recommend import Precomputed, RecommenderArtifact, profile_products
from shopwise.recommend.training import precompute
from shopwise.runtime import Runtime
from shopwise.schema import Purpose
from shopwise.store import profiles

FULL_PASS_SECONDS: Final = 24 * 3600
"""The longest time between two full passes (a pass after it recomputes every profile)."""
OVERLAP_MS: Final = 2 * 60 * 1000
"""How far before the previous read an incremental pass looks for changed profiles. A profile
row carries the time it was written on its writer's clock, and a write transaction may commit a
little after that time, so a row changed just before the previous read may not have been seen by
it; looking back this far recomputes those few profiles once more instead of missing them."""

PAGE: Final = 1000
"""Profiles a refresh reads, ranks and writes at a time."""
STORAGE: Final = "store"
"""Where the lists are kept (a record's meta says it): records of lists kept elsewhere by an
earlier version are followed by a full pass."""

Pass = Literal["full", "incremental"]


@dataclass(frozen=True)
class Plan:
    """Which pass a refresh runs, and from what."""

    kind: Pass
    reason: str
    """Why a full pass (empty for an incremental one)."""
    since: int | None = None
    """Incremental: recompute the profiles written after this time (epoch ms)."""
    full_at: int | None = None
    """Incremental: when the last full pass read its profiles (epoch ms)."""


def refresh_precomputed(
    runtime: Runtime,
    progress: Progress,
    history: int,
    full_pass_seconds: float = FULL_PASS_SECONDS,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Refresh the shoppers' precomputed lists with the champion and promote the new record.

    Parameters
    ----------
    runtime
        The runtime whose champion ranks, whose store keeps the lists and whose ``candidates``
        registry keeps the records.
    progress
        Told what the refresh is doing.
    history
        How many of a profile's most recent products its list is computed from.
    full_pass_seconds
        The longest time between two full passes.
    clock
        Epoch seconds now (tests move it).

    Returns
    -------
    dict
        The saved ``version``, the ``model_version`` it ranked with, the number of
        ``profiles`` with a list, the ``pass`` and the ``recomputed``, ``carried`` and
        ``dropped`` counts.
    """
    runtime.champion.refresh()
    artifact, version = runtime.champion.get(), runtime.champion.version
    if artifact is None or version is None:
        raise ModelNotTrained("no recommender champion yet; run 'shopwise train recommenders'")
    basis = {
        "model_version": version,
        "history": history,
        "consent_personalization": _personalization_mode(runtime.consent),
        "lists": STORAGE,
    }
    runtime.precomputed.refresh()
    previous = None if runtime.precomputed.last_error else runtime.precomputed.get()
    read_at = int(clock() * 1000)
    plan = plan_pass(previous, _previous_meta(runtime), basis, read_at, full_pass_seconds)
    counts = _write_lists(runtime, artifact, version, history, plan, read_at, clock, progress)
    meta = {
        **basis,
        **counts,
        "pass": plan.kind,
        "reason": plan.reason,
        "read_at": read_at,
        "since": plan.since,
        "full_at": read_at if plan.full_at is None else plan.full_at,
    }
    record = Precomputed(version, int(clock() * 1000), artifact.model.name)
    saved = runtime.precomputed_registry.save(record, meta, promote=True)
    runtime.precomputed.refresh()
    _keep_listed_versions(runtime)
    return {"version": saved, "model_version": version, "pass": plan.kind, **counts}


def _write_lists(
    runtime: Runtime,
    artifact: RecommenderArtifact,
    version: str,
    history: int,
    plan: Plan,
    read_at: int,
    clock: Callable[[], float],
    progress: Progress,
) -> dict[str, int]:
    """Recompute and write the lists the plan reads, drop the ones that went; the number of
    ``profiles`` with a list after it, and how many were ``recomputed``, ``carried`` over and
    ``dropped``."""
    if plan.kind == "full":
        progress(f"reading every profile's history (full pass: {plan.reason})")
    else:
        progress("reading the histories of the profiles changed since the last refresh")
    lists = runtime.candidate_lists
    recomputed = dropped = read = 0
    for page in read_histories(runtime.engine, runtime.consent, history, plan.since):
        fresh = precompute(artifact, page.histories)
        recomputed += lists.write(version, fresh, int(clock() * 1000))
        dropped += lists.drop(version, page.read - fresh.keys())
        read += len(page.read)
        progress(f"recomputed {recomputed} lists of {read} profiles read")
    if plan.kind == "full":
        dropped += lists.drop_stale(version, read_at)
    dropped += lists.drop_gone(version)
    listed = lists.count(version)
    carried = 0 if plan.kind == "full" else listed - recomputed
    return {"profiles": listed, "recomputed": recomputed, "carried": carried, "dropped": dropped}


def _keep_listed_versions(runtime: Runtime) -> None:
    """Delete the lists of recommender versions no kept record ranked with."""
    registry = runtime.precomputed_registry
    kept = {str(registry.meta(v).get("model_version")) for v in registry.versions()}
    runtime.candidate_lists.keep_versions(kept)


def plan_pass(
    previous: Precomputed | None,
    meta: dict[str, Any] | None,
    basis: dict[str, Any],
    now_ms: int,
    full_pass_seconds: float = FULL_PASS_SECONDS,
) -> Plan:
    """Which pass to run, given the previous lists and their meta (see module docstring).

    Parameters
    ----------
    previous
        The lists serving holds now, or ``None``.
    meta
        The saved meta of those lists, or ``None``.
    basis
        What the new lists are made from (``model_version``, ``history``,
        ``consent_personalization``): any difference from the previous meta's needs a full pass.
    now_ms
        When this refresh reads the profiles (epoch ms).
    full_pass_seconds
        The longest time between two full passes.
    """
    if previous is None or meta is None:
        return Plan("full", "no previous lists")
    if previous.model_version != basis["model_version"]:
        return Plan("full", "the champion changed")
    changed = sorted(name for name, value in basis.items() if meta.get(name) != value)
    if changed:
        return Plan("full", f"{', '.join(changed)} changed")
    read_at, full_at = meta.get("read_at"), meta.get("full_at")
    if not isinstance(read_at, int) or not isinstance(full_at, int):
        return Plan("full", "the previous lists were made by a full refresh of an older version")
    if now_ms - full_at >= full_pass_seconds * 1000:
        return Plan("full", "periodic full pass")
    return Plan("incremental", "", since=read_at - OVERLAP_MS, full_at=full_at)


@dataclass(frozen=True)
class Page:
    """One page of profiles read for a refresh."""

    histories: dict[str, list[str]]
    """Profile id -> its recent product ids (oldest first), for those allowing personalization."""
    read: set[str]
    """Every profile read (those refusing personalization included)."""


def read_histories(
    engine: sa.Engine,
    consent: ConsentPolicy,
    history: int,
    since: int | None = None,
    page: int = PAGE,
) -> Iterator[Page]:
    """The recent products of the canonical profiles, a page at a time in profile-id order.

    Parameters
    ----------
    engine
        The store.
    consent
        The consent policy; a profile that does not allow personalization gets no history.
    history
        How many of each profile's most recent products to keep.
    since
        Read only the profiles written after this time (epoch ms); ``None`` reads them all.
        Profiles merged into another are never read.
    page
        Profiles per page.
    """
    after = ""
    while True:
        query = (
            sa.select(profiles.c.profile_id, profiles.c.state)
            .where(profiles.c.merged_into.is_(None), profiles.c.profile_id > after)
            .order_by(profiles.c.profile_id)
            .limit(page)
        )
        if since is not None:
            query = query.where(profiles.c.updated_at > since)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return
        histories: dict[str, list[str]] = {}
        for row in rows:
            state = ProfileState.from_json(row.state)
            if consent.allows(state.consent, Purpose.PERSONALIZATION):
                entries = sorted(profile_products(state))
                histories[row.profile_id] = [pid for _ts, pid in entries][-history:]
        yield Page(histories, {row.profile_id for row in rows})
        after = rows[-1].profile_id


def _previous_meta(runtime: Runtime) -> dict[str, Any] | None:
    """The saved meta of the lists serving holds, or ``None`` when it cannot be read."""
    version = runtime.precomputed.version
    if version is None:
        return None
    try:
        return runtime.precomputed_registry.meta(version)
    except FileNotFoundError:
        return None


def _personalization_mode(consent: ConsentPolicy) -> str:
    """What silence means for personalization under ``consent`` (``opt_in`` or ``opt_out``)."""
    return str(consent.modes.get(Purpose.PERSONALIZATION, "opt_in"))
