"""Customer-intelligence benchmark on public data (issue 8).

Measures, with the production code of ``shopwise.features`` and
``shopwise.customers.{clv,propensity,segments}``:

* CDNOW (2,357-customer sample, 39-week calibration): BG/NBD and Gamma-Gamma estimates against the
  published ones, and the holdout (weeks 40-78) prediction error of purchases and spend;
* Online Shoppers Intention: stratified 5-fold ROC AUC, PR AUC, Brier score and calibration of the
  calibrated LightGBM propensity model, with a reliability plot (``docs/img/``);
* UCI Online Retail with a time split (calibration up to 2011-09-09, holdout to 2011-12-09): CLV
  ranking quality of BG/NBD + Gamma-Gamma and of the gradient-boosted model side by side, holdout
  AUC of the 7-day purchase and 90-day churn labels, segments with their profiles, and the
  holdout spend of lookalikes of the top-10% CLV seed.

Results go to ``benchmarks/results/customers.json`` and ``customers.md``.

    SHOPWISE_DATASETS_DIR=../shared/datasets python benchmarks/customers.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from _common import RESULTS, machine
from shopwise.customers.clv import (
    cdnow_sample,
    clv,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_gbm_clv,
    rfm_summary,
)
from shopwise.customers.propensity import CHURN_90D, PURCHASE_7D, fit_propensity, training_frame
from shopwise.customers.segments import (
    LAPSED_VIPS,
    SegmentConfig,
    dbscan_segments,
    fit_segments,
    lookalike_scores,
    segment_profiles,
)
from shopwise.evaluate._customer import (
    calibration_table,
    classifier_metrics,
    cross_validate_classifier,
    decile_table,
    value_metrics,
)
from shopwise.features import customer_features, cut, load_online_shoppers, load_uci_retail

REPO = Path(__file__).resolve().parent.parent
PLOT = REPO / "docs" / "img" / "customers-calibration.png"
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}
UCI_CUTOFF = pd.Timestamp("2011-09-09 23:59:59", tz="UTC")
UCI_END = pd.Timestamp("2011-12-09 23:59:59", tz="UTC")
HORIZON_DAYS = 91.0


def _rel(fitted: dict[str, float], published: dict[str, float]) -> dict[str, float]:
    return {name: fitted[name] / value - 1 for name, value in published.items()}


def cdnow(root: Path) -> dict[str, Any]:
    """BG/NBD and Gamma-Gamma on the CDNOW sample, with holdout error."""
    started = time.perf_counter()
    sample = cdnow_sample(root)
    x, t_x, age = sample["frequency"], sample["recency"], sample["T"]
    bg = fit_bgnbd(x, t_x, age)
    repeat = sample.loc[x > 0]
    gg = fit_gamma_gamma(repeat["frequency"], repeat["monetary"])
    seconds = time.perf_counter() - started
    predicted = bg.expected_purchases(39.0, x, t_x, age)
    actual = sample["holdout_frequency"].to_numpy()
    bucket = x.clip(upper=7).astype(int)
    conditional = (
        pd.DataFrame({"x": bucket, "actual": actual, "predicted": predicted})
        .groupby("x")
        .agg(
            customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
        )
    )
    spend = clv(bg, gg, x, t_x, age, sample["monetary"], horizon=39.0, steps=39)
    bg_params = {name: getattr(bg.params, name) for name in PUBLISHED_BGNBD}
    gg_params = {name: getattr(gg.params, name) for name in PUBLISHED_GG}
    return {
        "customers": len(sample),
        "repeat_buyers": len(repeat),
        "fit_seconds": seconds,
        "bgnbd": {
            "params": bg_params,
            "published": PUBLISHED_BGNBD,
            "relative_error": _rel(bg_params, PUBLISHED_BGNBD),
            "log_likelihood": bg.log_likelihood,
        },
        "gamma_gamma": {
            "params": gg_params,
            "published": PUBLISHED_GG,
            "relative_error": _rel(gg_params, PUBLISHED_GG),
            "mean_repeat_spend": float(repeat["monetary"].mean()),
        },
        "holdout": {
            "weeks": "40-78",
            "actual_purchases": float(actual.sum()),
            "predicted_purchases": float(predicted.sum()),
            "relative_error_total": float(predicted.sum() / actual.sum() - 1),
            "mae_per_customer": float(np.mean(np.abs(predicted - actual))),
            "rmse_per_customer": float(np.sqrt(np.mean((predicted - actual) ** 2))),
            "conditional_by_calibration_purchases": conditional.reset_index().to_dict("records"),
            "spend": asdict(value_metrics(sample["holdout_monetary"], spend)),
            "actual_spend": float(sample["holdout_monetary"].sum()),
            "predicted_spend": float(spend.sum()),
        },
    }


def shoppers(root: Path, plot: bool) -> dict[str, Any]:
    """Stratified 5-fold evaluation of the calibrated propensity model."""
    features, label = load_online_shoppers(root)
    methods: list[str] = []
    raw_out = np.zeros(len(label))

    def fit_predict(train: pd.DataFrame, y: pd.Series, test: pd.DataFrame) -> np.ndarray:
        model = fit_propensity(train, y, seed=0)
        methods.append(model.calibrator.method)
        raw_out[label.index.get_indexer(test.index)] = model.raw(test)
        return model.score(test)

    started = time.perf_counter()
    result = cross_validate_classifier(fit_predict, features, label, n_splits=5, seed=0)
    seconds = time.perf_counter() - started
    y = label.astype(int).to_numpy()
    calibrated = calibration_table(y, result.out_of_fold, n_bins=10)
    raw = calibration_table(y, raw_out, n_bins=10)
    if plot:
        _plot(calibrated, raw, result.mean("brier"), classifier_metrics(y, raw_out).brier)
    metrics = ("roc_auc", "pr_auc", "brier", "log_loss", "ece")
    return {
        "protocol": "stratified 5-fold CV (shuffle, seed 0); calibration on a 25% split of each "
        "training fold",
        "sessions": len(label),
        "positives": int(y.sum()),
        "mean": {name: result.mean(name) for name in metrics},
        "std": {name: result.std(name) for name in metrics},
        "raw_uncalibrated": asdict(classifier_metrics(y, raw_out)),
        "calibration_chosen": methods,
        "calibration_table": calibrated.to_dict("records"),
        "seconds": seconds,
    }


def _plot(calibrated: pd.DataFrame, raw: pd.DataFrame, brier: float, raw_brier: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.2, 5.0), dpi=110)
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    axis.plot(
        raw["predicted"],
        raw["observed"],
        "s--",
        color="tab:orange",
        label=f"LightGBM raw (Brier {raw_brier:.4f})",
    )
    axis.plot(
        calibrated["predicted"],
        calibrated["observed"],
        "o-",
        color="tab:blue",
        label=f"calibrated (Brier {brier:.4f})",
    )
    axis.set_xlabel("predicted purchase probability (decile bins, out of fold)")
    axis.set_ylabel("observed purchase rate")
    axis.set_title("Online Shoppers Intention, stratified 5-fold")
    axis.legend(loc="upper left", fontsize=8)
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    figure.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOT)
    plt.close(figure)


def _auc_holdout(
    events: pd.DataFrame,
    orders: pd.DataFrame,
    spec: Any,
    train_cutoffs: list[pd.Timestamp],
    test_cutoff: pd.Timestamp,
) -> dict[str, Any]:
    x_train, y_train = training_frame(events, orders, spec, train_cutoffs)
    x_test, y_test = training_frame(events, orders, spec, [test_cutoff])
    model = fit_propensity(x_train.reset_index(drop=True), y_train.reset_index(drop=True), seed=0)
    prob = model.score(x_test.reset_index(drop=True))
    return {
        "train_rows": len(y_train),
        "test_rows": len(y_test),
        "calibration": model.calibrator.method,
        "top_features": list(model.importance().index[:5]),
        **asdict(classifier_metrics(y_test.to_numpy(), prob)),
    }


def retail(root: Path) -> dict[str, Any]:
    """Time-split CLV, propensity and segments on UCI Online Retail."""
    events, orders = load_uci_retail(root)
    known = cut(orders, UCI_CUTOFF)
    # Probabilistic model: calibrate to the cutoff, predict the 91-day holdout.
    summary = rfm_summary(orders, UCI_CUTOFF, holdout_end=UCI_END, unit_days=1.0)
    x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
    bg = fit_bgnbd(x, t_x, age)
    repeat = summary.loc[(x > 0) & (summary["monetary"] > 0)]
    gg = fit_gamma_gamma(repeat["frequency"], repeat["monetary"])
    probabilistic = clv(bg, gg, x, t_x, age, summary["monetary"], horizon=HORIZON_DAYS, steps=13)
    actual = summary["holdout_monetary"]
    # GBM: trained one horizon earlier (features at train cutoff, spend in the next 91 days).
    train_cutoff = UCI_CUTOFF - pd.Timedelta(days=HORIZON_DAYS)
    train_features = customer_features(events, orders, train_cutoff)
    train_target = rfm_summary(orders, train_cutoff, holdout_end=UCI_CUTOFF)["holdout_monetary"]
    gbm = fit_gbm_clv(
        train_features,
        train_target.reindex(train_features.index).fillna(0.0),
        horizon_days=HORIZON_DAYS,
        seed=0,
    )
    test_features = customer_features(events, orders, UCI_CUTOFF, profiles=list(summary.index))
    boosted = gbm.predict(test_features)
    past_spend = test_features["monetary"].to_numpy()
    clv_result = {
        "customers": len(summary),
        "calibration_end": str(UCI_CUTOFF.date()),
        "holdout_end": str(UCI_END.date()),
        "bgnbd": {n: getattr(bg.params, n) for n in ("r", "alpha", "a", "b")},
        "gamma_gamma": {n: getattr(gg.params, n) for n in ("p", "q", "v")},
        "bgnbd_gamma_gamma": asdict(value_metrics(actual, probabilistic)),
        "gbm": asdict(value_metrics(actual, boosted)),
        "past_spend_baseline": asdict(value_metrics(actual, past_spend)),
        "gbm_top_features": list(gbm.importance().index[:8]),
        "deciles_gbm": decile_table(actual, boosted).reset_index().to_dict("records"),
        "deciles_bgnbd_gamma_gamma": decile_table(actual, probabilistic)
        .reset_index()
        .to_dict("records"),
    }
    # Propensity on the same split, labels as declared in code.
    weekly = [UCI_CUTOFF - pd.Timedelta(days=7 * k) for k in range(2, 14, 2)]
    purchase = _auc_holdout(events, orders, PURCHASE_7D, weekly, UCI_CUTOFF)
    churn = _auc_holdout(
        events, orders, CHURN_90D, [train_cutoff], UCI_CUTOFF - pd.Timedelta(days=1)
    )
    # Segments on everything known at the end of the data.
    final = customer_features(events, orders, UCI_END)
    buyers = final.loc[final["frequency"] > 0]
    config = SegmentConfig(k_min=2, k_max=8)
    segmentation = fit_segments(buyers, config, seed=0)
    names = segmentation.assign(buyers)
    profile = segment_profiles(
        buyers[["recency_days", "frequency", "monetary", "aov", "tenure_days", "refund_rate"]],
        names,
    )
    dbscan = dbscan_segments(buyers, config)
    # Lookalikes of the top-10% GBM CLV at the cutoff, checked against holdout spend.
    scored = pd.Series(boosted, index=test_features.index)
    seed = scored.nlargest(max(1, len(scored) // 10)).index
    look = lookalike_scores(test_features, seed)
    top = look.head(len(look) // 10).index
    rest = look.index.difference(top)
    segments_result = {
        "customers": len(buyers),
        "silhouette_by_k": segmentation.silhouettes,
        "k": segmentation.k,
        "profiles": profile.reset_index(names="segment").to_dict("records"),
        "dbscan_clusters": int(dbscan[dbscan >= 0].nunique()),
        "dbscan_noise_share": float((dbscan < 0).mean()),
        "lapsed_vips": int(LAPSED_VIPS.evaluate(final).sum()),
        "lookalike_top_decile_holdout_spend": float(actual.reindex(top).fillna(0).mean()),
        "lookalike_rest_holdout_spend": float(actual.reindex(rest).fillna(0).mean()),
    }
    return {
        "orders": len(orders),
        "orders_known_at_cutoff": len(known),
        "clv": clv_result,
        "propensity": {"purchase_7d": purchase, "churn_90d": churn},
        "segments": segments_result,
    }


def markdown(results: dict[str, Any]) -> str:
    """Short markdown report of the results."""
    info = results["machine"]
    cd = results["cdnow"]
    lines = [
        "# Customer intelligence benchmark",
        "",
        f"Machine: {info.get('cpu_model', '?')} ({info.get('cores', '?')} cores, "
        f"{info.get('memory_gb', '?')} GB, shared with other jobs, timings noisy).",
        "Command: `SHOPWISE_DATASETS_DIR=../shared/datasets python benchmarks/customers.py`.",
        "",
        "## CDNOW (2,357-customer sample, 39-week calibration)",
        "",
        "| model | parameter | fitted | published | rel. error |",
        "|---|---|---|---|---|",
    ]
    for block in ("bgnbd", "gamma_gamma"):
        data = cd[block]
        for name, value in data["params"].items():
            lines.append(
                f"| {block} | {name} | {value:.3f} | {data['published'][name]} | "
                f"{data['relative_error'][name]:+.2%} |"
            )
    hold = cd["holdout"]
    lines += [
        "",
        f"BG/NBD log-likelihood {cd['bgnbd']['log_likelihood']:.1f}; fit of both models "
        f"{cd['fit_seconds']:.2f} s. Holdout weeks 40-78: predicted "
        f"{hold['predicted_purchases']:.0f} purchase days vs actual {hold['actual_purchases']:.0f} "
        f"({hold['relative_error_total']:+.1%}); per-customer MAE {hold['mae_per_customer']:.3f}, "
        f"RMSE {hold['rmse_per_customer']:.3f}. Spend (BG/NBD x Gamma-Gamma): predicted "
        f"{hold['predicted_spend']:.0f} vs actual {hold['actual_spend']:.0f}, Spearman "
        f"{hold['spend']['spearman']:.3f}, top-decile lift {hold['spend']['top_decile_lift']:.2f}.",
        "",
        "## Online Shoppers Intention (stratified 5-fold)",
        "",
        "| metric | mean | std |",
        "|---|---|---|",
    ]
    osi = results["online_shoppers"]
    for name, value in osi["mean"].items():
        lines.append(f"| {name} | {value:.4f} | {osi['std'][name]:.4f} |")
    lines += [
        "",
        f"Uncalibrated booster: Brier {osi['raw_uncalibrated']['brier']:.4f}, ECE "
        f"{osi['raw_uncalibrated']['ece']:.4f}. Calibration chosen per fold: "
        f"{', '.join(osi['calibration_chosen'])}. Plot: docs/img/customers-calibration.png.",
        "",
        "## UCI Online Retail, time split (calibrate to 2011-09-09, holdout 91 days)",
        "",
        "| CLV model | Spearman | top-decile lift | top-decile share | MAE | RMSE |",
        "|---|---|---|---|---|---|",
    ]
    uci = results["uci_online_retail"]
    for key, label in (
        ("bgnbd_gamma_gamma", "BG/NBD + Gamma-Gamma"),
        ("gbm", "LightGBM on behaviour features"),
        ("past_spend_baseline", "past spend (baseline)"),
    ):
        m = uci["clv"][key]
        lines.append(
            f"| {label} | {m['spearman']:.3f} | {m['top_decile_lift']:.2f} | "
            f"{m['top_decile_share']:.1%} | {m['mae']:.0f} | {m['rmse']:.0f} |"
        )
    lines += ["", "| propensity label | ROC AUC | PR AUC | Brier | ECE | base rate |"]
    lines.append("|---|---|---|---|---|---|")
    for name, m in uci["propensity"].items():
        lines.append(
            f"| {name} | {m['roc_auc']:.3f} | {m['pr_auc']:.3f} | {m['brier']:.4f} | "
            f"{m['ece']:.4f} | {m['base_rate']:.3f} |"
        )
    seg = uci["segments"]
    silhouettes = ", ".join(f"k={k}: {v:.3f}" for k, v in seg["silhouette_by_k"].items())
    lines += [
        "",
        f"Segments (K-Means, k={seg['k']} by silhouette; {silhouettes}):",
        "",
        "| segment | customers | share | recency (days) | orders | spend | AOV |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in seg["profiles"]:
        lines.append(
            f"| {row['segment']} | {row['customers']} | {row['share']:.1%} | "
            f"{row['recency_days']:.0f} | {row['frequency']:.0f} | {row['monetary']:.0f} | "
            f"{row['aov']:.0f} |"
        )
    lines += [
        "",
        f"DBSCAN: {seg['dbscan_clusters']} clusters, {seg['dbscan_noise_share']:.1%} noise. "
        "Lookalikes of the top-10% CLV seed: their top decile spent "
        f"{seg['lookalike_top_decile_holdout_spend']:.0f} in the holdout vs "
        f"{seg['lookalike_rest_holdout_spend']:.0f} for the rest.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    """Run every part and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-plot", action="store_true", help="skip the calibration PNG")
    args = parser.parse_args()
    root = Path(os.environ.get("SHOPWISE_DATASETS_DIR", REPO.parent / "shared" / "datasets"))
    if not root.is_dir():
        print(f"datasets folder not found: {root}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine()}
    results["cdnow"] = cdnow(root)
    results["online_shoppers"] = shoppers(root, plot=not args.no_plot)
    results["uci_online_retail"] = retail(root)
    results["total_seconds"] = time.perf_counter() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "customers.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    (RESULTS / "customers.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
