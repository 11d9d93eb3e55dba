"""Parameter help that lists values owned by a heavy module, read only when a command needs it.

A few help texts name values that live beside heavy dependencies: the evaluation harness's model
registry, the record readers' file formats. Importing those modules to build the help strings
would make every ``shopwise`` invocation, ``--help`` included, pay for the whole evaluation and
data stack. :func:`deferred_help` gives a command class that fills those texts in when click first
asks for the command's parameters (to parse them, complete them or print the command's help),
which is the moment the command's own heavy module is needed anyway. Listing the CLI or a group
never asks, so it never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from typer.core import TyperArgument, TyperCommand, TyperOption

if TYPE_CHECKING:
    from typer._click.core import Context, Parameter


def deferred_help(**helps: Callable[[], str]) -> type[TyperCommand]:
    """A command class whose parameters named in ``helps`` get their help text on first use.

    Parameters
    ----------
    **helps
        Parameter name (the function argument's name) to a function returning its help text.
        The parameter must be declared without ``help``; a declared help is left as it is.
    """

    class DeferredHelpCommand(TyperCommand):
        def get_params(self, ctx: Context) -> list[Parameter]:
            params = super().get_params(ctx)
            for param in params:
                text = helps.get(param.name or "")
                if text is None or not isinstance(param, TyperOption | TyperArgument):
                    continue
                if param.help is None:
                    param.help = text()
            return params

    return DeferredHelpCommand
