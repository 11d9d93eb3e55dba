"""Runs the JS SDK's unit tests (``tests/sdk/*.test.mjs``) with node's built-in test runner, so
the project's one test command covers them; skipped only where ``node`` is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent
TIMEOUT_SECONDS = 120


def test_the_sdk_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    files = sorted(str(path) for path in HERE.glob("*.test.mjs"))
    assert files, "no SDK test files found"
    result = subprocess.run(
        [node, "--test", *files],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
