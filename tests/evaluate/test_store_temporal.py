"""``shopwise evaluate temporal --store``: the event store under the temporal protocol."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from shopwise.cli import app
from shopwise.runtime import Runtime
from shopwise.settings import Settings


def _view(i: int, shopper: str, product: str, consent: bool = True) -> dict[str, object]:
    when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i)
    return {
        "message_id": f"m{i}-{shopper}",
        "type": "product_viewed",
        "anonymous_id": shopper,
        "timestamp": when.isoformat(),
        "properties": {"product_id": product},
        "context": {"consent": {"purposes": {"personalization": consent}}},
    }


def test_temporal_on_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "var"
    runtime = Runtime.build(Settings(data_dir=data_dir), migrate=True)
    runtime.catalog.upsert([{"id": f"p{i}", "title": f"item {i}", "price": 1.0} for i in range(6)])
    runtime.start()
    events = [_view(step, f"s{s}", f"p{(s + step) % 6}") for s in range(12) for step in range(8)]
    events += [_view(step, "refuser", "p5", consent=False) for step in range(8)]
    assert runtime.collector.ingest(events).accepted == len(events)
    runtime.stop()
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(data_dir))
    out = tmp_path / "result.json"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "temporal",
            "--store",
            "--model",
            "popular",
            "--json",
            str(out),
            "--quiet",
            "--cutoff",
            "2026-01-06",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = orjson.loads(out.read_bytes())
    assert (payload["task"], payload["dataset"], payload["model"]) == (
        "temporal",
        "store",
        "popular",
    )
    assert 0 <= payload["metrics"]["HR@10"] <= 1
    assert payload["users"] == 12  # the shopper who refused personalization is left out
