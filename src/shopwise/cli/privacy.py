"""``shopwise privacy export|erase|status``: a person's data subject requests from the shell.

``erase`` runs the request here and now (every table, model artifact and this process's caches;
running servers clear theirs within seconds) and prints its verification; the commands are
audited as made from the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from shopwise.cli._common import console, fail, open_runtime

app = typer.Typer(help="Data subject requests: export or erase a person.", no_args_is_help=True)

ACTOR = "cli"


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@app.command()
def export(
    any_id: str = typer.Argument(..., help="Any id of the person (user, anonymous or profile)."),
    output: Path | None = typer.Option(None, "--output", help="Write the JSON here (else stdout)."),
) -> None:
    """Everything held about a person, as one JSON document."""
    with open_runtime(start=False) as runtime:
        document = runtime.rights.export(any_id, ACTOR)
    if output is None:
        typer.echo(_json(document))
        return
    from shopwise.files import write_private

    write_private(output, (_json(document) + "\n").encode())
    console.print(f"wrote {len(document['events'])} events of {document['profile']['profile_id']}")


@app.command()
def erase(
    ids: list[str] = typer.Argument(..., help="Any id of each person to erase."),
) -> None:
    """Erase people from every store, model artifact and cache, then verify; one line each."""
    from shopwise.rights import VERIFIED

    with open_runtime() as runtime:
        for any_id in ids:
            runtime.rights.request_erasure(any_id, ACTOR)
        finished = runtime.rights.run_pending()
    for request in finished:
        found = request["details"].get("verification", {}).get("found", {})
        console.print(
            f"{request['request_id']} {request['profile_id']}: {request['status']}"
            + (f" (still found in: {', '.join(found)})" if found else "")
        )
    if any(request["status"] != VERIFIED for request in finished):
        raise typer.Exit(code=1)


@app.command()
def status(request_id: str = typer.Argument(..., help="The id a request was given.")) -> None:
    """A privacy request's status and details, as JSON."""
    with open_runtime(start=False) as runtime:
        found = runtime.rights.request(request_id)
    if found is None:
        fail(f"no privacy request {request_id!r}")
    typer.echo(_json(found))
