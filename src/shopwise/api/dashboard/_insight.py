"""What the shop's answers achieved and what produced them: KPIs, experiments, models and drift.

Thin pages over the services the admin API uses: :func:`shopwise.kpis.read_kpis` (``/v1/kpis``),
:class:`shopwise.experiments.Experiments` and :func:`~shopwise.experiments.results_of`
(``/v1/experiments``), the registry functions of :mod:`shopwise.worker` (``/v1/models``) and the
drift monitor (``/v1/drift``). Promotions, rollbacks and drift checks are audited as the API
audits them. None of these pages shows a shopper: KPIs and results are counts and rates.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import HTMLResponse

from shopwise.api._auth import audited
from shopwise.api._runtime import runtime
from shopwise.api.dashboard import _charts as charts
from shopwise.api.dashboard._forms import form_fields
from shopwise.api.dashboard._render import page
from shopwise.api.dashboard._session import Operator, same_origin
from shopwise.errors import ShopwiseError
from shopwise.experiments import results_of
from shopwise.kpis import DAY_MS, HOUR_MS, read_kpis
from shopwise.worker import drift_monitor, list_models, promote_model, rollback_model

router = APIRouter(prefix="/dashboard", include_in_schema=False)

DIMENSIONS: Final = ("placement", "model_version", "variant")
"""What the KPIs are broken down by on the overview."""
RANKING_METRICS: Final = ("HR@10", "NDCG@10", "Recall@10", "MRR@20")
"""The holdout metrics charted per recommender version (the gate reads NDCG@10)."""


def _kpi_charts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    figures = []
    for dimension in DIMENSIONS:
        label = dimension.replace("_", " ")
        figures.append(
            charts.lines(
                f"Impressions per {label}",
                charts.kpi_over_time(rows, dimension, "impressions", None),
                "answers served",
            )
        )
        figures.append(
            charts.lines(
                f"Click-through rate per {label}",
                charts.kpi_over_time(rows, dimension, "clicks", "impressions"),
                "clicks per impression",
                percent=True,
            )
        )
    figures.append(
        charts.lines(
            "Conversion rate per placement",
            charts.kpi_over_time(rows, "placement", "orders", "impressions"),
            "attributed orders per impression",
            percent=True,
        )
    )
    return figures


@router.get("", response_class=HTMLResponse)
def overview(
    request: Request,
    key: Operator,
    grain: Annotated[Literal["hour", "day"], Query()] = "hour",
    days: Annotated[int, Query(ge=1, le=90)] = 2,
) -> HTMLResponse:
    """KPIs over time per placement, model and variant, with the shop's vital signs."""
    rt = runtime(request)
    now = int(time.time() * 1000)
    end = now - now % HOUR_MS + HOUR_MS
    rows = read_kpis(rt.engine, end - days * DAY_MS, end, grain)
    totals = {dimension: charts.kpi_totals(rows, dimension) for dimension in DIMENSIONS}
    running = rt.experiments.list("running")
    return page(
        request,
        "overview.html",
        key,
        active="overview",
        grain=grain,
        days=days,
        rows=rows,
        totals=totals,
        figures=_kpi_charts(rows) if rows else [],
        champion=rt.champion.version,
        rules_version=rt.rules.live().version,
        content_version=rt.content.live().version,
        running=running,
    )


@router.get("/experiments", response_class=HTMLResponse)
def experiments(request: Request, key: Operator) -> HTMLResponse:
    """Every experiment with its status and definition."""
    found = runtime(request).experiments.list(None)
    return page(request, "experiments.html", key, active="experiments", experiments=found)


def _result_charts(results: dict[str, Any]) -> list[dict[str, Any]]:
    figures = []
    arms = results["arms"]
    if arms:
        names = [arm["name"] for arm in arms]
        primary = results["primary"]
        figures.append(
            charts.bars(
                f"{primary} per variant",
                names,
                {primary: [arm["metrics"].get(primary) for arm in arms]},
                primary,
            )
        )
        figures.append(
            charts.bars("Units per variant", names, {"units": [arm["units"] for arm in arms]})
        )
    for variant in results["variants"]:
        sequential = variant["sequential"]
        if sequential and sequential["looks"]:
            looks = sequential["looks"]
            figures.append(
                charts.band(
                    f"{variant['variant']} vs control: {sequential['metric']} difference by look",
                    [look["at"] for look in looks],
                    [look["estimate"] for look in looks],
                    [look["ci_low"] for look in looks],
                    [look["ci_high"] for look in looks],
                    "difference",
                )
            )
    bandit = results.get("bandit")
    if bandit and bandit.get("arms"):
        figures.append(
            charts.bars(
                "Chance each arm is best",
                [arm["name"] for arm in bandit["arms"]],
                {"chance": [arm.get("chance_best") for arm in bandit["arms"]]},
                percent=True,
            )
        )
    return figures


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
def experiment(
    request: Request,
    key: Operator,
    experiment_id: Annotated[str, Path(max_length=64)],
    look_minutes: Annotated[int, Query(ge=1, le=10_080)] = 1440,
) -> HTMLResponse:
    """One experiment: its definition, the results read now, and their plots."""
    rt = runtime(request)
    found = rt.experiments.get(experiment_id)
    results, problem = None, None
    try:
        results = results_of(
            rt.engine,
            found,
            policy=rt.consent,
            now_ms=int(time.time() * 1000),
            window_hours=rt.settings.attribution_window_hours,
            look_ms=look_minutes * 60_000,
        ).to_dict()
    except ShopwiseError as error:  # not started yet, or nothing to read: the page says so
        problem = error.message
    return page(
        request,
        "experiment.html",
        key,
        active="experiments",
        experiment=found,
        results=results,
        problem=problem,
        figures=_result_charts(results) if results else [],
    )


def _model_charts(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    recommenders = [m for m in reversed(models) if m["family"] == "recommenders" and m["holdout"]]
    if not recommenders:
        return []
    versions = [m["version"] for m in recommenders]
    series = {
        metric: [m["holdout"].get(metric) for m in recommenders]
        for metric in RANKING_METRICS
        if any(metric in m["holdout"] for m in recommenders)
    }
    return [charts.bars("Recommender holdout metrics per version", versions, series)]


def _drift_charts(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not report or not report.get("features"):
        return []
    features = [f for f in report["features"] if "psi" in f.get("statistics", {})]
    figure = charts.bars(
        "Population stability index per feature (recent vs training window)",
        [f["name"] for f in features],
        {"PSI": [f["statistics"]["psi"] for f in features]},
        "PSI",
    )
    return [charts.with_threshold(figure, report["thresholds"]["psi"], "drift threshold")]


def _models_page(
    request: Request, key: Operator, notice: str | None = None, status_code: int = 200
) -> HTMLResponse:
    rt = runtime(request)
    models = list_models(rt, None)
    report = drift_monitor(rt).latest()
    families = sorted({m["family"] for m in models})
    return page(
        request,
        "models.html",
        key,
        status_code,
        active="models",
        models=models,
        families=families,
        report=report,
        notice=notice,
        figures=_model_charts(models),
        drift_figures=_drift_charts(report),
    )


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, key: Operator) -> HTMLResponse:
    """Model versions with holdout metrics and gate decisions; the latest drift report."""
    return _models_page(request, key)


@router.post("/models/{family}/{version}/promote", dependencies=[Depends(same_origin)])
async def promote(
    request: Request,
    key: Operator,
    family: Annotated[str, Path(max_length=64)],
    version: Annotated[str, Path(max_length=64)],
) -> HTMLResponse:
    """Make ``version`` the family's champion (audited as ``model.promoted``)."""
    reason = (await form_fields(request)).get("reason") or "promoted from the dashboard"
    try:
        promote_model(runtime(request), family, version, reason)
    except ShopwiseError as error:
        return _models_page(request, key, error.message, error.status)
    audited(request, key, "model.promoted", f"{family}/{version}", {"reason": reason})
    return _models_page(request, key, f"{family} {version} is the champion now")


@router.post("/models/{family}/rollback", dependencies=[Depends(same_origin)])
async def rollback(
    request: Request, key: Operator, family: Annotated[str, Path(max_length=64)]
) -> HTMLResponse:
    """Restore the family's previous champion (audited as ``model.rolled_back``)."""
    reason = (await form_fields(request)).get("reason") or "rolled back from the dashboard"
    try:
        record = rollback_model(runtime(request), family, reason)
    except ShopwiseError as error:
        return _models_page(request, key, error.message, error.status)
    subject = f"{family}/{record['version']}"
    audited(request, key, "model.rolled_back", subject, {"reason": reason})
    return _models_page(request, key, f"{family} rolled back to {record['version']}")


@router.post("/drift/check", dependencies=[Depends(same_origin)])
def check_drift(request: Request, key: Operator) -> HTMLResponse:
    """Run a drift check now and save its report (audited as ``drift.checked``)."""
    try:
        report = drift_monitor(runtime(request)).check(None)
    except ShopwiseError as error:
        return _models_page(request, key, error.message, error.status)
    audited(request, key, "drift.checked", None, {"verdict": report.verdict})
    return _models_page(request, key, f"drift check done: {report.verdict}")
