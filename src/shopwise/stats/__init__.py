"""Statistics: the pure engine that experiments and reports call to read an A/B test, and the
mergeable distinct-count :class:`Sketch` the KPI job stores.

It sits on the ground floor (it imports only ``shopwise.errors``) and does no I/O: callers pass
counts, per-unit values or looks, and get typed results back. Bad arguments raise
``InvalidInput`` naming the argument.

- fixed horizon: :func:`two_proportion_ztest`, :func:`welch_ttest`,
  :func:`bootstrap_mean_difference`, and :func:`cuped` for variance reduction
  (one covariate or several);
- Bayesian: :func:`bayes_proportions`, :func:`bayes_means`, and :func:`bayes_arms` for a
  bandit's arms read together;
- read daily: :func:`msprt` over :func:`difference_of_proportions` /
  :func:`difference_of_means` looks;
- across comparisons: :func:`adjust_p_values`, and :func:`srm_check` before anything else;
- planning: :func:`sample_size_proportions`, :func:`sample_size_means`.

How often each test is wrong under the null is measured in ``benchmarks/experiments_aa.py``.
"""

from shopwise.stats._bayes import (
    ArmPosterior,
    BayesResult,
    bayes_arms,
    bayes_means,
    bayes_proportions,
)
from shopwise.stats._checks import MIN_UNITS_PER_ARM
from shopwise.stats._cuped import CupedResult, cuped
from shopwise.stats._frequentist import (
    BootstrapInterval,
    MeanTest,
    ProportionTest,
    bootstrap_mean_difference,
    two_proportion_ztest,
    welch_ttest,
)
from shopwise.stats._multiple import (
    SRM_THRESHOLD,
    AdjustedPValues,
    Correction,
    SrmCheck,
    adjust_p_values,
    srm_check,
)
from shopwise.stats._power import (
    MIN_DURATION_DAYS,
    SamplePlan,
    sample_size_means,
    sample_size_proportions,
)
from shopwise.stats._sequential import (
    Difference,
    SequentialResult,
    difference_of_means,
    difference_of_proportions,
    msprt,
    tuned_mixture_variance,
)
from shopwise.stats._sketch import Sketch

__all__ = [
    "MIN_DURATION_DAYS",
    "MIN_UNITS_PER_ARM",
    "SRM_THRESHOLD",
    "AdjustedPValues",
    "ArmPosterior",
    "BayesResult",
    "BootstrapInterval",
    "Correction",
    "CupedResult",
    "Difference",
    "MeanTest",
    "ProportionTest",
    "SamplePlan",
    "SequentialResult",
    "Sketch",
    "SrmCheck",
    "adjust_p_values",
    "bayes_arms",
    "bayes_means",
    "bayes_proportions",
    "bootstrap_mean_difference",
    "cuped",
    "difference_of_means",
    "difference_of_proportions",
    "msprt",
    "sample_size_means",
    "sample_size_proportions",
    "srm_check",
    "tuned_mixture_variance",
    "two_proportion_ztest",
    "welch_ttest",
]
