"""``shopwise train recommenders`` says what the pipeline's own validation found."""

from __future__ import annotations

from typing import Any

from shopwise.cli.train import fit_lines


def _report(generator: str | None) -> dict[str, Any]:
    return {
        "scheme": "sessions",
        "blend": {
            "generator": generator,
            "head": 10,
            "length": 20,
            "skip_history": False,
            "queries": 500,
            "metrics": {
                "ranker": {"NDCG@10": 0.21, "HR@10": 0.4},
                "sknn": {"NDCG@10": 0.18, "HR@10": 0.38},
                "transition": {"NDCG@10": 0.12, "HR@10": 0.3},
                "final": {"NDCG@10": 0.22, "HR@10": 0.41},
            },
        },
    }


def test_the_ranker_list_is_compared_with_the_best_generator() -> None:
    first, second = fit_lines(_report(None))
    assert first == (
        "validation (500 held-out queries, sessions): NDCG@10 ranker 0.2100,"
        " best generator sknn 0.1800"
    )
    assert second == "serving the ranker's list (it beats every generator)"


def test_a_blend_names_its_generator_and_its_score() -> None:
    _first, second = fit_lines(_report("sknn"))
    assert second == "serving a blend: the ranker's first 10 items, then sknn's (NDCG@10 0.2200)"


def test_a_model_without_a_report_prints_nothing() -> None:
    assert fit_lines(None) == []
    assert fit_lines({"scheme": "users", "blend": None}) == []
