"""Contributing factors read as "what raises the risk first": the raising ones, largest first,
then the lowering ones, largest first. Ordered by size alone, a factor that lowers the risk came
second under an alert headline listing what raises it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ml_prediction.engines.predictor import ErrorPredictorModel
from ml_prediction.engines.types import TrainingReport

NAMES = ["a_rising", "b_falling", "c_rising", "d_falling", "e_rising", "f_small", "g_zero"]
# importance × standardised value (mean 0, std 1): the contribution of each feature
CONTRIBUTIONS = [0.5, -0.4, 0.3, -0.2, 0.1, 0.05, 0.0]


def _model() -> ErrorPredictorModel:
    return ErrorPredictorModel(
        algorithm="random_forest",
        feature_names=NAMES,
        models=[],
        thresholds={},
        bucket_minutes=5,
        report=TrainingReport("random_forest", 0, 0, {}),
        feature_mean={name: 0.0 for name in NAMES},
        feature_std={name: 1.0 for name in NAMES},
    )


def test_factors_that_raise_the_risk_come_before_those_that_lower_it():
    head = SimpleNamespace(estimator=SimpleNamespace(feature_importances_=np.ones(len(NAMES))))
    x = np.array([CONTRIBUTIONS], dtype=float)

    factors = _model()._factors(head, x)

    # the five largest in size, raising ones first (largest first), then lowering ones
    assert [f.feature for f in factors] == [
        "a_rising",
        "c_rising",
        "e_rising",
        "b_falling",
        "d_falling",
    ]
    assert [f.contribution for f in factors] == [0.5, 0.3, 0.1, -0.4, -0.2]
    assert all("raises" in f.description for f in factors[:3])
    assert all("lowers" in f.description for f in factors[3:])


def test_only_lowering_factors_keep_the_largest_first():
    head = SimpleNamespace(estimator=SimpleNamespace(feature_importances_=np.ones(3)))
    model = _model()
    model.feature_names = ["x", "y", "z"]
    x = np.array([[-0.1, -0.3, -0.2]])

    assert [f.feature for f in model._factors(head, x)] == ["y", "z", "x"]
