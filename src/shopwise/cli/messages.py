"""``shopwise messages preview ID``: a message a journeys trigger fired, rendered again.

Prints the subject and the plain text (``--html``: the HTML part) rendered with the trigger as it
was when it fired and today's templates (``<data_dir>/templates/`` overriding the shipped ones).
The preview shows the person's first name: it is recorded in the audit log.
"""

from __future__ import annotations

import typer

from shopwise.cli._common import console, fail, open_runtime

app = typer.Typer(help="Messages fired by the journeys' triggers.", no_args_is_help=True)


@app.command("preview")
def preview(
    message_id: str = typer.Argument(..., help="The message's id (outbox message id)."),
    html: bool = typer.Option(False, "--html", help="Print the HTML part instead of the text."),
) -> None:
    """Render a stored message: subject, then its text (or HTML)."""
    from shopwise.journeys import Templates, render_stored, stored_message, trigger_store

    with open_runtime(start=False) as runtime:
        row = stored_message(runtime.engine, message_id)
        rendered = None
        if row is not None:
            templates = Templates.of_data_dir(runtime.settings.data_dir)
            store = trigger_store(runtime.engine)
            rendered = render_stored(row, store, templates, runtime.cipher)
        if rendered is None:
            fail(f"message_id: no message {message_id!r} fired by a trigger")
        subject = str(rendered["profile_id"])
        runtime.audit.record("cli", "message.previewed", subject, {"id": message_id})
    console.print(f"Subject: {rendered['subject']}", markup=False, highlight=False)
    console.print("", markup=False)
    console.print(rendered["html" if html else "text"], markup=False, highlight=False)
