"""``shopwise db``: migrations."""

from __future__ import annotations

import typer

from shopwise.cli._common import console, open_runtime

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    from shopwise import store

    with open_runtime(migrate=False, start=False) as runtime:
        store.upgrade(runtime.engine, revision)
        console.print(
            f"store at revision {', '.join(sorted(store.current_revisions(runtime.engine)))}"
        )


@app.command()
def current() -> None:
    """Show the store's revision and whether it is current."""
    from shopwise import store

    with open_runtime(migrate=False, start=False) as runtime:
        revs = sorted(store.current_revisions(runtime.engine)) or ["none"]
        state = "current" if store.is_current(runtime.engine) else "migrations pending"
        console.print(f"{', '.join(revs)} ({state})")
