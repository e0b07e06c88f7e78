"""Huge user counts: the affected-users estimate stays a finite PostgreSQL integer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.predictor import PredictorConfig, fit_error_predictor

MAX_AFFECTED_USERS = 2_147_483_647  # ErrorPrediction.affected_users_count: PostgreSQL integer

CONFIG = PredictorConfig(
    targets=("database",), horizons_minutes=(30,), min_training_buckets=288, n_estimators=60
)


def _history(users_in_a_burst: float, n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Database bursts, two of them in consecutive buckets, with `users_in_a_burst` users."""
    rng = np.random.default_rng(seed)
    database = rng.poisson(1.0, n).astype(float)
    database[rng.random(n) < 0.02] += 40
    database[[500, 501]] = 45  # one episode of two burst buckets: its users are summed
    users = np.where(database >= 40, users_in_a_burst, database)
    return pd.DataFrame(
        {
            "total_count": database + 2,
            "database_count": database,
            "error_count": database + 2,
            "user_error_count": users,
        },
        index=pd.date_range("2026-01-05", periods=n, freq="5min", tz="UTC"),
    )


@pytest.mark.parametrize("users", [1e308, 1e12])
def test_huge_user_counts_give_a_finite_estimate_within_integer_range(users):
    # given a history whose bursts hit absurdly many users: 1e308 + 1e308 is inf, and 1e12
    # times even a low probability is beyond PostgreSQL's integer
    frame = _history(users)
    # when fitted and asked for a prediction
    model = fit_error_predictor(frame, config=CONFIG)
    results = model.predict(frame, config=CONFIG)
    # then users per event is finite and the estimate fits PostgreSQL's integer
    assert all(np.isfinite(v) for v in model.users_per_event.values())
    for r in results:
        assert r.affected_users_estimate is not None
        assert 0 <= r.affected_users_estimate <= MAX_AFFECTED_USERS


def test_the_estimate_is_capped_and_an_infinite_users_per_event_is_unknown():
    # given a fitted model whose users per event is beyond integer range, or inf (old artifact)
    frame = _history(3.0)
    model = fit_error_predictor(frame, config=CONFIG)
    huge = dataclasses.replace(model, users_per_event={"database": 1e15, "incident": 1e15})
    broken = dataclasses.replace(
        model, users_per_event={"database": float("inf"), "incident": float("nan")}
    )
    # when predicting, then the estimate is capped, and unknown rather than a crash
    assert [r.affected_users_estimate for r in huge.predict(frame, config=CONFIG)] == [
        MAX_AFFECTED_USERS
    ] * len(model.models)
    assert {r.affected_users_estimate for r in broken.predict(frame, config=CONFIG)} == {None}
