from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "shopwise.features",
        "shopwise.customers.clv",
        "shopwise.customers.propensity",
        "shopwise.customers.segments",
    ],
)
def test_public_names_resolve_and_are_unique(module: str) -> None:
    package = importlib.import_module(module)
    names = package.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(package, name) is not None
    assert not [name for name in names if name.startswith("_")]


def test_configs_round_trip() -> None:
    from shopwise.customers.clv import BetaGeoConfig, GammaGammaConfig, GbmClvConfig
    from shopwise.customers.propensity import PropensityConfig
    from shopwise.customers.segments import BidConfig, LookalikeConfig, SegmentConfig
    from shopwise.features import FeatureConfig

    configs = [
        FeatureConfig(recent_days=3),
        BetaGeoConfig(penalizer=0.01),
        GammaGammaConfig(initial=(2.0, 2.0, 2.0)),
        GbmClvConfig(objective="huber"),
        PropensityConfig(calibration="platt"),
        SegmentConfig(k_min=2, k_max=4),
        LookalikeConfig(neighbours=3),
        BidConfig(max_multiplier=3.0),
    ]
    for config in configs:
        assert type(config).model_validate(config.model_dump()) == config
    with pytest.raises(ValueError, match="extra"):
        FeatureConfig.model_validate({"recent_days": 3, "unknown": 1})
