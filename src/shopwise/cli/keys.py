"""``shopwise keys``: create, list and revoke API keys."""

from __future__ import annotations

import typer
from rich.table import Table

from shopwise.cli._common import console, fail, load_settings, open_runtime
from shopwise.errors import ShopwiseError

app = typer.Typer(help="API keys (write, secret, admin).", no_args_is_help=True)


@app.command()
def create(
    kind: str = typer.Option(..., "--kind", help="write | secret | admin"),
    name: str | None = typer.Option(None, "--name", help="A label for listings."),
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from shopwise.auth import KeyKind, parse_kind

    try:
        parsed: KeyKind = parse_kind(kind)
    except ShopwiseError as exc:
        fail(exc.message)
    with open_runtime(start=False) as runtime:
        key, plaintext = runtime.keys.create(parsed, name)
    console.print(
        f"created {key.kind} key {key.id} ({key.name}); store it now, it is not shown again:"
    )
    typer.echo(plaintext)


@app.command("list")
def list_keys(
    all_keys: bool = typer.Option(False, "--all", help="Include revoked keys."),
) -> None:
    """List keys (ids, kinds, names; never the secrets)."""
    with open_runtime(start=False) as runtime:
        keys = runtime.keys.list(include_revoked=all_keys)
    table = Table("id", "kind", "name", "created", "revoked")
    for key in keys:
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else ""
        table.add_row(
            key.id, key.kind, key.name, key.created_at.isoformat(timespec="seconds"), revoked
        )
    console.print(table)


@app.command()
def revoke(key_id: str = typer.Argument(..., help="The id shown by 'keys list'.")) -> None:
    """Revoke a key. Running 'shopwise serve' processes over this store refuse it within a
    second: each checks for revocations twice a second (a process not serving holds no keys)."""
    with open_runtime(start=False) as runtime:
        key = runtime.keys.revoke(key_id)
    console.print(f"revoked {key.kind} key {key.id}")


@app.command("identity-secret")
def identity_secret() -> None:
    """Print the identity secret: the shop's backend signs logged-in user ids with it
    (``user_hash``) so that a write key's user id is verified."""
    from shopwise.profiles import identity_secret as derive

    typer.echo(derive(load_settings().secret_key.get_secret_value().encode()))


@app.command("rotate-data-key")
def rotate_data_key() -> None:
    """Make a new data key for PII at rest and re-encrypt every stored value under it."""
    from shopwise.cli._progress import progress_bar

    with open_runtime(start=False) as runtime, progress_bar() as bar:
        task = bar.add_task("rotating the data key", total=None)
        counts = runtime.cipher.rotate(lambda message: bar.update(task, description=message))
        bar.update(task, description="done", total=1, completed=1)
        runtime.audit.record("cli", "data_key.rotated", str(runtime.cipher.active_key), counts)
    summary = ", ".join(f"{rows} {table}" for table, rows in counts.items())
    console.print(f"data key {runtime.cipher.active_key} is active; re-encrypted {summary}")
