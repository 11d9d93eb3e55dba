"""Experiments end to end on the demo shop: the production model against popularity, and an A/A
test, run over real HTTP with the closed-loop traffic simulator (issue 24, "Must show").

The demo shop is built as ``shopwise demo`` builds it (its history ending today, the production
pipeline ``shopwise`` trained as the champion and every shopper's list precomputed by the worker's
refresh) in a temporary data directory, and served by ``shopwise serve`` on 127.0.0.1 (``--quick``:
the quick shop and its ``transition`` champion, as ``shopwise demo --quick``). Keys are made with
``shopwise keys create``. Then:

1. a pre-period: simulated shoppers browse the shop served by the champion, outside any
   experiment (CUPED's covariates are each unit's behaviour before the start: its events and the
   answers it was served);
2. two experiments are created and started through ``POST /v1/experiments`` with an admin key,
   on different placements, both at once: ``model-vs-popular`` (control: ``model_version:
   popular``; treatment: the champion; 50/50; primary ``ctr``; guardrails
   ``revenue_per_visitor`` and ``conversion_rate``) on the home page's ``/v1/decide``, and
   ``a-a`` (two identical variants of the champion; primary ``ctr``) on the product, category
   and cart slots;
3. the same simulated shoppers browse on (:class:`shopwise.simulate.TrafficSimulator`, Poisson
   arrivals), and after the last event is stored both experiments are stopped and read with
   ``GET /v1/experiments/{id}/results?look_minutes=N`` (the sequential test looks every N
   minutes, since the run lasts minutes, not weeks);
4. the reports are written (what ``shopwise experiments report`` writes), and the server's
   impressions, clicks, adds, orders and revenue per variant are set beside the simulator's own
   client-side tally of the same answers (a check that attribution is right).

The simulator is not tuned here: its shoppers click and buy by their hidden tastes, whatever the
answers. Results go to ``benchmarks/results/experiments_e2e.json`` and ``.md`` (``-quick`` with
``--quick``), the two reports to ``benchmarks/results/experiments_e2e/<experiment>/``.
``--reuse DIR`` keeps the built shop in ``DIR`` and starts later runs from a copy of it.

    nice -n 5 python benchmarks/experiments_e2e.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from _common import (
    REPO,
    RESULTS,
    Server,
    load_into,
    record_run,
    shopwise_command,
    temp_dir,
    write_json,
)
from shopwise.simulate import SimulationConfig, Storefront, TrafficSimulator, TrafficSummary

OUT = RESULTS / "experiments_e2e"
TAG = [""]
"""Suffix of the output names: ``-quick`` for the quick shop."""
COUNTS = ("impressions", "clicks", "adds", "orders", "revenue")

MODEL_VS_POPULAR: dict[str, Any] = {
    "id": "model-vs-popular",
    "name": "The production model against popular products",
    "placements": ["home"],
    "variants": [{"name": "popular", "model_version": "popular"}, {"name": "model"}],
    "primary_metric": "ctr",
    "guardrails": ["revenue_per_visitor", "conversion_rate"],
}
A_A: dict[str, Any] = {
    "id": "a-a",
    "name": "Two identical arms of the production model",
    "placements": ["product", "category", "cart"],
    "variants": [{"name": "a"}, {"name": "b"}],
    "primary_metric": "ctr",
}


def demo_config(quick: bool) -> SimulationConfig:
    """The demo shop, dated as ``shopwise demo`` dates it (history ends today)."""
    base = SimulationConfig.quick() if quick else SimulationConfig()
    return base.model_copy(update={"start": date.today() - timedelta(days=base.days)})


def demo_model(quick: bool) -> str:
    """The recommender ``shopwise demo`` trains as the champion (its production model)."""
    return "transition" if quick else "shopwise"


def build_shop(data_dir: Path, config: SimulationConfig, model: str) -> dict[str, Any]:
    """Load the shop through the collector and train the champion, as the demo does."""
    from shopwise.runtime import Runtime
    from shopwise.settings import Settings
    from shopwise.simulate import simulate
    from shopwise.worker import train_recommenders

    shop = simulate(config)
    runtime = Runtime.build(Settings(data_dir=data_dir, log_level="WARNING"), migrate=True)
    runtime.start()
    try:
        started = time.perf_counter()
        last = load_into(runtime, shop)
        assert runtime.bus.wait_until_consumed(last, timeout=600)
        loaded = time.perf_counter() - started
        trained = train_recommenders(runtime, model, lambda _m: None)
    finally:
        runtime.stop()
    return {
        "products": len(shop.products),
        "customers": len(shop.customers),
        "history_events": len(shop.events),
        "history_days": config.days,
        "load_seconds": round(loaded, 1),
        "model": trained,
    }


def shop_dir(data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Build the shop into ``data_dir``, or copy the one ``--reuse`` keeps (building it there
    first when it holds none)."""
    config, model = demo_config(args.quick), demo_model(args.quick)
    if args.reuse is None:
        return build_shop(data_dir, config, model)
    kept, built = args.reuse / "var", args.reuse / "shop.json"
    if not built.exists():
        kept.mkdir(parents=True)
        write_json(built, build_shop(kept, config, model))
    shutil.copytree(kept, data_dir, dirs_exist_ok=True)
    shop: dict[str, Any] = json.loads(built.read_text())
    return shop


def write_report(server: Server, experiment: str, look_minutes: int) -> list[str]:
    """``shopwise experiments report`` over the stopped server's store: the same results as the
    API's (a stopped experiment ends at its stop), written as markdown, JSON and PNG."""
    out = OUT / f"{experiment}{TAG[0]}"
    if out.exists():
        shutil.rmtree(out)
    command = [*shopwise_command(), "experiments", "report", experiment, "--out", str(out)]
    command += ["--look-minutes", str(look_minutes)]
    subprocess.run(command, env=server.env(), check=True, capture_output=True, timeout=300)
    (out / "report.html").unlink()  # the markdown and the PNG it embeds say the same
    return sorted(str(p.relative_to(REPO)) for p in out.iterdir())


def _call(response: httpx.Response) -> Any:
    if not response.is_success:
        raise RuntimeError(
            f"{response.request.url} answered {response.status_code}: {response.text}"
        )
    return response.json()


def start_experiments(client: httpx.Client, admin: str) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {admin}"}
    started = {}
    for spec in (MODEL_VS_POPULAR, A_A):
        _call(client.post("/v1/experiments", json=spec, headers=headers))
        started[spec["id"]] = _call(
            client.post(f"/v1/experiments/{spec['id']}/start", headers=headers)
        )
    return started


def stop_experiments(client: httpx.Client, admin: str) -> None:
    headers = {"Authorization": f"Bearer {admin}"}
    for spec in (MODEL_VS_POPULAR, A_A):
        _call(client.post(f"/v1/experiments/{spec['id']}/stop", headers=headers))


def read_results(client: httpx.Client, secret: str, experiment: str, look_minutes: int) -> Any:
    headers = {"Authorization": f"Bearer {secret}"}
    path = f"/v1/experiments/{experiment}/results"
    return _call(client.get(path, params={"look_minutes": look_minutes}, headers=headers))


def client_side(summary: TrafficSummary, experiment: str) -> dict[str, dict[str, Any]]:
    """The simulator's own tally of each variant of ``experiment``."""
    return {
        str(v.variant): {
            "visitors": v.visitors,
            "impressions": v.impressions,
            "clicks": v.clicks,
            "adds": v.adds,
            "orders": v.orders,
            "revenue": v.revenue,
        }
        for v in summary.variants
        if v.experiment == experiment
    }


def kpi_side(data_dir: Path, variants: list[str], since_ms: int) -> dict[str, dict[str, Any]]:
    """The server's online KPIs per variant (every exposure, as ``shopwise kpis`` reads them),
    after one run of the worker's KPI job over the stopped server's store."""
    from shopwise import store
    from shopwise.kpis import DAY_MS, KpiRefresh, read_kpis
    from shopwise.privacy import ConsentPolicy
    from shopwise.settings import Settings

    settings = Settings(data_dir=data_dir, log_level="WARNING")
    engine = store.create_engine(settings)
    try:
        policy = ConsentPolicy.from_settings(settings)
        KpiRefresh(engine, policy, settings.attribution_window_hours).run()
        now = int(time.time() * 1000)
        out = {}
        for variant in variants:
            rows = read_kpis(engine, since_ms - DAY_MS, now + DAY_MS, "day", variant=variant)
            out[variant] = {c: round(sum(r[c] for r in rows), 2) for c in COUNTS}
        return out
    finally:
        engine.dispose()


def server_side(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        arm["name"]: {"units": arm["units"], **{c: arm[c] for c in COUNTS}}
        for arm in results["arms"]
    }


def settle(client: httpx.Client, secret: str, summary: TrafficSummary, timeout: float) -> float:
    """Wait until the server's results count every answer the simulator saw (the exposures are
    written behind the answers); seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        done = True
        for spec in (MODEL_VS_POPULAR, A_A):
            found = server_side(read_results(client, secret, spec["id"], 1440))
            seen = client_side(summary, spec["id"])
            done &= all(
                found.get(v, {}).get("impressions", 0) >= s["impressions"] for v, s in seen.items()
            )
        if done:
            break
        time.sleep(1.0)
    return round(time.monotonic() - started, 1)


def compare(server: dict[str, dict[str, Any]], client: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per variant and count: the server's, the simulator's, and whether they agree (to the
    cent)."""
    out: dict[str, Any] = {}
    for variant in sorted(set(server) | set(client)):
        s, c = server.get(variant, {}), client.get(variant, {})
        out[variant] = {
            count: {
                "server": s.get(count),
                "simulator": c.get(count),
                "agree": s.get(count) is not None
                and c.get(count) is not None
                and abs(float(s[count]) - float(c[count])) <= 0.01,
            }
            for count in COUNTS
        }
    return out


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers the issue asks about, from one experiment's results."""
    (variant,) = results["variants"]
    seq = variant["sequential"]
    by_metric = {c["metric"]: c for c in variant["comparisons"]}
    always_valid = {g["metric"]: g["p_value_adjusted"] for g in variant["guardrail_sequentials"]}
    if seq is not None:
        always_valid[seq["metric"]] = seq["p_value_adjusted"]

    def metric(name: str) -> dict[str, Any]:
        c = by_metric[name]
        cuped = c["cuped"]
        return {
            "control": c["control"],
            "treatment": c["treatment"],
            "relative_lift": c["relative_lift"],
            "p_value": c["p_value"],
            "p_value_holm": c["p_value_adjusted"],
            "always_valid_p_value": always_valid.get(name),
            "ci": [c["ci_low"], c["ci_high"]],
            "chance_to_beat_control": c["chance_to_beat_control"],
            "cuped_variance_reduction": None if cuped is None else cuped["variance_reduction"],
            "cuped_p_value": None if cuped is None else cuped["p_value"],
            "error": c["error"],
        }

    return {
        "decision": results["decision"],
        "variant_decision": variant["decision"],
        "srm_p_value": results["srm"]["p_value"] if results["srm"] else None,
        "srm_mismatch": results["srm"]["mismatch"] if results["srm"] else None,
        "crossovers": results["crossovers"],
        "sequential": None
        if seq is None
        else {
            "looks": len(seq["looks"]),
            "p_value": seq["p_value"],
            "first_rejection_look": seq["first_rejection_day"],
            "last_estimate": seq["looks"][-1]["estimate"],
            "last_ci": [seq["looks"][-1]["ci_low"], seq["looks"][-1]["ci_high"]],
        },
        "metrics": {name: metric(name) for name in by_metric},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    front = Storefront(demo_config(args.quick))
    phases: dict[str, float] = {}
    with temp_dir("shopwise-e2e-") as tmp:
        data_dir = tmp / "var"
        data_dir.mkdir()
        started = time.perf_counter()
        shop = shop_dir(data_dir, args)
        phases["build_seconds"] = round(time.perf_counter() - started, 1)
        server = Server(data_dir, log_level="WARNING")
        admin, secret = server.create_key("admin"), server.create_key("secret")
        server.start()
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=60) as client:
                sim = TrafficSimulator(client, front, secret, rate=args.rate, seed=args.seed)
                sim.check()
                t = time.perf_counter()
                pre = sim.run(minutes=args.pre_minutes)
                phases["pre_period_seconds"] = round(time.perf_counter() - t, 1)
                pre_visits = pre.visits
                start_experiments(client, admin)
                t = time.perf_counter()
                summary = sim.run(minutes=args.minutes)
                phases["experiment_seconds"] = round(time.perf_counter() - t, 1)
                phases["settle_seconds"] = settle(client, secret, summary, timeout=120)
                stop_experiments(client, admin)
                results = {
                    spec["id"]: read_results(client, secret, spec["id"], args.look_minutes)
                    for spec in (MODEL_VS_POPULAR, A_A)
                }
        finally:
            server.stop()
        variants = [v["name"] for spec in (MODEL_VS_POPULAR, A_A) for v in spec["variants"]]
        since = int(time.time() * 1000) - int(1000 * sum(phases.values()))
        kpis = kpi_side(data_dir, variants, since)
        reports = {name: write_report(server, name, args.look_minutes) for name in results}
    return {
        "shop": shop,
        "traffic": {
            "rate_per_second": args.rate,
            "seed": args.seed,
            "pre_period_visits": pre_visits,
            "experiment_visits": summary.visits - pre_visits,
            "events": summary.events,
            "accepted": summary.accepted,
            "rejected": summary.rejected,
            "orders": summary.orders,
            "revenue": summary.revenue,
        },
        "phases": phases,
        "experiments": {
            name: {
                "spec": spec,
                "headline": headline(results[name]),
                "attribution_check": {
                    "kpis_vs_simulator": compare(
                        {v["name"]: kpis[v["name"]] for v in spec["variants"]},
                        client_side(summary, name),
                    ),
                    "results_vs_simulator": compare(
                        server_side(results[name]), client_side(summary, name)
                    ),
                },
                "report": reports[name],
            }
            for name, spec in (("model-vs-popular", MODEL_VS_POPULAR), ("a-a", A_A))
        },
        "results": results,
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1%}"


def _n(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}" if x != int(x) else f"{int(x)}"


def _p(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def markdown(payload: dict[str, Any]) -> str:
    m, r = payload["machine"], payload["results"]
    shop, traffic, phases = r["shop"], r["traffic"], r["phases"]
    lines = [
        "# Experiments end to end on the demo shop (closed-loop traffic over HTTP)",
        "",
        f"Machine: {m['cpu_model']} ({m['cores']} cores, {m['memory_gb']} GB, load at start"
        f" {m['load_avg_at_start']}), Python {m['python']}. Command: `{payload['command']}`"
        f" ({payload['seconds']} s).",
        "",
        f"{'Quick demo' if payload['config']['quick'] else 'Demo'} shop:"
        f" {shop['products']} products, {shop['customers']} customers,"
        f" {shop['history_events']} history events over {shop['history_days']} days; champion"
        f" `{shop['model']['model']}` ({shop['model']['version']}). Served by `shopwise serve`"
        f" on 127.0.0.1; traffic by `TrafficSimulator` at {traffic['rate_per_second']} visits/s:"
        f" {traffic['pre_period_visits']} pre-period visits (no experiment; CUPED's covariate),"
        f" then {traffic['experiment_visits']} visits with both experiments running at once"
        f" ({phases['experiment_seconds']} s); {traffic['events']} events, {traffic['rejected']}"
        f" rejected. Sequential looks every {payload['config']['look_minutes']} min.",
        "",
        "| experiment | placements | decision (mSPRT) | looks | always-valid p | SRM p |"
        " crossovers |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name, e in r["experiments"].items():
        h, seq = e["headline"], e["headline"]["sequential"] or {}
        lines.append(
            f"| {name} | {', '.join(e['spec']['placements'])} | {h['decision']} |"
            f" {seq.get('looks', 0)} | {_p(seq.get('p_value'))} | {_p(h['srm_p_value'])} |"
            f" {h['crossovers']} |"
        )
    lines += [
        "",
        "| experiment | metric | control | treatment | lift | p (fixed) | p (Holm) |"
        " always-valid p | chance to beat | CUPED variance cut |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, e in r["experiments"].items():
        for metric, x in e["headline"]["metrics"].items():
            if x["control"] is None:
                continue
            cut = x["cuped_variance_reduction"]
            lines.append(
                f"| {name} | {metric} | {x['control']:.4g} | {x['treatment']:.4g} |"
                f" {_pct(x['relative_lift'])} | {_p(x['p_value'])} | {_p(x['p_value_holm'])} |"
                f" {_p(x['always_valid_p_value'])} |"
                f" {_p(x['chance_to_beat_control'])} | {'n/a' if cut is None else f'{cut:.1%}'} |"
            )
    lines += [
        "",
        "Attribution check, server / simulator (client-side tally of the same answers). `kpis`:"
        " the server's online KPIs per variant (every exposure); `results`: the experiment's"
        " arms, where a unit seen in two variants (an identity merge: a device's anonymous"
        " profile joins its customer at login) counts in its first variant only. Orders in"
        " `kpis` are summed over placements, so an order with lines credited to answers of two"
        " placements of one variant counts twice there (revenue does not).",
        "",
        "| experiment | variant | server | impressions | clicks | adds | orders | revenue |"
        " agree |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in r["experiments"].items():
        for source, check in e["attribution_check"].items():
            for variant, counts in check.items():
                cells = " | ".join(
                    f"{_n(counts[k]['server'])} / {_n(counts[k]['simulator'])}" for k in COUNTS
                )
                agree = all(c["agree"] for c in counts.values())
                label = source.split("_")[0]
                lines.append(
                    f"| {name} | {variant} | {label} | {cells} | {'yes' if agree else 'no'} |"
                )
    lines += [
        "",
        "Reports: " + ", ".join(f"`{p}`" for e in r["experiments"].values() for p in e["report"]),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pre-minutes", type=float, default=1.5)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--rate", type=float, default=24.0, help="visits per second")
    parser.add_argument("--look-minutes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--quick", action="store_true", help="The quick demo shop.")
    parser.add_argument("--reuse", type=Path, help="Keep the built shop here and reuse it.")
    args = parser.parse_args()
    TAG[0] = "-quick" if args.quick else ""
    defaults = {"pre_minutes": 1.5, "minutes": 12.0, "rate": 24.0, "look_minutes": 1, "seed": 24}
    return record_run(
        "nice -n 5 python benchmarks/experiments_e2e.py",
        f"experiments_e2e{TAG[0]}",
        args,
        defaults,
        run,
        markdown,
    )


if __name__ == "__main__":
    raise SystemExit(main())
