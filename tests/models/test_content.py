"""Tests of the content-based generator (TF-IDF and packaged MiniLM embeddings)."""

from __future__ import annotations

import numpy as np
import pytest

from shopwise.models.candidates import InteractionData, ItemContent, Recommender, recommend
from shopwise.models.candidates.content import (
    ContentConfig,
    ContentRecommender,
    item_documents,
    minilm_path,
)

TEXTS = [
    "red leather running shoes",
    "blue running sneakers with foam sole",
    "dark chocolate cake",
    "milk chocolate cake with cream",
    "trail running shoes waterproof",
    "",
]
CATEGORIES = [["shoes"], ["shoes"], ["bakery"], ["bakery"], ["shoes"], []]
BRANDS = ["acme", "zoom", "sweet", "sweet", "acme", ""]


def _content() -> ItemContent:
    return ItemContent(texts=list(TEXTS), categories=[list(c) for c in CATEGORIES], brands=BRANDS)


def _data(content: ItemContent | None = None) -> InteractionData:
    # Item 4 (trail running shoes) is never bought: the cold-start item.
    sequences = [np.asarray(s, dtype=np.int64) for s in ([0, 1], [2, 3], [1, 0], [3, 2, 2])]
    return InteractionData(sequences, n_items=len(TEXTS), content=content or _content())


def test_documents_carry_text_categories_and_brand() -> None:
    documents = item_documents(_content())
    assert documents[0] == "red leather running shoes cat_shoes brand_acme"
    assert documents[5] == ""
    plain = item_documents(_content(), attribute_tokens=False)
    assert plain[2] == "dark chocolate cake bakery sweet"


def test_tfidf_recommends_the_never_bought_item_by_content() -> None:
    model = ContentRecommender(ContentConfig(encoder="tfidf"))
    model.fit(_data())
    assert isinstance(model, Recommender)
    items, _ = recommend(model, np.asarray([0]), n=2)
    assert set(items.tolist()) == {1, 4}
    similar, scores = model.similar_items(2, 1)
    assert similar.tolist() == [3]
    assert scores[0] > 0.1


def test_recent_history_items_weigh_more() -> None:
    model = ContentRecommender(ContentConfig(encoder="tfidf", recency_decay=0.3))
    model.fit(_data())
    scores = model.score([np.asarray([2, 0])])[0]
    assert scores[4] > scores[3]  # shoes, the newest item, win over cake
    scores = model.score([np.asarray([0, 2])])[0]
    assert scores[3] > scores[4]


def test_without_content_scores_fall_back_to_popularity_order() -> None:
    sequences = [np.asarray([0, 1, 1]), np.asarray([1, 2])]
    model = ContentRecommender()
    model.fit(InteractionData(sequences, n_items=3))
    items, _ = recommend(model, np.asarray([0]), n=2)
    assert items.tolist() == [1, 2]


def test_config_round_trips() -> None:
    config = ContentConfig(encoder="minilm", recency_decay=0.5)
    assert ContentConfig.model_validate(config.model_dump()) == config
    with pytest.raises(ValueError):
        ContentConfig.model_validate({"encoder": "word2vec"})


def test_minilm_is_packaged_offline() -> None:
    path = minilm_path()
    assert (path / "config.json").is_file()
    assert any(path.glob("*.safetensors"))


def test_minilm_embeddings_relate_synonyms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sneakers and shoes share few words but the pretrained embeddings see them as close."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    content = ItemContent(
        texts=["running sneakers", "jogging shoes", "chocolate cake", "birthday gateau", ""],
        categories=[[] for _ in range(5)],
        brands=[""] * 5,
    )
    sequences = [np.asarray([0, 2]), np.asarray([1, 3])]
    model = ContentRecommender(ContentConfig(encoder="minilm"))
    model.fit(InteractionData(sequences, n_items=5, content=content))
    assert model.similar_items(0, 1)[0].tolist() == [1]
    assert model.similar_items(2, 1)[0].tolist() == [3]
    scores = model.score([np.asarray([3])])[0]
    assert scores[2] > scores[0] > scores[4] - 1.0  # unknown item: zero similarity
    tfidf = ContentRecommender(ContentConfig(encoder="tfidf"))
    tfidf.fit(InteractionData(sequences, n_items=5, content=content))
    assert tfidf.score([np.asarray([0])])[0, 1] < 1e-3  # no shared word: TF-IDF is blind
