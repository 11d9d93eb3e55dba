"""The model registry: versions, the champion pointer, and artifacts saved before a move."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shopwise.recommend import Popularity
from shopwise.registry import ModelRegistry


def test_save_promote_and_load_round_trip(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, "recommenders")
    first = registry.save(Popularity(overall=[("p1", 1.0)]), {"note": "a"}, promote=True)
    second = registry.save(Popularity(overall=[("p2", 2.0)]), {"note": "b"}, promote=False)
    assert registry.champion() == first and registry.versions() == sorted([first, second])
    registry.promote(second, "test")
    assert registry.champion() == second
    assert registry.load(second) == Popularity(overall=[("p2", 2.0)])
    assert registry.meta(second)["note"] == "b"
    with pytest.raises(FileNotFoundError):
        registry.promote("19700101T000000000Z", "test")


def test_an_artifact_pickled_under_the_old_module_path_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: moving ``shopwise.models`` to ``shopwise.recommend`` and
    ``shopwise.customers`` must not orphan the champions a shop trained before the move."""
    old = types.ModuleType("shopwise.models.training")

    @dataclass
    class OldPopularity:  # the class as it was defined before the move
        overall: list[tuple[str, float]] = field(default_factory=list)
        by_category: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
        trending: list[tuple[str, float]] = field(default_factory=list)

    OldPopularity.__module__ = old.__name__
    OldPopularity.__qualname__ = OldPopularity.__name__ = "Popularity"
    old.Popularity = OldPopularity  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, old.__name__, old)
    registry = ModelRegistry(tmp_path, "recommenders")
    version = registry.save(OldPopularity(overall=[("p1", 3.0)]), {})
    monkeypatch.delitem(sys.modules, old.__name__)
    loaded = registry.load(version)
    assert type(loaded) is Popularity and loaded.overall == [("p1", 3.0)]


def test_rollback_restores_the_previous_champion_and_statuses_follow(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, "recommenders")
    first = registry.save(Popularity(overall=[("p1", 1.0)]), {}, promote=True)
    second = registry.save(Popularity(overall=[("p2", 1.0)]), {}, promote=True)
    refused = registry.save(Popularity(), {"gate": {"promoted": False}}, promote=False)
    assert registry.champion_record()["previous"] == [first]
    assert [registry.status(v) for v in (first, second, refused)] == [
        "previous",
        "champion",
        "challenger",
    ]
    assert registry.rollback("bad model") == first
    record = registry.champion_record()
    assert record["version"] == first and record["reason"] == "bad model"
    assert record["previous"] == [] and registry.status(second) == "retired"
    with pytest.raises(LookupError, match="no earlier recommenders champion"):
        registry.rollback()
    registry.promote(refused, "operator")
    assert registry.champion_record()["previous"] == [first]


def test_meta_records_size_and_updates_atomically(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, "clv")
    version = registry.save(Popularity(overall=[("p1", 1.0)] * 100), {"note": "a"})
    meta = registry.meta(version)
    assert meta["size_bytes"] == (tmp_path / "clv" / version / "artifact.pkl").stat().st_size
    updated = registry.update_meta(version, holdout={"NDCG@10": 0.5})
    assert registry.meta(version) == updated == {**meta, "holdout": {"NDCG@10": 0.5}}
    assert not list((tmp_path / "clv" / version).glob(".*"))  # no temporary file left


def test_prune_keeps_the_newest_and_every_champion_a_rollback_needs(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, "candidates", keep=2)
    old_champion = registry.save(Popularity(), {}, promote=True)
    champion = registry.save(Popularity(), {}, promote=True)
    later = [registry.save(Popularity(), {}, promote=False) for _ in range(4)]
    assert registry.versions() == sorted([old_champion, champion, *later[-2:]])
    assert registry.rollback() == old_champion
    with pytest.raises(ValueError, match="keep must be at least 1"):
        ModelRegistry(tmp_path, "x", keep=0)
