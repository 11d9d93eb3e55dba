"""The harness's model registry: a name, a factory and a small validation grid per model.

``--model NAME`` on the CLI and every row of the benchmark matrix resolve here. Peer baselines
live in :mod:`shopwise.recommend.candidates`; the production models (the item-transition
generator and the full pipeline) are imported lazily inside their factories, so the harness
works, and reports them as unavailable, while they are missing. Every factory builds the same
class serving uses, from a ``<Name>Config`` validated from the grid's parameters.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shopwise.evaluate._errors import EvaluationInputError
from shopwise.recommend.candidates import Recommender

Params = dict[str, Any]


@dataclass(frozen=True)
class ModelSpec:
    """How to build one model and which parameter sets to try on the validation split.

    Parameters
    ----------
    name
        Registry name (the CLI's ``--model``).
    module, class_name, config_name
        Where the recommender and its config live; imported only when the model is built.
    grid
        Parameter sets tried on the validation target; the first is the default.
    """

    name: str
    module: str
    class_name: str
    config_name: str | None
    grid: tuple[Params, ...] = ({},)

    def build(self, params: Mapping[str, Any]) -> Recommender:
        """A new, unfitted recommender with ``params`` applied to its config.

        Raises
        ------
        ImportError
            When the model's module is not available.
        """
        module = importlib.import_module(self.module)
        cls: Callable[..., Recommender] = getattr(module, self.class_name)
        if self.config_name is None:
            if params:
                raise EvaluationInputError(f"model {self.name!r} takes no parameters")
            return cls()
        config_cls = getattr(module, self.config_name)
        return cls(config_cls.model_validate(dict(params)))

    def available(self) -> bool:
        """Whether the model's module imports (production models may not have landed yet)."""
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            return False
        return hasattr(module, self.class_name)


_CANDIDATES = "shopwise.recommend.candidates"

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("popular", f"{_CANDIDATES}.popular", "PopularRecommender", "PopularConfig"),
        ModelSpec(
            "popular_category",
            f"{_CANDIDATES}.popular",
            "CategoryPopularRecommender",
            "CategoryPopularConfig",
        ),
        # The content model, alone: what serves items nobody has bought yet (cold start).
        ModelSpec(
            "content",
            f"{_CANDIDATES}.content",
            "ContentRecommender",
            "ContentConfig",
            grid=({"encoder": "tfidf"},),
        ),
        ModelSpec(
            "content_minilm",
            f"{_CANDIDATES}.content",
            "ContentRecommender",
            "ContentConfig",
            grid=({"encoder": "minilm"},),
        ),
        ModelSpec(
            "content_minilm_tuned",
            f"{_CANDIDATES}.content",
            "ContentRecommender",
            "ContentConfig",
            grid=({"encoder": "minilm", "fine_tune": {"mode": "head"}},),
        ),
        ModelSpec(
            "als",
            f"{_CANDIDATES}.mf",
            "ALSRecommender",
            "ALSConfig",
            grid=(
                {"factors": 128, "alpha": 20.0, "regularization": 1.0},
                {"factors": 256, "alpha": 40.0, "regularization": 1.0},
            ),
        ),
        ModelSpec(
            "bpr",
            f"{_CANDIDATES}.mf",
            "BPRRecommender",
            "BPRConfig",
            # One point: BPR epochs are slow on big logs (validated offline on Beauty: 64
            # factors, lr 0.01, reg 0.001 beat lr 0.05 / reg 0.01 and 128 factors / 300 epochs).
            grid=({"factors": 64, "learning_rate": 0.01, "regularization": 0.001},),
        ),
        ModelSpec(
            "ease",
            f"{_CANDIDATES}.linear",
            "EASERecommender",
            "EASEConfig",
            grid=({"l2": 50.0}, {"l2": 250.0}),
        ),
        ModelSpec(
            "itemknn",
            f"{_CANDIDATES}.knn",
            "ItemKNNRecommender",
            "ItemKNNConfig",
            grid=(
                {"neighbors": 100, "decay": "same"},
                {"neighbors": 100, "decay": "div"},
                {"neighbors": 500, "decay": "div"},
            ),
        ),
        ModelSpec(
            "sknn",
            f"{_CANDIDATES}.sknn",
            "SessionKNNRecommender",
            "SessionKNNConfig",
            grid=(
                {"neighbors": 100, "decay": "linear"},
                {"neighbors": 100, "decay": "div"},
                {"neighbors": 500, "decay": "linear"},
            ),
        ),
        ModelSpec(
            "sequential",
            f"{_CANDIDATES}.sequential",
            "SequentialRecommender",
            "SequentialConfig",
            # One point: each fit trains a network (2-3 min on Diginetica with 1 thread).
        ),
        ModelSpec(
            "transition",
            f"{_CANDIDATES}.transition",
            "TransitionRecommender",
            "TransitionConfig",
            grid=({}, {"window": 5}, {"recency_decay": 0.8}),
        ),
        ModelSpec(
            "shopwise", "shopwise.recommend.pipeline", "ShopwiseRecommender", "ShopwiseConfig"
        ),
    )
}
"""Every model the harness can run, by name."""


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``.

    Raises
    ------
    EvaluationInputError
        For an unknown name (the message lists the known ones).
    """
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise EvaluationInputError(f"unknown model {name!r}; choose one of: {known}") from None


def available_models() -> list[str]:
    """Registry names whose modules import now, in registry order."""
    return [name for name, spec in REGISTRY.items() if spec.available()]
