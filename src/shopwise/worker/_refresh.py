"""The candidate refresh: each shopper's precomputed list, recomputed only where it may change.

A precomputed list (:class:`~shopwise.recommend.Precomputed`) is a function of the champion, the
profile's recent products and its consent, nothing else. So a refresh starts from the lists the
``candidates`` registry holds, made with the same champion, recomputes only the profiles whose
row changed since those lists were read (``profiles.updated_at``: new events, a merge, a consent
choice all rewrite the row), drops the profiles that are gone (erased, merged into another) or no
longer allow personalization, and carries every other list over as it is.

A **full pass** recomputes every profile instead: when there is no previous version, when the
champion changed, when the previous version was read under another history length or
personalization consent mode, when its lists could not be loaded, and at least every
:data:`FULL_PASS_SECONDS` whatever happened. Each saved version's meta says which pass made it
(``pass``, and the ``reason`` of a full one), how many lists were ``recomputed``, ``carried`` and
``dropped``, and when its profiles were read (``read_at``), which the next incremental pass starts
from.

The incremental pass is exact for the profiles it recomputes: they go through the same
:func:`~shopwise.recommend.training.precompute` a full pass runs. Erasure still reaches the lists:
it rewrites every saved version and purges the in-memory one (:mod:`shopwise.rights`), and a
refresh keeps only profiles still in the store, checked right before it saves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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

Pass = Literal["full", "incremental"]
Lists = dict[str, tuple[list[str], list[float], list[list[str]]]]


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
    """Refresh the shoppers' precomputed lists with the champion and promote them.

    Parameters
    ----------
    runtime
        The runtime whose champion ranks and whose ``candidates`` registry keeps the lists.
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
    }
    runtime.precomputed.refresh()
    previous = None if runtime.precomputed.last_error else runtime.precomputed.get()
    read_at = int(clock() * 1000)
    plan = plan_pass(previous, _previous_meta(runtime), basis, read_at, full_pass_seconds)
    lists, counts = _lists(runtime, artifact, version, history, plan, previous, progress)
    meta = {
        **basis,
        **counts,
        "profiles": len(lists),
        "pass": plan.kind,
        "reason": plan.reason,
        "read_at": read_at,
        "since": plan.since,
        "full_at": read_at if plan.full_at is None else plan.full_at,
    }
    saved = runtime.precomputed_registry.save(
        Precomputed(version, int(clock() * 1000), lists), meta, promote=True
    )
    runtime.precomputed.refresh()
    return {
        "version": saved,
        "model_version": version,
        "profiles": len(lists),
        "pass": plan.kind,
        **counts,
    }


def _lists(
    runtime: Runtime,
    artifact: RecommenderArtifact,
    version: str,
    history: int,
    plan: Plan,
    previous: Precomputed | None,
    progress: Progress,
) -> tuple[Lists, dict[str, int]]:
    """The new lists (only profiles still in the store) and how many were recomputed, carried
    over and dropped."""
    if plan.kind == "full":
        progress(f"reading every profile's history (full pass: {plan.reason})")
    else:
        progress("reading the histories of the profiles changed since the last refresh")
    histories, changed = read_histories(runtime.engine, runtime.consent, history, plan.since)
    fresh = precompute(artifact, version, histories, progress=progress).lists
    carried: Lists = {}
    if plan.kind == "incremental" and previous is not None:
        # a copy taken at once: an erasure in this process may drop lists from it meanwhile
        kept = list(previous.lists.items())
        carried = {p: entry for p, entry in kept if p not in changed}
    live = live_profiles(runtime.engine)
    lists = {p: entry for p, entry in (carried | fresh).items() if p in live}
    before = set(previous.lists) if previous is not None else set()
    counts = {
        "recomputed": sum(p in lists for p in fresh),
        "carried": sum(p in lists for p in carried),
        "dropped": len(before - set(lists)),
    }
    return lists, counts


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


def read_histories(
    engine: sa.Engine, consent: ConsentPolicy, history: int, since: int | None = None
) -> tuple[dict[str, list[str]], set[str]]:
    """The recent products of the profiles that allow personalization, and every profile read.

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

    Returns
    -------
    tuple
        Profile id -> its recent product ids (oldest first), and the ids of every profile read
        (those refusing personalization included).
    """
    query = sa.select(profiles.c.profile_id, profiles.c.state).where(
        profiles.c.merged_into.is_(None)
    )
    if since is not None:
        query = query.where(profiles.c.updated_at > since)
    histories: dict[str, list[str]] = {}
    read: set[str] = set()
    with engine.connect() as conn:
        for row in conn.execute(query):
            read.add(row.profile_id)
            state = ProfileState.from_json(row.state)
            if not consent.allows(state.consent, Purpose.PERSONALIZATION):
                continue
            entries = sorted(profile_products(state))
            histories[row.profile_id] = [pid for _ts, pid in entries][-history:]
    return histories, read


def live_profiles(engine: sa.Engine) -> set[str]:
    """The canonical profiles in the store: not erased, not merged into another."""
    query = sa.select(profiles.c.profile_id).where(profiles.c.merged_into.is_(None))
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


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
