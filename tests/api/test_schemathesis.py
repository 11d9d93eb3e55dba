"""Schemathesis against the app's own OpenAPI schema: every operation, generated inputs.

Each operation is called with inputs generated from its schema, valid ones and invalid ones, with
an admin key (every scope), over a fresh migrated store. No answer may be a server error, and every
answer must match the schema (status and body, the error envelope included). The examples per
operation are bounded so that the whole run stays short on a small CI machine. (schemathesis's
pytest plugin, ``from_fixture(...).parametrize()``, reads a pytest attribute that pytest 9 no longer
has, so the operations are walked here.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import response_schema_conformance

from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.runtime import Runtime
from shopwise.settings import Settings

EXAMPLES = 40
"""Generated examples per operation (a bound on the run's length, not on what it may find)."""

EXCLUDED = {
    "POST /v1/audiences/export": "needs a trained CLV or propensity model; answers 503 without",
}
"""Operations left out, each with the reason."""


@pytest.fixture(scope="module")
def app_and_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str]]:
    settings_ = Settings(data_dir=Path(tmp_path_factory.mktemp("schemathesis")), log_level="ERROR")
    runtime = Runtime.build(settings_, migrate=True)
    app = create_app(settings_, runtime)
    yield app, runtime.keys.create(KeyKind.ADMIN)[1]
    # schemathesis started the app's lifespan on its first call: stop it (and the runtime)
    shutdown_lifespans()


def _cases(operation: schemathesis.APIOperation) -> st.SearchStrategy[schemathesis.Case]:
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )


def _check(operation: schemathesis.APIOperation, key: str) -> None:
    @given(case=_cases(operation))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same inputs on every run: CI fails for a change, not by chance
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {key}"},
            checks=[not_a_server_error, response_schema_conformance],
        )

    call()


@pytest.mark.slow
def test_no_operation_errors_or_breaks_its_schema(app_and_key: tuple[object, str]) -> None:
    app, key = app_and_key
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in EXCLUDED:
            continue
        checked += 1
        try:
            _check(operation, key)
        # every operation is run; all failures are reported together (schemathesis raises a group)
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = f"{type(exc).__name__}: {exc}"
    assert checked >= 40
    assert failures == {}, "\n\n".join(f"{label}\n{why}" for label, why in failures.items())
