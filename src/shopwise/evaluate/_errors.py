"""Errors raised by the evaluation harness for input it cannot use.

``EvaluationInputError`` (a ``ValueError``) marks a bad data file, an unknown model name or a
split that leaves nothing to evaluate; the CLI turns it into exit status 2 and one line.
"""

from __future__ import annotations


class EvaluationInputError(ValueError):
    """The input files or options cannot be evaluated (message says why, for one line)."""
