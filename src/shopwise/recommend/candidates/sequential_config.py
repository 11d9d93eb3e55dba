"""Settings of the sequential generator, importable without torch (the pipeline's config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SequentialConfig(BaseModel):
    """Settings of :class:`SequentialRecommender`."""

    model_config = ConfigDict(extra="forbid")

    dim: int = Field(default=64, ge=2)
    """Size of the item embeddings and of the GRU state."""
    layers: int = Field(default=1, ge=1)
    """Stacked GRU layers."""
    attention: bool = True
    """Join an attention-pooled summary of the whole prefix to the last state (NARM readout)."""
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    """Dropout on the input embeddings and on the readout during training."""
    max_length: int = Field(default=50, ge=1)
    """Most recent items of a sequence used for training and of a history used for scoring."""
    epochs: int = Field(default=3, ge=1)
    """Passes over the training sequences."""
    refit_epochs: int = Field(default=2, ge=0)
    """Passes of ``refit``, which continues from the fitted weights (the pipeline's second fit,
    on all the data); 0 makes ``refit`` train from scratch for ``epochs``."""
    batch_positions: int = Field(default=2048, ge=16)
    """Padded positions per training batch (sequences of similar length are batched)."""
    learning_rate: float = Field(default=0.01, gt=0.0)
    """Adam step size (decayed linearly to a tenth over the training)."""
    l2: float = Field(default=0.0, ge=0.0)
    """Adam weight decay."""
    negatives: int = Field(default=4096, ge=0)
    """Shared sampled negatives per batch; 0 uses the full softmax over every item."""
    sampling_alpha: float = Field(default=0.75, ge=0.0, le=1.0)
    """Negatives are drawn proportional to ``count ** sampling_alpha``."""
    score_batch: int = Field(default=512, ge=1)
    """Histories scored per forward pass."""
    seed: int = 0
    """Seed of the initialization, the batch order, dropout and the negative samples."""
