"""``shopwise simulate``: generate and load the demo shop; ``shopwise simulate traffic``: send its
shoppers to a running shopwise and report what each experiment variant earned."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import typer

from shopwise.cli._common import KEY_ENV, console, fail, load_settings, open_runtime
from shopwise.errors import ShopwiseError

if TYPE_CHECKING:
    from shopwise.simulate import SimulationConfig, TrafficSimulator, TrafficSummary

app = typer.Typer(
    help="Generate the demo shop, or send simulated shoppers to a running shopwise.",
    invoke_without_command=True,
)


def _config(quick: bool, seed: int) -> SimulationConfig:
    from shopwise.simulate import SimulationConfig

    return SimulationConfig.quick(seed=seed) if quick else SimulationConfig(seed=seed)


@app.callback()
def simulate(
    ctx: typer.Context,
    quick: bool = typer.Option(
        False, "--quick", help="About 200 products, 500 customers, 14 days."
    ),
    seed: int = typer.Option(7, help="Random seed (same seed, same shop)."),
) -> None:
    """Generate the demo shop and load it through the ingestion and catalog services."""
    if ctx.invoked_subcommand is not None:
        return
    from shopwise.cli.demo import load_shop
    from shopwise.simulate import simulate as generate

    with console.status("simulating the shop"):
        shop = generate(_config(quick, seed))
    with open_runtime() as runtime:
        counts = load_shop(runtime, shop)
    console.print(
        f"loaded {len(shop.products)} products; events accepted {counts['accepted']}, "
        f"duplicates {counts['duplicates']}, rejected {counts['rejected']}"
    )


@app.command()
def traffic(
    minutes: float = typer.Option(..., "--minutes", min=0.001, help="How long to run."),
    rate: float = typer.Option(1.0, "--rate", min=0.001, help="Visits per second."),
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help="The shopwise server."),
    key: str | None = typer.Option(
        None, "--key", help=f"A secret API key (default {KEY_ENV}).", show_default=False
    ),
    quick: bool = typer.Option(False, "--quick", help="The served shop is the quick demo shop."),
    shop_seed: int = typer.Option(
        0, "--shop-seed", help="Seed the served shop was built with (shopwise demo: 0)."
    ),
    seed: int = typer.Option(7, "--seed", help="Seed of the shoppers' choices."),
    new_share: float = typer.Option(
        0.2, "--new-share", min=0.0, max=1.0, help="Share of visits by new visitors."
    ),
    wait: float = typer.Option(
        0.0, "--wait", min=0.0, help="Seconds to wait for the server to come up (0: none)."
    ),
) -> None:
    """Simulated shoppers browse the demo shop on a running shopwise, act on its live answers
    by their hidden tastes, and a table shows what each experiment variant got."""
    api_key = key or os.environ.get(KEY_ENV)
    if not api_key:
        fail(f"an API key is needed: pass --key or set {KEY_ENV} (a secret key)")
    import httpx

    from shopwise.cli._progress import progress_bar
    from shopwise.simulate import Storefront, TrafficSimulator

    with console.status("regenerating the shop's customers"):
        front = Storefront(_config(quick, shop_seed))
    try:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            sim = TrafficSimulator(
                client,
                front,
                api_key,
                rate=rate,
                seed=seed,
                new_share=new_share,
                window_hours=load_settings().attribution_window_hours,
            )
            _reach(sim, wait)
            with progress_bar() as bar:
                task = bar.add_task("simulating visits", total=100)

                def show(done: int, share: float) -> None:
                    bar.update(task, completed=100 * share, description=f"{done} visits")

                summary = sim.run(minutes=minutes, progress=show)
    except httpx.TransportError as exc:
        fail(f"cannot reach shopwise at {url}: {exc}")
    except ShopwiseError as exc:
        fail(exc.message)
    _report(summary)


def _reach(sim: TrafficSimulator, wait: float) -> None:
    """Check the server and key (:meth:`TrafficSimulator.check`), retrying for ``wait`` seconds
    while the server cannot be reached."""
    import httpx

    deadline = time.monotonic() + wait
    while True:
        try:
            sim.check()
            return
        except httpx.TransportError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


def _rate(value: float | None, form: str) -> str:
    return "-" if value is None else form.format(value)


def _report(summary: TrafficSummary) -> None:
    from rich.table import Table

    table = Table(
        "experiment",
        "variant",
        title=f"{summary.visits} visits, {summary.orders} orders, revenue {summary.revenue:.2f}",
    )
    headings = ("visits", "visitors", "impressions", "clicks", "CTR", "adds", "orders")
    for heading in (*headings, "revenue", "per visitor", "banner clicks"):
        table.add_column(heading, justify="right")
    for row in summary.variants:
        table.add_row(
            row.experiment or "-",
            row.variant or "-",
            str(row.visits),
            str(row.visitors),
            str(row.impressions),
            str(row.clicks),
            _rate(row.ctr, "{:.2%}"),
            str(row.adds),
            str(row.orders),
            f"{row.revenue:.2f}",
            _rate(row.revenue_per_visitor, "{:.2f}"),
            f"{row.banner_clicks}/{row.banner_views}",
        )
    console.print(table)
    console.print(
        f"events sent {summary.events}: accepted {summary.accepted}, "
        f"duplicates {summary.duplicates}, rejected {summary.rejected}"
    )
