"""The customer-model families in the model registry: saved versions, champions and their age."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import pandas as pd

from shopwise.registry import ModelRegistry

FAMILIES: Final = ("propensity", "clv", "segments")
"""Model-registry families of the customer models."""


class CustomerModels:
    """One :class:`ModelRegistry` per customer-model family under ``models_dir``."""

    def __init__(self, models_dir: Path) -> None:
        self.registries = {family: ModelRegistry(models_dir, family) for family in FAMILIES}

    def save(self, family: str, artifact: object, stats: dict[str, Any]) -> dict[str, Any]:
        """Save a trained artifact as a new version and make it the family's champion."""
        version = self.registries[family].save(artifact, stats, promote=True)
        return {**stats, "version": version}

    def champion(self, family: str) -> tuple[str, Any] | None:
        """``(version, artifact)`` of the family's champion, or ``None`` before any training."""
        registry = self.registries[family]
        version = registry.champion()
        return None if version is None else (version, registry.load(version))

    def needs_training(self, max_age_seconds: float) -> bool:
        """Whether a family has no champion or a champion older than ``max_age_seconds``."""
        for registry in self.registries.values():
            version = registry.champion()
            if version is None:
                return True
            saved = pd.Timestamp(registry.meta(version)["saved_at"])
            if (pd.Timestamp.now(tz="UTC") - saved).total_seconds() > max_age_seconds:
                return True
        return False
