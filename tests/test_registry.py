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
    registry.promote(second)
    assert registry.champion() == second
    assert registry.load(second) == Popularity(overall=[("p2", 2.0)])
    assert registry.meta(second)["note"] == "b"
    with pytest.raises(FileNotFoundError):
        registry.promote("19700101T000000000Z")


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
