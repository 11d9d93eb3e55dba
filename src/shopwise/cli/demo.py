"""``shopwise demo``: build a believable shop, train, and serve it."""

from __future__ import annotations

import orjson
import typer

from shopwise.auth import KeyKind
from shopwise.cli._common import console, load_settings
from shopwise.cli.serve import prepare_runtime, run_server
from shopwise.runtime import Runtime

DEMO_KEYS = "demo-keys.json"


def demo_keys(runtime: Runtime) -> dict[str, str]:
    """The demo's three keys, created once and kept in the data dir (demo use only)."""
    path = runtime.settings.data_dir / DEMO_KEYS
    if path.exists():
        keys: dict[str, str] = orjson.loads(path.read_bytes())
        active = {key.id for key in runtime.keys.list()}
        if all(value.split("_")[2] in active for value in keys.values()):
            return keys
    keys = {kind.value: runtime.keys.create(kind, f"demo {kind}")[1] for kind in KeyKind}
    path.write_bytes(orjson.dumps(keys, option=orjson.OPT_INDENT_2))
    path.chmod(0o600)
    return keys


def demo(
    host: str | None = typer.Option(None, help="Bind address (default SHOPWISE_HOST)."),
    port: int | None = typer.Option(None, help="Port (default SHOPWISE_PORT)."),
) -> None:
    """Create the data dir, migrate, create keys, then serve and print where to look."""
    settings = load_settings()
    runtime = prepare_runtime(settings)
    keys = demo_keys(runtime)
    bind_host, bind_port = host or settings.host, port or settings.port
    base = f"http://{bind_host}:{bind_port}"
    console.print(f"[bold]shopwise demo[/] data in {settings.data_dir.resolve()}")
    console.print(f"  API docs   {base}/docs")
    console.print(f"  readiness  {base}/readyz")
    for kind, key in keys.items():
        console.print(f"  {kind:<7} key {key}", markup=False)
    run_server(settings, runtime, bind_host, bind_port)
