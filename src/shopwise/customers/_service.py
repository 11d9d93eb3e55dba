"""The customer-model services over one store, as the runtime builds them.

:class:`CustomerIntelligence` holds the parts, each with one responsibility: the consented frames
of the store (``analytics`` purpose), the model champions, the trainer, the score store and the
audience export. :meth:`~CustomerIntelligence.retrain` is the one flow that spans them: train
families on one read of the store, then refresh every stored score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from shopwise.customers._artifacts import CustomerModelsConfig
from shopwise.customers._audience_export import AudienceExport
from shopwise.customers._champions import FAMILIES, CustomerModels
from shopwise.customers._scores import ScoreStore
from shopwise.customers._training import CustomerTrainer
from shopwise.features import ItemInfo, StoreFrames, store_frames
from shopwise.logs import Progress, quiet
from shopwise.privacy import ConsentPolicy, PiiCipher
from shopwise.profiles import Profiles
from shopwise.schema import Purpose


@dataclass(frozen=True)
class CustomerIntelligence:
    """Propensity, lifetime value and segments over one store (see module docstring)."""

    frames: Callable[[], StoreFrames]
    """The consented (``analytics``) events and orders frames of the store, read afresh."""
    models: CustomerModels
    trainer: CustomerTrainer
    scores: ScoreStore
    audiences: AudienceExport

    @classmethod
    def build(
        cls,
        engine: sa.Engine,
        profiles: Profiles,
        models_dir: Path,
        *,
        policy: ConsentPolicy,
        cipher: PiiCipher,
        item_info: ItemInfo | None = None,
        config: CustomerModelsConfig | None = None,
    ) -> CustomerIntelligence:
        """The services over ``engine``; cheap (handles only), nothing is read until used."""
        cfg = config or CustomerModelsConfig()
        models = CustomerModels(models_dir)

        def frames() -> StoreFrames:
            return store_frames(engine, policy, Purpose.ANALYTICS, item_info=item_info)

        return cls(
            frames=frames,
            models=models,
            trainer=CustomerTrainer(models, cfg),
            scores=ScoreStore(engine, profiles, models, policy),
            audiences=AudienceExport(engine, models, cfg, policy, cipher),
        )

    def retrain(
        self, families: Sequence[str] = FAMILIES, progress: Progress = quiet
    ) -> dict[str, Any]:
        """Train ``families`` on one read of the store, then refresh every stored score.

        With one family, too little data raises :class:`~shopwise.errors.NotEnoughData`; with
        several, a family without enough data is skipped and the others still train.
        """
        data = self.frames()
        if len(families) == 1:
            result = self.trainer.train(families[0], data, progress)
        else:
            result = self.trainer.train_all(data, progress, families)
        result["refresh"] = self.scores.refresh(data, progress)
        return result
