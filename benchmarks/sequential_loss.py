"""Training step of the GRU generator on Diginetica: this code against a baseline's (issue 25).

The sequential generator spends most of a training step in its sampled softmax: a matrix of
every position's logits against 4,096 shared negatives. This benchmark trains the network the
pipeline trains (``SequentialConfig(epochs=6, refit_epochs=3)``, its default size) for
``--steps`` batches of the harness's Diginetica training split, batched as training batches them,
after ``--warmup`` batches, and reports the median milliseconds per step (forward, backward,
Adam). Each measurement is a child process; with ``--baseline-src`` (the ``src`` folder of other
code, e.g. a ``git worktree`` of the commit before a change) the children alternate between this
checkout and the baseline for ``--rounds`` rounds, and the ratio of the medians says what the
change buys. Both sides see the same batches and the same initial weights.

    python benchmarks/sequential_loss.py --baseline-src /tmp/old/src --baseline-label 5ba8fd4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import REPO, RESULTS, machine, median, write_report

JSON_OUT = RESULTS / "sequential_loss.json"
DATASETS = Path(os.environ.get("SHOPWISE_DATASETS_DIR", REPO.parent / "shared" / "datasets"))


def measure(steps: int, warmup: int) -> dict[str, Any]:
    """Milliseconds per training step of the importable code (runs in a child process)."""
    import torch

    from shopwise.evaluate import read_session_tests, read_sessions, session_items, session_splits
    from shopwise.recommend.candidates import sequential
    from shopwise.recommend.pipeline import ShopwiseConfig

    config = ShopwiseConfig().sequential
    assert config is not None
    folder = DATASETS / "diginetica-sessions"
    sessions = read_sessions(folder / "train_sessions.txt")
    examples = read_session_tests(folder / "test_prefixes.tsv")
    n_items = session_items(sessions, examples)
    _, test = session_splits(sessions, examples, n_items, np.random.default_rng(0))
    data = test.train
    kept = [np.asarray(s, dtype=np.int64)[-config.max_length - 1 :] for s in data.sequences]
    counts = np.bincount(np.concatenate(kept), minlength=data.n_items).astype(np.float64)
    trainable = [s for s in kept if len(s) >= 2]
    batches = sequential._batches(trainable, config.batch_positions, np.random.default_rng(0))
    torch.manual_seed(config.seed)
    network = sequential._Network(data.n_items, config)
    weights = np.power(counts, config.sampling_alpha) * (counts > 0)
    sampler = torch.from_numpy(weights / weights.sum()).float()
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate, fused=True)
    network.train()
    where = torch.device("cpu")
    seconds: list[float] = []
    for batch in batches[: warmup + steps]:
        started = time.perf_counter()
        optimizer.zero_grad()
        loss = sequential._loss(
            network, sequential._padded(batch, where), sampler, config.negatives
        )
        torch.autograd.backward(loss)
        optimizer.step()
        seconds.append(time.perf_counter() - started)
    return {
        "ms_per_step": median([1000 * s for s in seconds[warmup:]]),
        "steps": len(seconds) - warmup,
        "batches_per_epoch": len(batches),
        "threads": torch.get_num_threads(),
    }


def child(src: Path, steps: int, warmup: int) -> dict[str, Any]:
    """``measure`` in a fresh interpreter importing shopwise from ``src``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(Path(__file__).parent)])}
    command = [sys.executable, __file__, "--measure", "--steps", str(steps)]
    command += ["--warmup", str(warmup)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def commit() -> str:
    found = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    )
    return found.stdout.strip() or "unknown"


def run(args: argparse.Namespace) -> dict[str, Any]:
    sides = {commit(): REPO / "src"}
    if args.baseline_src is not None:
        sides[args.baseline_label] = args.baseline_src
    samples: dict[str, list[dict[str, Any]]] = {label: [] for label in sides}
    for round_ in range(args.rounds):
        for label, src in sides.items():
            samples[label].append(child(src, args.steps, args.warmup))
            print(f"round {round_ + 1}: {label} {samples[label][-1]['ms_per_step']} ms/step")
    codes = {
        label: {
            "ms_per_step": median([s["ms_per_step"] for s in rows]),
            "rounds": [s["ms_per_step"] for s in rows],
            "epoch_seconds": round(
                median([s["ms_per_step"] for s in rows]) * rows[0]["batches_per_epoch"] / 1000, 1
            ),
        }
        for label, rows in samples.items()
    }
    first = samples[next(iter(sides))][0]
    command = "python benchmarks/sequential_loss.py"
    if args.baseline_src is not None:
        command += f" --baseline-src <src of {args.baseline_label}>"
        command += f" --baseline-label {args.baseline_label}"
    return {
        "machine": machine(),
        "command": command,
        "steps": args.steps,
        "warmup": args.warmup,
        "batches_per_epoch": first["batches_per_epoch"],
        "torch_threads": first["threads"],
        "codes": codes,
    }


def markdown(report: dict[str, Any]) -> str:
    host = report["machine"]
    codes = report["codes"]
    labels = list(codes)
    lines = [
        "# GRU generator: milliseconds per training step on Diginetica",
        "",
        f"Machine: {host['cpu_model']}, {host['cores']} cores ({report['torch_threads']} torch "
        f"threads), {host['memory_gb']} GB (load at start {host['load_avg_at_start']}). "
        f"Command: `{report['command']}`. Median over {report['steps']} steps after "
        f"{report['warmup']} warm-up steps, per child process; the children alternate between "
        f"the codes; {report['batches_per_epoch']} steps make an epoch.",
        "",
        "| code | ms per step (median of rounds) | rounds | one epoch s |",
        "|---|---|---|---|",
    ]
    for label in labels:
        code = codes[label]
        lines.append(
            f"| {label} | {code['ms_per_step']} | {code['rounds']} | {code['epoch_seconds']} |"
        )
    if len(labels) == 2:
        ratio = codes[labels[1]]["ms_per_step"] / codes[labels[0]]["ms_per_step"]
        lines += ["", f"Speedup of {labels[0]} over {labels[1]}: {ratio:.2f}x."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-src", type=Path, default=None)
    parser.add_argument("--baseline-label", default="baseline")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.steps, args.warmup)))
        return 0
    print(write_report(JSON_OUT, run(args), markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
