"""Time to a personalized storefront: ``shopwise demo`` on a fresh data directory (issue 27).

Starts ``shopwise demo`` (what ``make demo`` runs once the environment is installed) in a new
data directory, stamps every line it prints with the seconds since the start, and polls until a
shopper of the demo shop (one of the five most active: some decline personalization) gets a
personalized answer from the trained model at ``/v1/recommendations?placement=home``
(``personalized`` true and a ``model_version``). It reports when the shop was loaded, when the
model was trained, when ``/readyz`` answered 200 and when the first personalized answer came.
``--runs`` repeats it (medians shown); ``--quick`` times the quick shop (results under
``benchmarks/results/tmp/``).

    python benchmarks/demo_ready.py [--quick] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from _common import RESULTS, free_port, machine, median, shopwise_command, temp_dir, write_json

GOAL_SECONDS = 300.0
"""Issue 27: a personalized storefront within five minutes of ``make demo``."""
TIMEOUT_SECONDS = 1200.0
MILESTONES = {"loaded": "loaded ", "trained": "trained ", "serving": "shopwise demo"}


@dataclass
class Run:
    """One demo start: seconds from the start to each milestone."""

    milestones: dict[str, float] = field(default_factory=dict)
    ready: float | None = None
    personalized: float | None = None
    events: int = 0
    lines: list[str] = field(default_factory=list)


def _follow(process: subprocess.Popen[str], run: Run, start: float) -> None:
    """Stamp the demo's output lines; the first line with each milestone's text marks it."""
    assert process.stdout is not None
    for line in process.stdout:
        at = round(time.monotonic() - start, 1)
        run.lines.append(f"{at:7.1f}  {line.rstrip()}")
        for name, text in MILESTONES.items():
            if name not in run.milestones and line.lstrip().startswith(text):
                run.milestones[name] = at


def _get(url: str, key: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except (urllib.error.URLError, OSError):
        return 0, {}


def _key(data: Path) -> str | None:
    keys = data / "demo-keys.json"
    return orjson.loads(keys.read_bytes())["secret"] if keys.exists() else None


def _shoppers(data: Path) -> tuple[list[str], int] | None:
    """The demo's five most active known shoppers (some decline personalization), and how many
    events the store holds."""
    path = data / "shopwise.db"
    if not path.exists():
        return None
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute(
            "select user_id from events where user_id is not null "
            "group by user_id order by count(*) desc limit 5"
        ).fetchall()
        total = conn.execute("select count(*) from events").fetchone()[0]
    return ([row[0] for row in rows], total) if rows else None


def _personalized(base: str, key: str, users: list[str]) -> bool:
    """Whether one of ``users`` gets a home list that the trained model personalized."""
    for user in users:
        status, answer = _get(f"{base}/v1/recommendations?placement=home&user_id={user}", key)
        if status == 200 and answer.get("personalized") and answer.get("model_version"):
            return True
    return False


def _watch(process: subprocess.Popen[str], data: Path, port: int, run: Run, start: float) -> None:
    """Poll readiness, then a known shopper's home list, until it is personalized."""
    base = f"http://127.0.0.1:{port}"
    shoppers: tuple[list[str], int] | None = None
    while time.monotonic() - start < TIMEOUT_SECONDS and process.poll() is None:
        if run.ready is None and _get(f"{base}/readyz")[0] == 200:
            run.ready = round(time.monotonic() - start, 1)
        if run.ready is not None and shoppers is None:
            shoppers = _shoppers(data)
        key = _key(data)
        if key is not None and shoppers is not None and _personalized(base, key, shoppers[0]):
            run.personalized = round(time.monotonic() - start, 1)
            run.events = shoppers[1]
            break
        time.sleep(0.5)


def time_demo(quick: bool) -> Run:
    """Start ``shopwise demo`` on a new data dir and time it to a personalized answer."""
    run = Run()
    with temp_dir("shopwise-demo-ready-") as data:
        port = free_port()
        env = {**os.environ, "SHOPWISE_DATA_DIR": str(data), "SHOPWISE_PORT": str(port)}
        env |= {"SHOPWISE_DEMO_QUICK": "1"} if quick else {}
        env |= {"COLUMNS": "120", "PYTHONUNBUFFERED": "1"}
        start = time.monotonic()
        process = subprocess.Popen(
            [*shopwise_command(), "demo"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        reader = threading.Thread(target=_follow, args=(process, run, start), daemon=True)
        reader.start()
        try:
            _watch(process, data, port, run, start)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
            reader.join(timeout=5)
    return run


def _table(runs: list[Run]) -> list[str]:
    names = ["loaded", "trained", "serving"]
    rows = ["| run | " + " | ".join(names) + " | ready | personalized |", "|---" * 6 + "|"]
    for index, run in enumerate(runs, 1):
        cells = [str(run.milestones.get(name, "")) for name in names]
        rows.append(f"| {index} | {' | '.join(cells)} | {run.ready} | {run.personalized} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    info = machine()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    runs = [time_demo(args.quick) for _ in range(args.runs)]
    times = [run.personalized for run in runs if run.personalized is not None]
    summary = {
        "personalized_median_s": median(times) if times else None,
        "goal_s": GOAL_SECONDS,
        "all_personalized": len(times) == len(runs),
    }
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    name = "demo_ready-quick" if args.quick else "demo_ready"
    folder = RESULTS / "tmp" if args.quick else RESULTS
    payload = {"machine": info, "started": started, "quick": args.quick, "summary": summary}
    write_json(folder / f"{name}.json", {**payload, "runs": [asdict(r) for r in runs]})
    shop = ", quick shop" if args.quick else ""
    md = [
        f"# Time to a personalized storefront (`shopwise demo`{shop})",
        "",
        f"Machine: {info['cpu_model']}, {info['cores']} cores, {info['memory_gb']} GB, Python "
        f"{info['python']}; load average {info['load_avg_at_start']} at start and "
        f"{info['load_avg_at_end']} at the end. Command: `python benchmarks/demo_ready.py"
        f"{' --quick' if args.quick else ''} --runs {args.runs}` ({started}).",
        "",
        "Seconds from starting `shopwise demo` on an empty data directory (the environment "
        "installed, as after `make install`) to: the shop loaded (every profile folded), the "
        "model trained, the URLs printed, `/readyz` 200, and the first home-page answer for a "
        "known shopper that is personalized by the trained model.",
        "",
        *_table(runs),
        "",
        f"Median to personalized: {summary['personalized_median_s']} s "
        f"(goal {GOAL_SECONDS:.0f} s).",
    ]
    (folder / f"{name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print("\n".join(runs[-1].lines[-40:]))


if __name__ == "__main__":
    main()
