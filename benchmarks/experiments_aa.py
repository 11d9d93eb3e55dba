"""Simulated A/A (and one A/B) experiments through ``shopwise.stats`` (issue 24).

Statsig runs daily simulated A/A tests to check that its statistics say "no difference" as
often as they promise; this benchmark does the same for the engine, seeded:

* fixed horizon: how often the two-proportion z-test (conversion) and Welch's t-test (revenue
  per visitor, zero-inflated and skewed) reject at 0.05 when both arms are identical;
* daily peeking over 14 looks: the naive z-test read every day and stopped at the first
  p < 0.05, against the mSPRT's always-valid p-value read the same way; and, so that a mSPRT
  that never rejects cannot pass, the power of both on a real lift;
* sample ratio mismatch: detection of a 48/52 split of 20,000 units, and false alarms on 50/50.

Results go to ``benchmarks/results/experiments_aa.json`` and ``experiments_aa.md``.

    python benchmarks/experiments_aa.py
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from _common import RESULTS, machine, write_json
from shopwise.experiments import TUNING_UNITS
from shopwise.stats import (
    Difference,
    difference_of_means,
    difference_of_proportions,
    msprt,
    srm_check,
    tuned_mixture_variance,
    two_proportion_ztest,
    welch_ttest,
)

ALPHA = 0.05
BASELINE = 0.05
"""Control conversion rate."""
DAILY_UNITS = 1000
"""Units per arm per day."""
DAYS = 14
MIXTURE_SD = 0.0075
"""The true lift of the A/B rows and the mSPRT ``tau``: about the smallest lift two weeks of this
traffic can detect (``sample_size_proportions(0.05, 0.0075, daily_units=2000)`` asks for 15
days at 80% power)."""
REVENUE_UNITS = 5000
"""Units per arm in the revenue A/A."""
SRM_UNITS = 20_000


def rate(hits: int, runs: int) -> dict[str, Any]:
    """A rejection rate with its Wilson 95% interval."""
    low, high = proportion_confint(hits, runs, alpha=0.05, method="wilson")
    return {"rate": hits / runs, "hits": hits, "runs": runs, "ci95": [low, high]}


def daily_counts(rng: np.random.Generator, runs: int, lift: float) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative conversions of control and treatment per run and day."""
    control = rng.binomial(DAILY_UNITS, BASELINE, size=(runs, DAYS)).cumsum(axis=1)
    treatment = rng.binomial(DAILY_UNITS, BASELINE + lift, size=(runs, DAYS)).cumsum(axis=1)
    return control, treatment


def read_daily_tuned(looks: list[Difference], units: list[int]) -> bool:
    """Whether the mSPRT rejects on some day when read as experiment results read it: each day
    with the mixture variance tuned from that day's look (``TUNING_UNITS``)."""
    for day, look in enumerate(looks):
        tau2 = tuned_mixture_variance(look.variance, units[day], TUNING_UNITS, ALPHA)
        if msprt(looks[: day + 1], mixture_variance=tau2, alpha=ALPHA).p_value < ALPHA:
            return True
    return False


def peeking(rng: np.random.Generator, runs: int, lift: float) -> dict[str, Any]:
    """Fixed-horizon z-test, the same z-test read daily, and the mSPRT read daily (with the
    planned ``tau`` and with the results' tuned one)."""
    control, treatment = daily_counts(rng, runs, lift)
    fixed = peeked = sequential = tuned = 0
    for c, t in zip(control, treatment, strict=True):
        units = [DAILY_UNITS * (day + 1) for day in range(DAYS)]
        daily_p = [
            two_proportion_ztest(int(cc), n, int(tt), n, alpha=ALPHA).p_value
            for cc, tt, n in zip(c, t, units, strict=True)
        ]
        fixed += daily_p[-1] < ALPHA
        peeked += min(daily_p) < ALPHA
        looks = [
            difference_of_proportions(int(cc), n, int(tt), n)
            for cc, tt, n in zip(c, t, units, strict=True)
        ]
        sequential += msprt(looks, mixture_variance=MIXTURE_SD**2, alpha=ALPHA).significant
        tuned += read_daily_tuned(looks, [2 * n for n in units])
    return {
        "ztest_fixed_horizon": rate(fixed, runs),
        "ztest_peeking_daily": rate(peeked, runs),
        "msprt_peeking_daily": rate(sequential, runs),
        "msprt_tuned_peeking_daily": rate(tuned, runs),
    }


def welch_aa(rng: np.random.Generator, runs: int) -> dict[str, Any]:
    """Welch's test on revenue per visitor (5% buy; lognormal basket) in identical arms, at the
    end and, with the results' tuned mSPRT, read daily as the units arrive."""
    hits = tuned = 0
    days = np.linspace(0, REVENUE_UNITS, DAYS + 1, dtype=int)[1:]
    for _ in range(runs):
        values = rng.lognormal(3.5, 1.0, size=(2, REVENUE_UNITS))
        values *= rng.random((2, REVENUE_UNITS)) < BASELINE
        hits += welch_ttest(values[0], values[1], alpha=ALPHA).significant
        looks = [difference_of_means(values[0, :n], values[1, :n]) for n in days]
        tuned += read_daily_tuned(looks, [2 * int(n) for n in days])
    return {"welch_fixed_horizon": rate(hits, runs), "msprt_tuned_peeking_daily": rate(tuned, runs)}


def srm(rng: np.random.Generator, runs: int, share: float) -> dict[str, Any]:
    """How often the SRM check flags ``SRM_UNITS`` split at ``share`` against a planned 50/50."""
    control = rng.binomial(SRM_UNITS, share, size=runs)
    flagged = sum(srm_check([int(c), SRM_UNITS - int(c)], [0.5, 0.5]).mismatch for c in control)
    return rate(flagged, runs)


def run(runs: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    results: dict[str, Any] = {"aa": peeking(rng, runs, lift=0.0)}
    revenue = welch_aa(rng, runs)
    results["aa"]["welch_fixed_horizon"] = revenue["welch_fixed_horizon"]
    results["aa"]["revenue_msprt_tuned_peeking_daily"] = revenue["msprt_tuned_peeking_daily"]
    results["ab"] = peeking(rng, runs, lift=MIXTURE_SD)
    results["srm"] = {
        "detected_48_52": srm(rng, runs, 0.48),
        "false_alarm_50_50": srm(rng, 20 * runs, 0.50),
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def checks(results: dict[str, Any]) -> dict[str, bool]:
    """The expectations of issue 24, each true or false in this run."""
    aa = results["aa"]
    return {
        "ztest_fixed_within_5pct_pm_1.4": abs(aa["ztest_fixed_horizon"]["rate"] - 0.05) <= 0.014,
        "welch_fixed_within_5pct_pm_1.4": abs(aa["welch_fixed_horizon"]["rate"] - 0.05) <= 0.014,
        "naive_peeking_inflates": aa["ztest_peeking_daily"]["ci95"][0] > 0.05,
        "msprt_peeking_at_most_5pct": aa["msprt_peeking_daily"]["rate"] <= 0.05,
        "msprt_tuned_peeking_at_most_5pct": aa["msprt_tuned_peeking_daily"]["rate"] <= 0.05,
        "revenue_msprt_tuned_peeking_at_most_5pct": aa["revenue_msprt_tuned_peeking_daily"]["rate"]
        <= 0.05,
        "srm_48_52_detected_95pct": results["srm"]["detected_48_52"]["rate"] >= 0.95,
        "srm_50_50_false_alarms_near_0.1pct": results["srm"]["false_alarm_50_50"]["rate"] <= 0.003,
    }


def _row(name: str, entry: dict[str, Any]) -> str:
    low, high = entry["ci95"]
    return (
        f"| {name} | {entry['rate']:.2%} | {entry['hits']} / {entry['runs']} "
        f"| {low:.2%} - {high:.2%} |"
    )


def markdown(payload: dict[str, Any]) -> str:
    m, r, config = payload["machine"], payload["results"], payload["config"]
    aa, ab, srm_ = r["aa"], r["ab"], r["srm"]
    lines = [
        "# Experiment statistics: simulated A/A tests",
        "",
        f"Machine: {m['cpu_model']} ({m['cores']} cores, {m['memory_gb']} GB, load at start "
        f"{m['load_avg_at_start']}), Python {m['python']}. "
        f"Command: `{payload['command']}` ({r['seconds']} s).",
        "",
        f"{config['runs']} experiments per row (seed {config['seed']}); conversion: baseline "
        f"{BASELINE:.0%}, {DAILY_UNITS} units per arm per day for {DAYS} days; revenue: "
        f"{REVENUE_UNITS} units per arm; alpha {ALPHA}; mSPRT tau {MIXTURE_SD}.",
        "",
        "| A/A: rejects when nothing differs | rate | hits | Wilson 95% |",
        "|---|---|---|---|",
        _row("z-test, fixed horizon (day 14)", aa["ztest_fixed_horizon"]),
        _row("Welch, revenue per visitor, fixed horizon", aa["welch_fixed_horizon"]),
        _row("z-test read daily, stop at first p < 0.05", aa["ztest_peeking_daily"]),
        _row("mSPRT read daily, stop at first p < 0.05", aa["msprt_peeking_daily"]),
        _row("mSPRT, tau tuned as results tune it, read daily", aa["msprt_tuned_peeking_daily"]),
        _row(
            "mSPRT on revenue per visitor, tuned, read daily",
            aa["revenue_msprt_tuned_peeking_daily"],
        ),
        "",
        f"| A/B: power on a lift of {MIXTURE_SD} (to {BASELINE + MIXTURE_SD:.1%}) | rate "
        "| hits | Wilson 95% |",
        "|---|---|---|---|",
        _row("z-test, fixed horizon (day 14)", ab["ztest_fixed_horizon"]),
        _row("z-test read daily (invalid: see A/A)", ab["ztest_peeking_daily"]),
        _row("mSPRT read daily", ab["msprt_peeking_daily"]),
        _row("mSPRT, tau tuned as results tune it, read daily", ab["msprt_tuned_peeking_daily"]),
        "",
        f"| SRM check ({SRM_UNITS} units, flagged at p < 0.001) | rate | hits | Wilson 95% |",
        "|---|---|---|---|",
        _row("48/52 split detected", srm_["detected_48_52"]),
        _row("50/50 split, false alarm", srm_["false_alarm_50_50"]),
        "",
        "Expectations of issue 24:",
        "",
        *[f"- {name}: {'met' if ok else 'MISSED'}" for name, ok in payload["checks"].items()],
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=24)
    args = parser.parse_args()
    command = "python benchmarks/experiments_aa.py"
    if (args.runs, args.seed) != (1000, 24):
        command += f" --runs {args.runs} --seed {args.seed}"
    payload: dict[str, Any] = {
        "machine": machine(),
        "command": command,
        "config": {"runs": args.runs, "seed": args.seed},
    }
    payload["results"] = run(args.runs, args.seed)
    payload["checks"] = checks(payload["results"])
    write_json(RESULTS / "experiments_aa.json", payload)
    (RESULTS / "experiments_aa.md").write_text(markdown(payload))
    print(markdown(payload))
    return 0 if all(payload["checks"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
