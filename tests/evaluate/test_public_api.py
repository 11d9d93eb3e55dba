"""The curated public names of ``shopwise.evaluate``."""

from __future__ import annotations

import shopwise.evaluate as evaluate


def test_public_names_exist_and_hide_the_private_modules() -> None:
    assert sorted(evaluate.__all__) == sorted(set(evaluate.__all__))
    for name in evaluate.__all__:
        assert hasattr(evaluate, name), name
    assert {"run_next_item", "run_sessions", "run_temporal", "REGISTRY", "Evaluation"} <= set(
        evaluate.__all__
    )
    assert not any(name.startswith("_") for name in evaluate.__all__)
    # the customer-model evaluation lives in its own module and is not pulled in here
    assert "_customer" not in evaluate.__all__
