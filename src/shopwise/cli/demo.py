"""``shopwise demo``: build a believable shop, train and serve it (``shopwise simulate`` loads
one without serving it: :mod:`shopwise.cli.simulate`)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import typer

from shopwise.cli._common import KEY_ENV, console, load_settings

if TYPE_CHECKING:
    from shopwise.runtime import Runtime

DEMO_KEYS = "demo-keys.json"
TRAFFIC_MINUTES = 24 * 60
"""How long ``shopwise demo --traffic`` simulates shoppers (the demo stops it on exit)."""


def demo_keys(runtime: Runtime) -> dict[str, str]:
    """The demo's three keys, created once and kept in the data dir (demo use only)."""
    import orjson

    from shopwise.auth import KeyKind
    from shopwise.files import write_private

    path = runtime.settings.data_dir / DEMO_KEYS
    if path.exists():
        keys: dict[str, str] = orjson.loads(path.read_bytes())
        active = {key.id for key in runtime.keys.list()}
        if all(value.split("_")[2] in active for value in keys.values()):
            return keys
    keys = {kind.value: runtime.keys.create(kind, f"demo {kind}")[1] for kind in KeyKind}
    write_private(path, orjson.dumps(keys, option=orjson.OPT_INDENT_2))
    return keys


def load_shop(runtime: Runtime, shop: Any) -> dict[str, int]:
    """Push products and events through the catalog and ingestion services, with progress."""
    from shopwise.cli._progress import progress_bar
    from shopwise.simulate import load

    accepted = duplicates = rejected = 0
    last = 0

    def ingest(batch: list[dict[str, Any]]) -> object:
        nonlocal accepted, duplicates, rejected, last
        result = runtime.collector.ingest(batch)
        accepted, duplicates = accepted + result.accepted, duplicates + result.duplicates
        rejected += len(result.rejected)
        last = max(last, result.last_event_id)
        return result

    total = len(shop.products) + len(shop.events)
    with progress_bar() as bar:
        task = bar.add_task("loading the shop", total=total)
        load(
            shop, ingest, runtime.catalog.upsert, lambda done, _t: bar.update(task, completed=done)
        )
        bar.update(task, description="updating profiles")
        runtime.bus.wait_until_consumed(last, timeout=600)
    return {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}


def _store_is_empty(runtime: Runtime) -> bool:
    import sqlalchemy as sa

    from shopwise import store

    with runtime.engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(store.products)).scalar_one() == 0
        )


def _build(runtime: Runtime, quick: bool) -> None:
    """Simulate the shop, load it while a consumers-only worker folds the profiles in a second
    process, then train once every profile (and so every consent) is current."""
    from shopwise.simulate import SimulationConfig
    from shopwise.simulate import simulate as generate
    from shopwise.worker import train_recommenders

    base = SimulationConfig.quick() if quick else SimulationConfig()
    # the demo's history ends today, so recency, trends and cart reminders look live
    config = base.model_copy(update={"start": date.today() - timedelta(days=base.days)})
    with console.status("simulating the shop"):
        shop = generate(config)
    runtime.start(consumers=False)
    folder = _start_worker("--consumers-only")
    try:
        counts = load_shop(runtime, shop)
        console.print(f"loaded {len(shop.products)} products and {counts['accepted']} events")
        with console.status("training the recommender") as status:
            result = train_recommenders(
                runtime, "transition" if quick else "shopwise", status.update
            )
        console.print(
            f"trained {result['model']} ({result['version']}) in {result['fit_seconds']} s"
        )
    finally:
        runtime.stop()
        _stop([folder])


def _start_worker(*options: str) -> subprocess.Popen[bytes]:
    """A ``shopwise worker`` with ``options``, in the demo's process group so Ctrl-C or a group
    kill stops it with the demo."""
    return subprocess.Popen(
        [sys.executable, "-m", "shopwise.cli", "worker", *options], env=os.environ.copy()
    )


def _stop(helpers: list[subprocess.Popen[bytes]]) -> None:
    for helper in helpers:
        helper.terminate()
    for helper in helpers:
        helper.wait(timeout=30)


def _start_traffic(base: str, secret: str, rate: float, quick: bool) -> subprocess.Popen[bytes]:
    """``shopwise simulate traffic`` against the demo, waiting for the server to come up (the
    simulator's shoppers act on live answers, so the dashboard's KPIs fill). The key travels in
    the environment, not on the command line; the process is in the demo's group like the worker.
    """
    command = [sys.executable, "-m", "shopwise.cli", "simulate", "traffic", "--url", base]
    command += ["--minutes", str(TRAFFIC_MINUTES), "--rate", str(rate), "--wait", "300"]
    command += ["--quick"] if quick else []
    return subprocess.Popen(command, env={**os.environ, KEY_ENV: secret}, stdout=subprocess.DEVNULL)


def demo(
    host: str | None = typer.Option(None, help="Bind address (default SHOPWISE_HOST)."),
    port: int | None = typer.Option(None, help="Port (default SHOPWISE_PORT)."),
    quick: bool = typer.Option(
        False, "--quick", envvar="SHOPWISE_DEMO_QUICK", help="A small shop, for smoke tests."
    ),
    traffic: float = typer.Option(
        0.0,
        "--traffic",
        min=0.0,
        help="Also run the closed-loop traffic simulator at this many visits a second, so the "
        "dashboard fills with live KPIs (0: off).",
    ),
) -> None:
    """Build the demo shop (first run), train, start the worker, serve, and print where to look."""
    from shopwise.cli.serve import prepare_runtime, run_server

    # the API and the bus consumers run in two processes (the worker folds the profiles), as in
    # production: ingestion then never waits on a fold
    settings = load_settings().model_copy(update={"api_consumers": False})
    runtime = prepare_runtime(settings)
    if _store_is_empty(runtime):
        _build(runtime, quick)
        runtime = prepare_runtime(settings)
    keys = demo_keys(runtime)
    bind_host, bind_port = host or settings.host, port or settings.port
    base = f"http://{bind_host}:{bind_port}"
    console.print(f"[bold]shopwise demo[/] data in {settings.data_dir.resolve()}")
    console.print(f"  storefront       {base}/demo")
    console.print(f"  dashboard        {base}/dashboard  (log in with the admin key below)")
    console.print(f"  API docs         {base}/docs")
    console.print(f"  readiness        {base}/readyz")
    console.print(f"  recommendations  {base}/v1/recommendations?placement=home&anonymous_id=demo")
    for kind, key in keys.items():
        console.print(f"  {kind:<7} key {key}", markup=False)
    helpers = [_start_worker("--model", "transition" if quick else "shopwise")]
    if traffic > 0:
        console.print(f"  traffic          {traffic} simulated visits a second, once ready")
        helpers.append(_start_traffic(base, keys["secret"], traffic, quick))
    try:
        run_server(settings, runtime, bind_host, bind_port)
    finally:
        _stop(helpers)
