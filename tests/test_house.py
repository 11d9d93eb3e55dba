"""House rules that hold across the whole source tree (see ``../shared/STYLE.md``)."""

from __future__ import annotations

import ast
import importlib
import io
import pkgutil
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

import shopwise

SOURCE = Path(shopwise.__file__).parent

MEASURED = re.compile(
    r"\d[\d,.]*(?:\s*-\s*\d[\d,.]*)?\s*(?:us|µs|ms|ns)\b"  # a timing
    r"|(?:about|~)\s?\d[\d,.]*\s*(?:kB|MB|GB|%)"  # an estimated size or share
    r"|\d[\d,.]*\s+against\s+~?\.?\d"  # one figure against another
    r"|~\s?\d"  # an approximate figure
    r"|\b(?:HR|NDCG|MRR|P|Recall|AUC|MAP)@\d+\s+(?:of\s+|by\s+)?\.?\d"  # a metric's value
    r"|\b\d+(?:\.\d+)?x\s+(?:faster|slower|cheaper|less|more)\b"  # a speed-up
    r"|\b(?:a|one|two)\s(?:half|third|fifth|sixth|quarter|tenth)s?\s"
    r"(?:less|more|of\s(?:the|a|its)\s[\w']+(?:\s[\w']+)?\s(?:CPU|time|cost))"  # a share in words
    r"|\btens\sof\s(?:milli|micro)seconds\b"
    r"|\bhalf\sthe\scost\b",
    re.IGNORECASE,
)
"""A measured figure in prose. Measurements drift with the machine, so they live in committed
benchmark results and ``docs/``, and code points there; the reason for a choice stays."""


def _prose(path: Path) -> Iterator[tuple[int, str]]:
    """Comments and docstrings (every bare string statement) of one module, by line."""
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            value = node.value.value
            if isinstance(value, str):
                yield node.lineno, " ".join(value.split())


def test_no_measured_figures_in_code_comments_or_docstrings() -> None:
    found = [
        f"{path.relative_to(SOURCE)}:{line}: {match.group(0)!r}"
        for path in sorted(SOURCE.rglob("*.py"))
        for line, text in _prose(path)
        for match in MEASURED.finditer(text)
    ]
    assert found == [], "measured figures belong in benchmark results or docs/:\n" + "\n".join(
        found
    )


@pytest.mark.parametrize(
    "text",
    [
        "costs 47-55 us this way against 122-134",
        "(HR@10 .028 against .019 on a sample)",
        "checking a query (~2 us in process)",
        "the writer thread spends a fifth less CPU a row",
        "tens of milliseconds a pass",
        "about 1 kB an answer",
        "it lifted P@20 by 1.4 points",
    ],
)
def test_the_pattern_catches_the_figures_it_was_written_for(text: str) -> None:
    assert MEASURED.search(text)


@pytest.mark.parametrize(
    "text",
    [
        "Limits are Segment's: 32 KB a call, 500 KB a batch.",
        "the top 10% by predicted CLV",
        "epoch milliseconds; a tenth of the interval",
    ],
)
def test_the_pattern_leaves_specifications_alone(text: str) -> None:
    assert not MEASURED.search(text)


def _packages() -> list[str]:
    return sorted(
        f"shopwise.{info.name}"
        for info in pkgutil.iter_modules([str(SOURCE)])
        if info.ispkg and not info.name.startswith("_")
    )


@pytest.mark.parametrize("name", _packages())
def test_every_package_has_a_public_face(name: str) -> None:
    """Each stage package names what it offers in ``__all__``, and offers it."""
    package = importlib.import_module(name)
    public = getattr(package, "__all__", None)
    assert public, f"{name} has no __all__"
    assert all(hasattr(package, item) for item in public)
    assert not any(item.startswith("_") for item in public)
