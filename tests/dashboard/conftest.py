"""One filled quick demo shop for the dashboard's HTTP tests (built once per module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.conftest import quick_demo
from tests.dashboard.helpers import FilledShop, fill


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilledShop]:
    with quick_demo(tmp_path_factory.mktemp("dashboard") / "var", "transition") as demo:
        yield fill(*demo)
