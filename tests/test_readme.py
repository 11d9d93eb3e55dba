"""README.md stays complete: every CLI command, every HTTP route and every setting is in it.

A new user learns the commands, routes and ``SHOPWISE_*`` variables from the README, so each list
is read from the code (the Typer app, the FastAPI app, :class:`Settings`) and looked up in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import typer.main

from shopwise.api import create_app
from shopwise.cli._main import app as cli_app
from shopwise.decide import REASON_CODES, public_reason
from shopwise.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"

UNLISTED_ROUTES = frozenset(
    {
        ("/openapi.json", "GET"),
        ("/docs", "GET"),
        ("/docs/assets", "GET"),
        ("/redoc", "GET"),
        ("/segment/v1/{path:path}", "OPTIONS"),
    }
)
"""The docs pages and their assets (the README names ``/docs`` once) and the CORS preflight of the
Segment-compatible routes, which the README mentions without a path."""

PATH_CHARS = r"[\w/{}:.-]"
"""Characters that may continue a route path, so ``/v1/batch`` is not found inside
``/segment/v1/batch`` nor ``/v1/profiles/{profile_id}`` inside its ``/events`` route."""


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """The space-joined path of every leaf command under ``group`` (Typer vendors its own click,
    so a group is recognised by its ``commands``, not by ``isinstance``)."""
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            yield from _command_paths(command, path)
        else:
            yield " ".join(path)


def app_routes(routes: Sequence[Any]) -> Iterator[Any]:
    """Every route of the app, looking inside the wrappers FastAPI puts around included routers."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from app_routes(original.routes)
        else:
            yield route


def _route_paths(tmp_path: Path) -> set[str]:
    """The path template of every listed route of a freshly built app (building starts nothing)."""
    app = create_app(Settings(data_dir=tmp_path, log_level="WARNING"))
    paths = set()
    for route in app_routes(app.routes):
        # a route without methods is a mount; the only one serves files (GET)
        methods = set(getattr(route, "methods", None) or {"GET"}) - {"HEAD"}
        if any((route.path, method) not in UNLISTED_ROUTES for method in methods):
            paths.add(route.path)
    return paths


def _mentions(text: str, literal: str, before: str, after: str) -> bool:
    """Whether ``literal`` occurs in ``text`` not preceded by ``before`` nor followed by ``after``
    (single-character classes)."""
    return re.search(f"(?<!{before}){re.escape(literal)}(?!{after})", text) is not None


def _configuration_variables(text: str) -> set[str]:
    """The ``SHOPWISE_*`` names in the first cell of the configuration table's rows."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `SHOPWISE_"):
            names.update(re.findall(r"SHOPWISE_[A-Z0-9_]+", line.split("|")[1]))
    return names


def test_every_cli_command_is_in_the_readme(readme: str) -> None:
    """Each command appears as ``shopwise <path>``, e.g. ``shopwise train propensity``."""
    paths = sorted(_command_paths(typer.main.get_command(cli_app)))
    assert "audiences export" in paths and "keys create" in paths
    missing = [path for path in paths if not _mentions(readme, f"shopwise {path}", r"\w", r"[\w-]")]
    assert missing == [], f"README.md lacks these commands: {missing}"


def test_every_route_is_in_the_readme(readme: str, tmp_path: Path) -> None:
    """Each route's path template appears literally, e.g. ``/v1/profiles/{profile_id}/scores``."""
    paths = _route_paths(tmp_path)
    assert "/v1/events" in paths and "/segment/v1/t" in paths and "/docs" not in paths
    missing = sorted(p for p in paths if not _mentions(readme, p, PATH_CHARS, PATH_CHARS))
    assert missing == [], f"README.md lacks these routes: {missing}"
    assert "`/docs`" in readme


def test_every_setting_is_in_the_readme(readme: str) -> None:
    """Each :class:`Settings` field appears as its environment variable."""
    names = [f"SHOPWISE_{field.upper()}" for field in Settings.model_fields]
    missing = [name for name in names if not _mentions(readme, name, r"\w", r"\w")]
    assert missing == [], f"README.md lacks these settings: {missing}"


def test_the_configuration_table_names_only_settings(readme: str) -> None:
    """No row of the README's configuration table names a variable that nothing reads."""
    documented = _configuration_variables(readme)
    known = {f"SHOPWISE_{field.upper()}" for field in Settings.model_fields}
    assert documented, "README.md has no configuration table rows"
    unknown = sorted(documented - known)
    assert unknown == [], f"README.md documents settings that do not exist: {unknown}"


def _reason_rows(text: str) -> dict[str, str]:
    """Each code of the README's reason-code table (``### Reason codes``) -> its public reason;
    a row may name several codes, each in backticks."""
    section = text.split("### Reason codes", 1)[1].split("\n#", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = line.split(" | ")
        if line.startswith("| `") and len(cells) == 3:
            for code in re.findall(r"`([^`]+)`", cells[0]):
                rows[code] = cells[2].strip(" |`")
    return rows


def test_the_reason_code_table_names_every_code_and_its_public_reason(readme: str) -> None:
    """Serving's reason codes are enumerated in :data:`shopwise.decide.REASON_CODES`; the README
    table lists exactly those, each with the public reason a write key sees."""
    rows = _reason_rows(readme)
    assert sorted(rows) == sorted(REASON_CODES)
    wrong = {code: public for code, public in rows.items() if public_reason(code) != public}
    assert wrong == {}, f"README.md gives these codes the wrong public reason: {wrong}"
