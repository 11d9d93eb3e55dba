"""``shopwise audit``: verify the audit log's hash chain and list its entries.

Output is plain lines through ``typer.echo`` rather than the rich console: entries are JSON whose
brackets rich would read as markup, and hashes and JSON lines must reach scripts unwrapped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from shopwise.cli._common import fail, load_settings
from shopwise.errors import ShopwiseError

if TYPE_CHECKING:
    from shopwise.audit import AuditLog

app = typer.Typer(help="The audit log: verify its hash chain, list entries.", no_args_is_help=True)

_HEAD = re.compile(r"(\d+):([0-9a-f]{64})")


@contextmanager
def _audit_log() -> Iterator[AuditLog]:
    """The store's audit log for one command (migrating a new store first)."""
    from shopwise import store
    from shopwise.audit import AuditLog

    engine = store.create_engine(load_settings())
    try:
        if not store.is_current(engine):
            store.upgrade(engine)
        yield AuditLog(engine)
    except ShopwiseError as exc:
        fail(exc.message)
    finally:
        engine.dispose()


def _parse_head(text: str) -> tuple[int, str]:
    match = _HEAD.fullmatch(text.strip().lower())
    if match is None:
        fail(f"--head takes ENTRIES:HASH (a count, a colon, 64 hex digits), not {text!r}")
    return int(match[1]), match[2]


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


@app.command()
def verify(
    head: str | None = typer.Option(
        None,
        "--head",
        metavar="N:HASH",
        help="A head printed by an earlier verify, kept outside the store: fails when entries up "
        "to it were deleted or rewritten (deletions at the end break no link).",
    ),
) -> None:
    """Check every entry's hash and link; exit 1, listing the problems, when the chain is broken."""
    expected = _parse_head(head) if head is not None else None
    with _audit_log() as log:
        report = log.verify(expected)
    if report.ok:
        typer.echo(f"audit log intact: {report.entries} entries, head {report.head.hash}")
        return
    for problem in report.problems:
        typer.echo(problem)
    if report.problem_count > len(report.problems):
        typer.echo(f"... and {report.problem_count - len(report.problems)} more")
    typer.echo(
        f"audit log broken: {_count(report.problem_count, 'problem')} "
        f"in {_count(report.entries, 'entry', 'entries')}"
    )
    # a broken chain is a finding, not bad input: 1, where usage errors exit 2
    raise typer.Exit(code=1)


@app.command("list")
def list_entries(
    action: str | None = typer.Option(None, "--action", help="Only this action (profile.read)."),
    subject: str | None = typer.Option(None, "--subject", help="Only entries about this id."),
    after: int = typer.Option(0, "--after", min=0, help="Only entries after this id (paging)."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many entries."),
) -> None:
    """Print entries oldest first, one JSON object a line."""
    import orjson

    with _audit_log() as log:
        entries = log.entries(after_id=after, limit=limit, action=action, subject=subject)
    for entry in entries:
        typer.echo(orjson.dumps(entry.as_json()).decode())
