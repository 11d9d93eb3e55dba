"""The ``shopwise evaluate`` CLI contract on tiny synthetic files (typer's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shopwise.cli.evaluate import app

CONTRACT = {
    "task",
    "dataset",
    "model",
    "params",
    "metrics",
    "fit_seconds",
    "predict_seconds",
    "peak_rss_mb",
}
METRICS = {
    "HR@5",
    "NDCG@5",
    "HR@10",
    "NDCG@10",
    "HR@20",
    "NDCG@20",
    "MRR@20",
    "coverage@10",
    "novelty@10",
    "popularity_bias@10",
    "ILD@10",
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _write_sequences(path: Path, rng: np.random.Generator) -> None:
    lines = []
    for user in range(1, 81):
        items = rng.choice(np.arange(1, 31), size=int(rng.integers(4, 9)), replace=False)
        lines.append(" ".join(map(str, [user, *items.tolist()])))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _check(payload: dict[str, object], task: str, count_key: str) -> None:
    assert set(payload) >= CONTRACT
    assert count_key in payload
    assert payload["task"] == task
    metrics = payload["metrics"]
    assert isinstance(metrics, dict)
    assert set(metrics) >= METRICS
    assert all(0.0 <= value <= 1.0 for value in metrics.values())


def test_next_item_writes_the_json_contract(
    runner: CliRunner, tmp_path: Path, rng: np.random.Generator
) -> None:
    sequences = tmp_path / "toy" / "sequences.txt"
    sequences.parent.mkdir()
    _write_sequences(sequences, rng)
    attributes = tmp_path / "toy" / "item_attributes.json"
    attributes.write_text(json.dumps({str(i): [i % 3] for i in range(1, 31)}), encoding="utf-8")
    out = tmp_path / "result.json"
    result = runner.invoke(
        app,
        [
            "next-item",
            "--sequences",
            str(sequences),
            "--attributes",
            str(attributes),
            "--model",
            "itemknn",
            "--json",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text(encoding="utf-8"))
    _check(payload, "next-item", "users")
    assert payload["dataset"] == "toy"
    assert payload["model"] == "itemknn"
    assert payload["users"] == 80


def test_sessions_and_fixed_params(
    runner: CliRunner, tmp_path: Path, rng: np.random.Generator
) -> None:
    train = tmp_path / "train_sessions.txt"
    train.write_text(
        "\n".join(" ".join(map(str, rng.integers(1, 21, size=4))) for _ in range(50)) + "\n",
        encoding="utf-8",
    )
    test = tmp_path / "test_prefixes.tsv"
    test.write_text("3\t1 2\n5\t4\n7\t6 6 2\n", encoding="utf-8")
    out = tmp_path / "sessions.json"
    result = runner.invoke(
        app,
        [
            "sessions",
            "--train",
            str(train),
            "--test",
            str(test),
            "--model",
            "sknn",
            "--params",
            '{"neighbors": 5}',
            "--json",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text(encoding="utf-8"))
    _check(payload, "sessions", "examples")
    assert payload["examples"] == 3
    assert payload["params"] == {"neighbors": 5}


def test_temporal_on_a_generic_event_file(
    runner: CliRunner, tmp_path: Path, rng: np.random.Generator
) -> None:
    start = pd.Timestamp("2024-01-01")
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(0, 30, size=600).astype(str),
            "product_id": [f"sku{i}" for i in rng.integers(0, 40, size=600)],
            "timestamp": [start + pd.Timedelta(hours=int(h)) for h in rng.integers(0, 2400, 600)],
        }
    )
    events = tmp_path / "events.csv"
    frame.to_csv(events, index=False)
    out = tmp_path / "temporal.json"
    result = runner.invoke(
        app,
        ["temporal", "--events", str(events), "--cutoff", "2024-03-15", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text(encoding="utf-8"))
    _check(payload, "temporal", "users")
    assert payload["cutoff"] == "2024-03-15"
    assert set(payload["cold_start"]) == {"metrics", "users"}
    assert set(payload["cold_start_new_items"]) == {"metrics", "users"}
    assert payload["cold_start_new_items"]["users"] == payload["cold_start"]["users"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["next-item", "--sequences", "missing.txt"], "sequences file not found"),
        (["next-item", "--sequences", "{bad}"], "expected integer item ids"),
        (["next-item", "--sequences", "{good}", "--model", "nope"], "unknown model"),
        (["next-item", "--sequences", "{good}", "--params", "[1]"], "JSON object"),
        (["next-item", "--sequences", "{good}", "--params", '{"x": 1}'], "Extra inputs"),
        (["temporal", "--events", "{good}", "--cutoff", "soon"], "bad cutoff"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    runner: CliRunner, tmp_path: Path, rng: np.random.Generator, args: list[str], message: str
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 x 4\n", encoding="utf-8")
    good = tmp_path / "good.txt"
    _write_sequences(good, rng)
    argv = [a.replace("{bad}", str(bad)).replace("{good}", str(good)) for a in args]
    result = runner.invoke(app, [*argv, "--quiet"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert message in lines[0]
