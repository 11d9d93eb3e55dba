"""Tests of the content-based generator (TF-IDF and packaged MiniLM embeddings)."""

from __future__ import annotations

import numpy as np
import pytest

from shopwise.recommend.candidates import InteractionData, ItemContent, Recommender, recommend
from shopwise.recommend.candidates.content import (
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


def test_co_purchase_pairs_are_distinct_nearby_items_with_text() -> None:
    from shopwise.recommend.candidates.content import FineTuneConfig, co_purchase_pairs

    documents = ["a", "b", "c", "", "a"]
    data = InteractionData([np.asarray([0, 1, 2, 0]), np.asarray([3, 1, 4, 0])], n_items=5)
    pairs = co_purchase_pairs(data, documents, FineTuneConfig(window=1))
    # (2, 0) is (0, 2); item 3 has no text; items 4 and 0 share the text "a"
    assert pairs.tolist() == [[0, 1], [0, 2], [1, 2], [1, 4]]
    wider = co_purchase_pairs(data, documents, FineTuneConfig(window=2))
    assert wider.tolist() == [[0, 1], [0, 2], [1, 2], [1, 4]]
    sampled = co_purchase_pairs(data, documents, FineTuneConfig(window=1, max_pairs=2))
    assert len(sampled) == 2 and {tuple(p) for p in sampled.tolist()} <= {
        (0, 1),
        (0, 2),
        (1, 2),
        (1, 4),
    }


def test_fine_tuning_is_for_minilm_only() -> None:
    with pytest.raises(ValueError, match="minilm"):
        ContentConfig.model_validate({"encoder": "tfidf", "fine_tune": {}})


PAIRED = ["running sneakers", "chocolate cake", "garden hose", "silk scarf", "coffee beans"]
PAIRED += ["desk lamp", "wool blanket", ""]


def _paired_data() -> InteractionData:
    """Shoppers buy unrelated-sounding pairs (0, 1), (2, 3), (4, 5); item 6 is never bought."""
    content = ItemContent(
        texts=list(PAIRED), categories=[[] for _ in PAIRED], brands=[""] * len(PAIRED)
    )
    sequences = [np.asarray([2 * k, 2 * k + 1]) for k in range(3) for _ in range(4)]
    return InteractionData(sequences, n_items=len(PAIRED), content=content)


def _pair_similarity(model: ContentRecommender) -> float:
    assert model.state is not None
    vectors = np.asarray(model.state.vectors)
    return float(np.mean([vectors[2 * k] @ vectors[2 * k + 1] for k in range(3)]))


@pytest.mark.parametrize("mode", ["head", "full"])
def test_fine_tuning_pulls_co_purchased_items_together(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shopwise.recommend.candidates.content import FineTuneConfig

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pretrained = ContentRecommender(ContentConfig(encoder="minilm"))
    pretrained.fit(_paired_data())
    if mode == "head":
        tune = FineTuneConfig(mode="head", epochs=60, batch_size=3, learning_rate=1e-2)
    else:
        tune = FineTuneConfig(mode="full", steps=6, batch_size=3, learning_rate=1e-4)
    tuned = ContentRecommender(ContentConfig(encoder="minilm", fine_tune=tune))
    tuned.fit(_paired_data())
    assert _pair_similarity(tuned) > _pair_similarity(pretrained) + 0.05
    assert tuned.state is not None
    vectors = np.asarray(tuned.state.vectors)
    np.testing.assert_allclose(np.linalg.norm(vectors[:7], axis=1), 1.0, atol=1e-5)
    assert not vectors[7].any()  # no text, no vector: fine-tuning does not invent one
    # the never-bought item moves too: the adaptation reaches what cold start serves
    assert pretrained.state is not None
    assert not np.allclose(np.asarray(pretrained.state.vectors)[6], vectors[6], atol=1e-4)
