"""How the shop's machinery runs: jobs, segments, triggers and deliveries, privacy requests and
the audit log, ingestion health and dead letters.

Thin pages over the services the admin API uses: :func:`shopwise.worker.recent_runs`
(``/v1/jobs``), the customer scores' segment history, the trigger store of
:mod:`shopwise.api.triggers` and the journeys' :class:`~shopwise.journeys.Outbox`, the audit log,
the collector's dead letters (``/v1/dead-letters``) and the app's Prometheus registry
(``/metrics``). The pages that show personal data (ids of profiles in requests, messages and
audit entries, the raw body of a dead letter) are audited as the admin API audits its reads,
under the session's key.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import HTMLResponse

from shopwise.api._auth import audited
from shopwise.api._metrics import metrics_of
from shopwise.api._runtime import runtime
from shopwise.api.dashboard import _charts as charts
from shopwise.api.dashboard import _reads as reads
from shopwise.api.dashboard._render import page
from shopwise.api.dashboard._session import Operator, same_origin
from shopwise.api.triggers import triggers_of
from shopwise.errors import NotFound
from shopwise.journeys import Outbox
from shopwise.worker import MAX_RUNS, recent_runs

router = APIRouter(prefix="/dashboard", include_in_schema=False)

AUDIT_PAGE: Final = 200
"""Audit entries shown at once (the newest)."""
INGESTION_METRICS: Final = (
    "shopwise_events_accepted",
    "shopwise_events_duplicate",
    "shopwise_events_suppressed",
    "shopwise_events_rejected",
    "shopwise_dead_letters_pending",
    "shopwise_bus_lag_events",
    "shopwise_bus_lag_seconds",
    "shopwise_store_up",
)
"""The Prometheus families the ingestion page reads (``/metrics`` serves all of them)."""


@router.get("/jobs", response_class=HTMLResponse)
def jobs(
    request: Request,
    key: Operator,
    job: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The worker's recent job runs, and how long each job took over time."""
    runs = recent_runs(runtime(request).engine, MAX_RUNS, job or None)
    series: dict[str, tuple[list[Any], list[float | None]]] = {}
    for run in reversed(runs):
        x, y = series.setdefault(run["job"], ([], []))
        x.append(run["started_at"])
        y.append(run["duration_seconds"])
    figures = [charts.lines("Run duration per job", series, "seconds")] if runs else []
    return page(request, "jobs.html", key, active="jobs", runs=runs, job=job, figures=figures)


@router.get("/segments", response_class=HTMLResponse)
def segments(request: Request, key: Operator) -> HTMLResponse:
    """Segment and audience sizes at every full refresh of the customer scores."""
    history = runtime(request).customers.scores.segment_history()
    refreshes = sorted({row["as_of"] for row in history})
    latest = [row for row in history if refreshes and row["as_of"] == refreshes[-1]]
    figures = []
    for kind in sorted({row["kind"] for row in history}):
        rows = [row for row in history if row["kind"] == kind]
        if len(refreshes) > 1:
            series: dict[str, tuple[list[Any], list[float | None]]] = defaultdict(lambda: ([], []))
            for row in rows:
                series[row["segment"]][0].append(row["as_of"])
                series[row["segment"]][1].append(row["customers"])
            figures.append(
                charts.lines(f"{kind.title()} sizes over time", dict(series), "customers")
            )
        else:
            current = [row for row in rows if row in latest]
            figures.append(
                charts.bars(
                    f"{kind.title()} sizes",
                    [row["segment"] for row in current],
                    {"customers": [row["customers"] for row in current]},
                    "customers",
                )
            )
    return page(
        request,
        "segments.html",
        key,
        active="segments",
        latest=latest,
        refreshes=refreshes,
        figures=figures,
    )


@router.get("/journeys", response_class=HTMLResponse)
def journeys(request: Request, key: Operator) -> HTMLResponse:
    """The live trigger set, the triggers' decisions, and the outbox's recent messages
    (audited: each message names the profile it went to)."""
    rt = runtime(request)
    live = triggers_of(request).live()
    messages = reads.recent_messages(rt.engine)
    audited(request, key, "messages.read", None, {"rows": len(messages)})
    outcomes = reads.trigger_outcomes(rt.engine)
    statuses = reads.message_statuses(rt.engine)
    figures = []
    if outcomes:
        names = sorted({row["trigger"] for row in outcomes})
        by_outcome: dict[str, list[float | None]] = defaultdict(lambda: [0.0] * len(names))
        for row in outcomes:
            by_outcome[row["outcome"]][names.index(row["trigger"])] = row["decisions"]
        figures.append(charts.bars("Trigger decisions by outcome", names, by_outcome))
    if statuses:
        figures.append(
            charts.bars(
                "Outbox messages by status",
                list(statuses),
                {"messages": list(statuses.values())},
            )
        )
    return page(
        request,
        "journeys.html",
        key,
        active="journeys",
        live=live,
        history=triggers_of(request).history(),
        messages=messages,
        figures=figures,
    )


@router.get("/messages/{message_id}", response_class=HTMLResponse)
def message(
    request: Request, key: Operator, message_id: Annotated[str, Path(max_length=64)]
) -> HTMLResponse:
    """One outbox message's state and its delivery attempts (audited as ``message.read``)."""
    rt = runtime(request)
    outbox = Outbox.from_settings(rt.settings, rt.engine, rt.consent, rt.cipher)
    found = outbox.message(message_id)
    if found is None:
        raise NotFound(f"message_id: no outbox message {message_id!r}", code="unknown_message")
    audited(request, key, "message.read", found["profile_id"], {"id": message_id})
    shown = {k: v for k, v in found.items() if k not in ("destination", "payload")}
    return page(
        request,
        "message.html",
        key,
        active="journeys",
        message=shown,
        attempts=outbox.attempts(message_id),
    )


@router.get("/privacy", response_class=HTMLResponse)
def privacy(
    request: Request,
    key: Operator,
    action: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=128)] = None,
) -> HTMLResponse:
    """Data subject requests and the newest audit entries (filtered by action or subject);
    reading them is itself audited (``privacy_requests.read``, ``audit_log.read``)."""
    rt = runtime(request)
    requests = reads.recent_privacy_requests(rt.engine)
    audited(request, key, "privacy_requests.read", None, {"rows": len(requests)})
    head = rt.audit.head()
    after = max(0, head.entries - AUDIT_PAGE) if not (action or subject) else 0
    entries = rt.audit.entries(
        after_id=after, limit=10 * AUDIT_PAGE, action=action or None, subject=subject or None
    )[-AUDIT_PAGE:]
    details = {"rows": len(entries), "action": action or None}
    audited(request, key, "audit_log.read", subject or None, details)
    return page(
        request,
        "privacy.html",
        key,
        active="privacy",
        requests=requests,
        entries=list(reversed(entries)),
        head=head,
        action=action or "",
        subject=subject or "",
    )


def _samples(request: Request) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The ingestion families of the app's Prometheus registry: (labels, value) per sample."""
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in metrics_of(request).registry.collect():
        if family.name in INGESTION_METRICS:
            for sample in family.samples:
                if not sample.name.endswith("_created"):
                    found[family.name].append((sample.labels, sample.value))
    return found


@router.get("/ingestion", response_class=HTMLResponse)
def ingestion(
    request: Request,
    key: Operator,
    include_replayed: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    """Ingestion counts since this process started, bus lag, and the dead letters (audited
    as ``dead_letters.read``, as ``GET /v1/dead-letters`` is: a raw body may hold anything)."""
    rt = runtime(request)
    samples = _samples(request)
    letters = rt.dead_letters.list(include_replayed=include_replayed, limit=100)
    audited(request, key, "dead_letters.read", None, {"rows": len(letters)})
    return _ingestion_page(request, key, samples, [asdict(letter) for letter in letters])


def _ingestion_page(
    request: Request,
    key: Operator,
    samples: dict[str, list[tuple[dict[str, str], float]]],
    letters: list[dict[str, Any]],
    notice: str | None = None,
) -> HTMLResponse:
    def total(name: str) -> float:
        return sum(value for _labels, value in samples.get(name, []))

    outcomes = {
        "accepted": total("shopwise_events_accepted"),
        "duplicates": total("shopwise_events_duplicate"),
        "suppressed": total("shopwise_events_suppressed"),
        "rejected": total("shopwise_events_rejected"),
    }
    rejected = {
        labels.get("code", ""): value for labels, value in samples["shopwise_events_rejected"]
    }
    pending = {
        labels.get("code", ""): value for labels, value in samples["shopwise_dead_letters_pending"]
    }
    lag = [
        {"consumer": labels["consumer"], "events": value, "seconds": seconds}
        for (labels, value), (_l, seconds) in zip(
            samples["shopwise_bus_lag_events"], samples["shopwise_bus_lag_seconds"], strict=False
        )
    ]
    figures = [
        charts.bars(
            "Events by outcome (this server process)",
            list(outcomes),
            {"events": list(outcomes.values())},
        )
    ]
    if pending:
        figures.append(
            charts.bars(
                "Pending dead letters by reason", list(pending), {"letters": [*pending.values()]}
            )
        )
    return page(
        request,
        "ingestion.html",
        key,
        active="ingestion",
        outcomes=outcomes,
        rejected=rejected,
        pending=pending,
        lag=lag,
        store_up=total("shopwise_store_up"),
        letters=letters,
        notice=notice,
        figures=figures,
    )


@router.post("/dead-letters/replay", dependencies=[Depends(same_origin)])
def replay(request: Request, key: Operator) -> HTMLResponse:
    """Re-validate pending dead letters and ingest those that pass (``dead_letters.replayed``)."""
    rt = runtime(request)
    replayed = asdict(rt.dead_letters.replay())
    audited(request, key, "dead_letters.replayed", None, replayed)
    letters = rt.dead_letters.list(include_replayed=False, limit=100)
    audited(request, key, "dead_letters.read", None, {"rows": len(letters)})
    notice = ", ".join(f"{name}: {count}" for name, count in replayed.items())
    shown = [asdict(letter) for letter in letters]
    return _ingestion_page(request, key, _samples(request), shown, f"replayed ({notice})")
