"""The champion/challenger gate: a retrained recommender replaces the champion only if it is not
worse on the shop's own recent data.

Both are scored on the same holdout (:func:`shopwise.evaluate.shop_holdout`: the last
``gate_holdout_days`` of consented interactions), by NDCG@10 over the shoppers active in it. The
challenger is its recipe (model and parameters) fitted on the interactions before the window, so
it never sees what it is scored on. The champion is scored as it was trained when its data ended
before the window; otherwise (a daily retrain: the champion saw part of the window) its recipe is
refitted on the same data as the challenger's, or, when the recipe and the code are the same as
the challenger's, the challenger's score stands for it (the same fit on the same data; a recipe is
the model's name as :data:`~shopwise.recommend.training.RECIPES` builds it, refitted with today's
code). The challenger wins unless it scores more than ``gate_tolerance`` (relative) below the
champion. With no champion, or a window too small to judge (fewer than ``gate_min_queries``
shoppers), it is promoted and the decision says the gate was not applied. Every decision is kept
in the version's ``meta.json`` (``gate``) with both scores, and the challenger's holdout metrics
(``holdout``) whenever the window could be built, the first model's included.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

from shopwise import __version__
from shopwise.errors import NotEnoughData
from shopwise.evaluate import EvaluationInputError, Holdout, score_model, shop_holdout
from shopwise.logs import Progress
from shopwise.recommend.artifacts import RecommenderArtifact
from shopwise.recommend.training import build_training_set, fit_recommender, model_params
from shopwise.runtime import Runtime

GATE_METRIC: Final = "NDCG@10"
"""The holdout metric the gate compares."""


@dataclass(frozen=True)
class GateDecision:
    """Whether a retrained recommender becomes champion, and why.

    ``challenger`` and ``champion`` are their holdout metrics (``None`` when not scored);
    ``champion_scored`` says how the champion was scored (``as trained``, ``refitted`` or
    ``same recipe``).
    """

    promoted: bool
    reason: str
    metric: str = GATE_METRIC
    tolerance: float | None = None
    champion_version: str | None = None
    challenger: dict[str, float] | None = None
    champion: dict[str, float] | None = None
    champion_scored: str | None = None
    window: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def recipe(model: str, params: dict[str, Any]) -> dict[str, Any]:
    """What makes two trainings the same fit on the same data: model, parameters and code."""
    return {"model": model, "params": params, "code_version": __version__}


def gate(runtime: Runtime, model: str, progress: Progress) -> GateDecision:
    """Decide whether a recommender retrained as ``model`` may replace the current champion;
    its holdout metrics come with the decision whenever the holdout could be built."""
    champion = runtime.recommenders.champion()
    settings = runtime.settings
    progress(f"scoring {model} on the last {settings.gate_holdout_days:g} days")
    try:
        holdout = shop_holdout(
            runtime.engine, runtime.catalog, runtime.consent, settings.gate_holdout_days
        )
        challenger, params = _refit_score(runtime, holdout, model, progress)
    except (EvaluationInputError, NotEnoughData) as error:
        reason = "no champion yet" if champion is None else f"gate not applied: {error}"
        return GateDecision(True, reason, champion_version=champion)
    if champion is None:
        return GateDecision(True, "no champion yet", challenger=challenger, window=holdout.window())
    if len(holdout.queries) < settings.gate_min_queries:
        return GateDecision(
            True,
            f"gate not applied: {len(holdout.queries)} holdout shoppers, fewer than "
            f"gate_min_queries {settings.gate_min_queries}",
            champion_version=champion,
            challenger=challenger,
            window=holdout.window(),
        )
    mine = recipe(model, params)
    scored, theirs = _champion_score(runtime, holdout, champion, mine, challenger, progress)
    return _decide(champion, challenger, theirs, scored, settings.gate_tolerance, holdout)


def _decide(
    champion: str,
    challenger: dict[str, float],
    theirs: dict[str, float],
    scored: str,
    tolerance: float,
    holdout: Holdout,
) -> GateDecision:
    ours, best = challenger[GATE_METRIC], theirs[GATE_METRIC]
    floor = best * (1 - tolerance)
    promoted = ours >= floor
    verdict = "not worse than" if promoted else "worse than"
    reason = (
        f"holdout {GATE_METRIC} {ours:.4f} is {verdict} the champion's {best:.4f} "
        f"(champion {scored}; tolerance {tolerance:.0%}, floor {floor:.4f})"
    )
    return GateDecision(
        promoted,
        reason,
        tolerance=tolerance,
        champion_version=champion,
        challenger=challenger,
        champion=theirs,
        champion_scored=scored,
        window=holdout.window(),
    )


def _refit_score(
    runtime: Runtime, holdout: Holdout, model: str, progress: Progress
) -> tuple[dict[str, float], dict[str, Any]]:
    """``model`` fitted on the consented interactions before the holdout, scored on it."""
    training = build_training_set(
        runtime.engine, runtime.catalog, runtime.consent, until_ms=holdout.cutoff_ms
    )
    fitted = fit_recommender(training, model, progress)
    return score_model(fitted, training.items, holdout), model_params(fitted)


def _champion_score(
    runtime: Runtime,
    holdout: Holdout,
    version: str,
    challenger_recipe: dict[str, Any],
    challenger: dict[str, float],
    progress: Progress,
) -> tuple[str, dict[str, float]]:
    """How the champion was scored on ``holdout``, and its metrics (the module docstring)."""
    meta = runtime.recommenders.meta(version)
    window = meta.get("data_window") or {}
    if window.get("end_ms", holdout.cutoff_ms) < holdout.cutoff_ms:
        progress(f"scoring the champion {version} as trained")
        artifact = runtime.recommenders.load(version)
        assert isinstance(artifact, RecommenderArtifact)
        return "as trained", score_model(artifact.model, artifact.items, holdout)
    theirs = recipe(str(meta.get("model")), meta.get("params") or {})
    if {**theirs, "code_version": meta.get("code_version")} == challenger_recipe:
        return "same recipe", challenger
    progress(f"refitting the champion's recipe ({theirs['model']}) before the holdout")
    metrics, _params = _refit_score(runtime, holdout, theirs["model"], progress)
    return "refitted", metrics
