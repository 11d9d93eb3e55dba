"""Profile fold cost: CPU seconds to fold the demo shop's events into profiles, this tree against
a baseline revision, in one run.

The demo shop (``SimulationConfig()``, seed 0) is simulated once; its products and first
``--events`` events are written to a file. For each side (the working tree's ``src`` and a git
worktree of ``--baseline``), a child process with that side's ``src`` first on ``PYTHONPATH``
loads them into a fresh SQLite store (writer only, no consumers), then folds every stored event
through ``Profiles.consume`` in batches of the embedded bus's size (500), timing the fold alone
(process CPU and wall-clock). The sides alternate for ``--repeats`` rounds; medians are shown,
with the ratio baseline / this tree, and a digest of the identity graph and the profile states,
which must be the same on both sides (the fold's result did not change).

    python benchmarks/profile_fold.py [--events 100000] [--baseline 0375d56] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from _common import REPO, RESULTS, machine, median, write_report

BUS_BATCH = 500
"""Events a consume call gets: the embedded bus's default batch size."""


def write_shop(path: Path, events: int) -> dict[str, int]:
    """The demo shop's products and first ``events`` events, as one JSON file."""
    from shopwise.simulate import SimulationConfig, simulate

    shop = simulate(SimulationConfig())
    payload = {"products": list(shop.products), "events": list(shop.events[:events])}
    path.write_bytes(orjson.dumps(payload))
    return {"products": len(shop.products), "events": len(payload["events"])}


def child(shop_path: Path) -> None:
    """Load the shop into a fresh store, fold it, print the timings and the result's digest."""
    import sqlalchemy as sa

    import shopwise
    from shopwise import store
    from shopwise.bus import StoredEvent
    from shopwise.runtime import Runtime
    from shopwise.settings import Settings

    shop = orjson.loads(shop_path.read_bytes())
    with tempfile.TemporaryDirectory(prefix="profile-fold-") as data:
        runtime = Runtime.build(Settings(data_dir=Path(data)), migrate=True)
        runtime.writer.start()
        try:
            for k in range(0, len(shop["products"]), 500):
                runtime.catalog.upsert(shop["products"][k : k + 500])
            for k in range(0, len(shop["events"]), 500):
                runtime.collector.ingest(shop["events"][k : k + 500])
            columns = [store.events.c[name] for name in StoredEvent.__slots__]
            with runtime.engine.connect() as conn:
                rows = conn.execute(sa.select(*columns).order_by(store.events.c.id))
                stored = [StoredEvent.from_row(dict(row._mapping)) for row in rows]
            wall, cpu = time.perf_counter(), time.process_time()
            for k in range(0, len(stored), BUS_BATCH):
                runtime.profiles.consume(stored[k : k + BUS_BATCH])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            digest = _digest(runtime.engine)
        finally:
            runtime.writer.stop()
            runtime.engine.dispose()
    result = {"cpu_s": cpu, "wall_s": wall, "events": len(stored), "digest": digest}
    print(orjson.dumps({**result, "module": shopwise.__file__}).decode())


def _digest(engine: Any) -> str:
    """A digest of the identity graph and every profile's state (not its update time nor its
    traits' ciphertexts)."""
    import sqlalchemy as sa

    from shopwise import store

    hasher = hashlib.sha256()
    with engine.connect() as conn:
        identities = store.identities.c
        graph = sa.select(identities.id_key, identities.profile_id, identities.link_user)
        for row in conn.execute(graph.order_by(identities.id_key)):
            hasher.update(repr(tuple(row)).encode())
        profiles = store.profiles.c
        states = sa.select(profiles.profile_id, profiles.state, profiles.merged_into)
        for row in conn.execute(states.order_by(profiles.profile_id)):
            hasher.update(repr((row.profile_id, row.merged_into)).encode())
            hasher.update(orjson.dumps(_comparable(row.state), option=orjson.OPT_SORT_KEYS))
    return hasher.hexdigest()[:16]


def _comparable(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` without its traits' ciphertexts, which differ at every run (a fresh key and
    nonce); each trait's time and message id stay."""
    traits = {name: value[1:] for name, value in state.get("traits", {}).items()}
    return {**state, "traits": traits}


def run_side(src: Path, shop_path: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "child", "--shop", str(shop_path)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = orjson.loads(out.strip().splitlines()[-1])
    if not result["module"].startswith(str(src)):
        raise RuntimeError(f"the child imported {result['module']}, not from {src}")
    return result


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    rows = [
        "# Profile fold: this tree against a baseline revision",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python "
        f"{m['python']}; load average {m['load_avg_at_start']} at start. Command: "
        f"`python benchmarks/profile_fold.py --events {report['events']} --baseline "
        f"{report['baseline']} --repeats {report['repeats']}"
        + (f" --out {report['out']}" if report.get("out") else "")
        + f"` ({report['started']}).",
        "",
        f"The demo shop's first {report['events']:,} events folded by `Profiles.consume` in "
        f"batches of {BUS_BATCH}, each side in its own process on a fresh SQLite store, the sides "
        "alternating; medians of the rounds.",
        "",
        "| side | fold CPU s | fold wall s | events per CPU-s | result digest |",
        "|---|---:|---:|---:|---|",
    ]
    for name in ("baseline", "this tree"):
        side = report["sides"][name]
        rows.append(
            f"| {name} | {side['cpu_s']:.1f} | {side['wall_s']:.1f} | "
            f"{report['events'] / side['cpu_s']:,.0f} | `{side['digest']}` |"
        )
    rows += [
        "",
        f"Baseline / this tree, fold CPU: {report['ratio_cpu']:.2f}x. The same result on both "
        f"sides: {report['same_result']}.",
    ]
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "child"])
    parser.add_argument("--shop", type=Path)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--baseline", default="0375d56")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "profile_fold.json")
    args = parser.parse_args()
    if args.mode == "child":
        child(args.shop)
        return 0
    info = machine()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="profile-fold-run-") as scratch:
        worktree, shop_path = Path(scratch) / "baseline", Path(scratch) / "shop.json"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.baseline],
            check=True,
            capture_output=True,
        )
        try:
            counts = write_shop(shop_path, args.events)
            sides = {"baseline": worktree / "src", "this tree": REPO / "src"}
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
            for _ in range(args.repeats):
                for name, src in sides.items():
                    runs[name].append(run_side(src, shop_path))
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)],
                check=True,
            )
    summary = {
        name: {
            "cpu_s": median([r["cpu_s"] for r in rows]),
            "wall_s": median([r["wall_s"] for r in rows]),
            "digest": rows[0]["digest"],
        }
        for name, rows in runs.items()
    }
    digests = {r["digest"] for rows in runs.values() for r in rows}
    report = {
        "machine": info,
        "started": started,
        "baseline": args.baseline,
        "repeats": args.repeats,
        "out": None if args.out == RESULTS / "profile_fold.json" else str(args.out),
        "events": counts["events"],
        "sides": summary,
        "runs": runs,
        "ratio_cpu": summary["baseline"]["cpu_s"] / summary["this tree"]["cpu_s"],
        "same_result": len(digests) == 1,
    }
    print(write_report(args.out, report, markdown))
    return 0 if report["same_result"] else 1


if __name__ == "__main__":
    sys.exit(main())
