"""Banner bandits on simulated Bernoulli arms: Thompson sampling (``shopwise.experiments``) against
a uniform split (an A/B/C/D test) and epsilon-greedy (issue 24).

Each run draws nothing but clicks: four banners with fixed true click rates, one request at a time
for ``--steps`` requests; each policy picks a banner and its click is recorded. As in serving, a
policy sees the clicks only when its counts are read again: every ``REFRESH_SECONDS`` of the
served sampler, at ``--rate`` requests per second. Reported per policy, as medians over
``--seeds`` seeds: the cumulative regret (expected clicks lost against always showing the best
banner) at checkpoints, and the share of requests that got the best banner. Thompson runs
through :func:`shopwise.experiments.thompson_choice`, the function the served sampler calls,
with the served exploration share (also epsilon of epsilon-greedy).

Results go to ``benchmarks/results/bandit.json`` and ``bandit.md``.

    python benchmarks/bandit.py
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from _common import RESULTS, machine, write_json
from shopwise.experiments import EXPLORATION, REFRESH_SECONDS, ArmCounts, thompson_choice

RATES = (0.030, 0.036, 0.045, 0.040)
"""True click rates of the four banners (the third is best)."""
CHECKPOINTS = (1000, 5000, 10_000, 20_000)


def _thompson(counts: list[ArmCounts], rng: np.random.Generator) -> int:
    return thompson_choice(counts, EXPLORATION, rng)


def _uniform(counts: list[ArmCounts], rng: np.random.Generator) -> int:
    return int(rng.integers(len(counts)))


def _epsilon_greedy(counts: list[ArmCounts], rng: np.random.Generator) -> int:
    if rng.random() < EXPLORATION or any(c.shown == 0 for c in counts):
        return int(rng.integers(len(counts)))
    return int(np.argmax([c.clicked / c.shown for c in counts]))


POLICIES = {"thompson": _thompson, "uniform": _uniform, "epsilon_greedy": _epsilon_greedy}


def simulate(policy: str, steps: int, seed: int, refresh_every: int) -> dict[str, Any]:
    """One run: regret at each checkpoint and the best banner's share of the requests; the
    policy's counts are brought up to date every ``refresh_every`` requests."""
    rng = np.random.default_rng(seed)
    choose = POLICIES[policy]
    rates = np.array(RATES)
    best = int(np.argmax(rates))
    counts = [ArmCounts() for _ in rates]  # what the policy sees
    stored = list(counts)  # every answer and click so far
    regret, best_shown, at = 0.0, 0, {}
    for step in range(1, steps + 1):
        arm = choose(counts, rng)
        clicked = bool(rng.random() < rates[arm])
        stored[arm] = ArmCounts(stored[arm].shown + 1, stored[arm].clicked + clicked)
        if step % refresh_every == 0:
            counts = list(stored)
        regret += rates[best] - rates[arm]
        best_shown += arm == best
        if step in CHECKPOINTS:
            at[step] = regret
    return {"regret": at, "best_share": best_shown / steps}


def run(steps: int, seeds: int, refresh_every: int) -> dict[str, Any]:
    started = time.perf_counter()
    found: dict[str, Any] = {}
    for policy in POLICIES:
        runs = [simulate(policy, steps, seed, refresh_every) for seed in range(seeds)]
        found[policy] = {
            "median_regret": {
                str(c): float(np.median([r["regret"][c] for r in runs]))
                for c in CHECKPOINTS
                if c <= steps
            },
            "median_best_share": float(np.median([r["best_share"] for r in runs])),
        }
    found["seconds"] = round(time.perf_counter() - started, 1)
    return found


def markdown(payload: dict[str, Any]) -> str:
    m, r, config = payload["machine"], payload["results"], payload["config"]
    shown = [str(c) for c in CHECKPOINTS if c <= config["steps"]]
    lines = [
        "# Banner bandits: Thompson sampling against uniform and epsilon-greedy",
        "",
        f"Machine: {m['cpu_model']} ({m['cores']} cores, {m['memory_gb']} GB, load at start "
        f"{m['load_avg_at_start']}), Python {m['python']}. "
        f"Command: `{payload['command']}` ({r['seconds']} s).",
        "",
        f"Four banners with true click rates {', '.join(f'{x:.1%}' for x in RATES)}; "
        f"{config['steps']} requests per run; medians over {config['seeds']} seeds; "
        f"exploration share (Thompson) and epsilon {config['exploration']} (the served "
        f"default); counts read again every {config['refresh_every']} requests "
        f"({config['refresh_seconds']:g} s at {config['rate']:g} requests per second).",
        "",
        "| policy | " + " | ".join(f"regret after {c}" for c in shown) + " | best banner share |",
        "|---|" + "---:|" * (len(shown) + 1),
    ]
    for policy in POLICIES:
        entry = r[policy]
        regrets = " | ".join(f"{entry['median_regret'][c]:.1f}" for c in shown)
        lines.append(f"| {policy} | {regrets} | {entry['median_best_share']:.1%} |")
    lines += ["", "Regret: expected clicks lost against always showing the best banner.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument(
        "--rate", type=float, default=10.0, help="requests per second to the banner slot"
    )
    args = parser.parse_args()
    if args.steps < 1 or args.seeds < 1 or not args.rate > 0:
        parser.error("--steps, --seeds and --rate must be positive")
    command = "python benchmarks/bandit.py"
    if (args.steps, args.seeds, args.rate) != (20_000, 20, 10.0):
        command += f" --steps {args.steps} --seeds {args.seeds} --rate {args.rate:g}"
    refresh_every = max(1, round(args.rate * REFRESH_SECONDS))
    payload: dict[str, Any] = {
        "machine": machine(),
        "command": command,
        "config": {
            "steps": args.steps,
            "seeds": args.seeds,
            "rates": list(RATES),
            "exploration": EXPLORATION,
            "rate": args.rate,
            "refresh_seconds": REFRESH_SECONDS,
            "refresh_every": refresh_every,
        },
        "results": run(args.steps, args.seeds, refresh_every),
    }
    write_json(RESULTS / "bandit.json", payload)
    (RESULTS / "bandit.md").write_text(markdown(payload))
    print(markdown(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
