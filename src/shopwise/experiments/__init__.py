"""Experiments: definitions, assignment, results and bandits over the served answers.

Management lives here (the stored :class:`Experiment`, its :class:`Experiments` service and the
:class:`ExperimentAssigner` that serving asks); the statistics are :mod:`shopwise.stats`.
"""

from shopwise.experiments._assign import ExperimentAssigner, bucket, hashed_variant
from shopwise.experiments._bandit import (
    EXPLORATION,
    REFRESH_SECONDS,
    WINNER_CHANCE,
    ArmCounts,
    BanditArm,
    BanditResults,
    ThompsonSampler,
    arm_counts,
    bandit_results,
    read_bandit,
    thompson_choice,
)
from shopwise.experiments._model import (
    HOLDOUT,
    MEANS,
    METRICS,
    PROPORTIONS,
    Experiment,
    ExperimentSpec,
    ExperimentUpdate,
    Metric,
    Variant,
    parse_spec,
    validated,
)
from shopwise.experiments._report import (
    report_html,
    report_json,
    report_markdown,
    report_png,
    write_report,
)
from shopwise.experiments._results import (
    MAX_LOOKS,
    PRE_PERIOD_DAYS,
    TUNING_UNITS,
    Comparison,
    ExperimentResults,
    Look,
    Sequential,
    VariantResult,
    experiment_results,
    results_of,
)
from shopwise.experiments._service import Experiments, References

__all__ = [
    "EXPLORATION",
    "HOLDOUT",
    "MAX_LOOKS",
    "MEANS",
    "METRICS",
    "PRE_PERIOD_DAYS",
    "PROPORTIONS",
    "REFRESH_SECONDS",
    "TUNING_UNITS",
    "WINNER_CHANCE",
    "ArmCounts",
    "BanditArm",
    "BanditResults",
    "Comparison",
    "Experiment",
    "ExperimentAssigner",
    "ExperimentResults",
    "ExperimentSpec",
    "ExperimentUpdate",
    "Experiments",
    "Look",
    "Metric",
    "References",
    "Sequential",
    "ThompsonSampler",
    "Variant",
    "VariantResult",
    "arm_counts",
    "bandit_results",
    "bucket",
    "experiment_results",
    "hashed_variant",
    "parse_spec",
    "read_bandit",
    "report_html",
    "report_json",
    "report_markdown",
    "report_png",
    "results_of",
    "thompson_choice",
    "validated",
    "write_report",
]
