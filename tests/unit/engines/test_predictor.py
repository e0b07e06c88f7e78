"""Error predictor: labels from history, calibration, explanations, artifacts, bad data."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from ml_prediction.engines.catalog import INCIDENT
from ml_prediction.engines.features import (
    build_features,
    normalize_bucket_frame,
    scale_free_columns,
)
from ml_prediction.engines.predictor import (
    BURST_TARGETS,
    PERSISTENCE_PRIOR,
    ErrorPredictorModel,
    PredictorConfig,
    _fleet_rows,
    _thin_negatives,
    burst_events,
    burst_runs,
    burst_thresholds,
    fit_error_predictor,
    fit_persistence,
    future_labels,
    held_probabilities,
)
from ml_prediction.engines.simulator import SimulationConfig, simulate
from ml_prediction.engines.types import InsufficientData

FAST = dict(horizons_minutes=(30,), min_training_buckets=288, n_estimators=60)


def constructed_frame(n: int = 10000, seed: int = 0) -> pd.DataFrame:
    """A warning signal (rising pool usage) precedes a database burst with a known 60% chance."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-05", periods=n, freq="5min", tz="UTC")
    database = rng.poisson(1.0, n).astype(float)
    pool = 30 + rng.normal(0, 2, n)
    for t in range(20, n - 10, 1):
        if rng.random() < 0.03 and pool[t - 5 : t].max() < 60:
            pool[t : t + 3] = 90
            if rng.random() < 0.6:
                database[t + 3] += 40
    frame = pd.DataFrame(
        {
            "total_count": database + 2,
            "database_count": database,
            "error_count": database + 2,
            "metric_db_pool_in_use": pool,
            "user_error_count": database,
        },
        index=index,
    )
    return frame


def test_future_labels_look_ahead_only_within_the_horizon():
    events = pd.Series([0, 0, 1, 0, 0, 0, 0], dtype=bool)
    labels = future_labels(events, 2)
    assert labels.iloc[0] == 1 and labels.iloc[1] == 1
    assert labels.iloc[2] == 0 and labels.iloc[3] == 0
    assert np.isnan(labels.iloc[-1])


@pytest.mark.parametrize("scheme", ["holdout", "forward"])
def test_probabilities_are_calibrated_on_a_constructed_case(scheme):
    # given a frame where a signal precedes a burst 60% of the time
    frame = constructed_frame()
    config = PredictorConfig(targets=("database",), calibration_scheme=scheme, **FAST)
    # when fitted on the older part and applied to a fresh, later sample
    model = fit_error_predictor(frame.iloc[:7000], config=config)
    probs = model.predict_proba_frame(frame)["database@30"].iloc[7100:-10]
    labels = future_labels(frame["database_count"] >= model.thresholds["database"], 6).iloc[
        7100:-10
    ]
    # then on average the probabilities match the observed frequency (calibration in the large),
    # and they score better than always predicting the base rate (Brier)
    assert abs(probs.mean() - labels.mean()) < 0.03
    brier = ((probs - labels) ** 2).mean()
    assert brier < ((labels.mean() - labels) ** 2).mean() * 0.9
    # and no confidence bin is off by more than a quarter
    bins = pd.cut(probs, [0, 0.2, 1.0], include_lowest=True)
    table = pd.DataFrame({"p": probs, "y": labels}).groupby(bins, observed=True).mean()
    assert (table["p"] - table["y"]).abs().max() < 0.25
    # and warning rows are far likelier than quiet ones
    signal = frame["metric_db_pool_in_use"].iloc[7100:-10] > 80
    assert probs[signal].mean() > 5 * probs[~signal].mean()


@pytest.fixture(scope="module")
def sim_frame():
    config = SimulationConfig(
        days=10,
        services=("django",),
        seed=4,
        start=datetime(2026, 1, 5, tzinfo=UTC),
        incidents_per_week=8,
    )
    sim = simulate(config)
    return sim.bucket_frames()["django"]


@pytest.mark.parametrize("algorithm", ["xgboost", "random_forest"])
def test_predict_returns_typed_results_with_factors(sim_frame, algorithm, tmp_path):
    config = PredictorConfig(**FAST)
    model = fit_error_predictor(
        sim_frame,
        config=config,
        algorithm=algorithm,
        error_type_names={"database": "OperationalError"},
    )
    results = model.predict(sim_frame.iloc[-288:], config=config)
    assert {r.time_horizon_minutes for r in results} == {30}
    assert {r.target for r in results} == {m.target for m in model.models}
    for r in results:
        assert 0.0 <= r.probability <= 1.0
        assert r.confidence_level in ("low", "medium", "high")
        assert r.predicted_severity in ("low", "medium", "high", "critical")
        assert r.predicted_timestamp > r.timestamp
        assert r.model_algorithm == algorithm
    assert model.report.metrics["precision"] >= 0.0 and model.report.feature_importances
    # and a saved model predicts the same after loading
    model.save(tmp_path)
    loaded = ErrorPredictorModel.load(tmp_path)
    assert [r.probability for r in loaded.predict(sim_frame.iloc[-288:], config=config)] == [
        r.probability for r in results
    ]


def test_the_incident_event_is_a_burst_of_any_type():
    frame = pd.DataFrame(
        {"database_count": [0, 12, 0, 0], "timeout_count": [0, 0, 15, 0]},
        index=pd.date_range("2026-01-05", periods=4, freq="5min", tz="UTC"),
    )
    events = burst_events(frame, {"database": 10.0, "timeout": 10.0})
    assert events["incident"].tolist() == [False, True, True, False]
    # asked for alone, the incident target still gets every type's threshold
    sim = simulate(SimulationConfig(days=3, services=("java",), seed=1)).bucket_frames()["java"]
    thresholds = burst_thresholds(sim, PredictorConfig(targets=("incident",), **FAST))
    assert set(thresholds) == set(BURST_TARGETS)


def _two_kinds_frame(n: int = 9000, seed: int = 0) -> pd.DataFrame:
    """One warning signal; what follows is a database burst or a timeout burst, each rare."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-05", periods=n, freq="5min", tz="UTC")
    database = rng.poisson(1.0, n).astype(float)
    timeout = rng.poisson(1.0, n).astype(float)
    pool = 30 + rng.normal(0, 2, n)
    for t in range(20, n - 10):
        if rng.random() < 0.012 and pool[t - 5 : t].max() < 60:
            pool[t : t + 3] = 90
            if rng.random() < 0.7:
                (database if rng.random() < 0.5 else timeout)[t + 3] += 40
    return pd.DataFrame(
        {
            "total_count": database + timeout,
            "database_count": database,
            "timeout_count": timeout,
            "metric_db_pool_in_use": pool,
        },
        index=index,
    )


def test_the_incident_model_learns_from_every_type_and_caps_each_of_them():
    # given a history where a warning is followed by a burst of one of two kinds
    frame = _two_kinds_frame()
    config = PredictorConfig(targets=("database", "timeout", "incident"), **FAST)
    model = fit_error_predictor(frame.iloc[:7000], config=config)
    assert {m.target for m in model.models} == {"database", "timeout", "incident"}
    probs = model.predict_proba_frame(frame).iloc[7100:-10]
    # then no type is ever likelier than an incident of any type
    assert (probs["database@30"] <= probs["incident@30"] + 1e-12).all()
    assert (probs["timeout@30"] <= probs["incident@30"] + 1e-12).all()
    # and the incident risk after a warning matches how often a burst of either kind followed
    events = burst_events(normalize_bucket_frame(frame, bucket_minutes=5), model.thresholds)
    labels = future_labels(events["incident"], 6).iloc[7100:-10]
    warned = frame["metric_db_pool_in_use"].iloc[7100:-10] > 80
    assert probs["incident@30"][warned].mean() > 5 * probs["incident@30"][~warned].mean()
    assert abs(probs["incident@30"].mean() - labels.mean()) < 0.03
    # and `predict` reports the same coherent probabilities, the incident as an error burst
    results = model.predict(
        frame.iloc[: 7100 + int(np.argmax(warned.to_numpy())) + 1], config=config
    )
    by_target = {r.target: r for r in results}
    assert by_target["incident"].predicted_error_type == "ErrorBurst"
    assert by_target["incident"].probability >= max(
        by_target["database"].probability, by_target["timeout"].probability
    )


def test_contributing_factors_explain_a_high_risk_bucket():
    frame = constructed_frame()
    config = PredictorConfig(targets=("database",), **FAST)
    model = fit_error_predictor(frame.iloc[:7000], config=config)
    probs = model.predict_proba_frame(frame)["database@30"].iloc[7100:]
    riskiest = frame.index.get_loc(probs.idxmax())
    result = model.predict(frame.iloc[: riskiest + 1], config=config)[0]
    assert result.probability >= config.low_probability
    assert frame["metric_db_pool_in_use"].iloc[riskiest] > 80
    assert any("db_pool" in f.feature for f in result.contributing_factors)
    assert result.affected_users_estimate is not None and result.affected_users_estimate > 0


def test_feedback_overrides_labels(sim_frame):
    # given a model and human verdicts saying many buckets were followed by the target
    config = PredictorConfig(**FAST)
    base = fit_error_predictor(sim_frame, config=config)
    target = base.models[0].target
    ts = sim_frame.index[100:2000:3]
    feedback = pd.DataFrame({"timestamp": ts, "verdict": "true_positive", "target": target})
    # when retrained with the feedback
    fed = fit_error_predictor(
        sim_frame, config=dataclasses.replace(config, targets=(target,)), feedback=feedback
    )
    # then the verdicts became labels
    assert fed.models[0].base_rate > base.models[0].base_rate


@pytest.mark.parametrize(
    "frame, message",
    [
        (
            pd.DataFrame(
                {"total_count": [0] * 400},
                index=pd.date_range("2026-01-05", periods=400, freq="5min", tz="UTC"),
            ),
            "no errors",
        ),
        (
            pd.DataFrame(
                {"total_count": [3] * 50},
                index=pd.date_range("2026-01-05", periods=50, freq="5min", tz="UTC"),
            ),
            "buckets of history",
        ),
        (
            pd.DataFrame(
                {"total_count": [3] * 400, "database_count": [1] * 400},
                index=pd.date_range("2026-01-05", periods=400, freq="5min", tz="UTC"),
            ),
            "no prediction target",
        ),
    ],
)
def test_bad_data_raises_insufficient_data(frame, message):
    with pytest.raises(InsufficientData, match=message):
        fit_error_predictor(frame, config=PredictorConfig(**FAST))


def test_unknown_algorithm_is_refused(sim_frame):
    with pytest.raises(ValueError, match="algorithm"):
        fit_error_predictor(sim_frame, config=PredictorConfig(**FAST), algorithm="svm")


def test_predict_on_gappy_nan_window_without_metrics_gives_finite_probabilities(sim_frame):
    # given a trained model and a scoring window with NaN counts, a gap and no metric columns
    config = PredictorConfig(**FAST)
    model = fit_error_predictor(sim_frame, config=config)
    window = sim_frame.iloc[-288:].drop(columns=[c for c in sim_frame if c.startswith("metric_")])
    window = window.drop(window.index[100:130]).astype(float)
    window.iloc[5, 0] = np.nan
    # when predicting
    results = model.predict(window, config=config)
    # then every probability is a number in range
    assert results and all(0.0 <= r.probability <= 1.0 for r in results)


def test_predict_on_empty_window_raises_insufficient_data(sim_frame):
    config = PredictorConfig(**FAST)
    model = fit_error_predictor(sim_frame, config=config)
    with pytest.raises(InsufficientData):
        model.predict(sim_frame.iloc[:0], config=config)


def test_held_probabilities_is_the_trailing_minimum():
    index = pd.date_range("2026-01-05", periods=5, freq="5min", tz="UTC")
    probs = pd.DataFrame({"timeout@30": [0.9, 0.2, 0.8, 0.7, 0.95]}, index=index)
    # one bucket: unchanged; two: the risk must hold in both, and the first bucket cannot tell
    assert held_probabilities(probs, 1) is probs
    held = held_probabilities(probs, 2)["timeout@30"].tolist()
    assert held == pytest.approx([0.0, 0.2, 0.2, 0.7, 0.7])


def test_predict_reports_the_held_probability_with_alert_min_buckets(sim_frame):
    config = PredictorConfig(**FAST)
    model = fit_error_predictor(sim_frame, config=config)
    window = sim_frame.iloc[-288:]
    frame_probs = model.predict_proba_frame(window)
    debounced = dataclasses.replace(config, alert_min_buckets=2)
    for result in model.predict(window, config=debounced):
        column = frame_probs[f"{result.target}@{result.time_horizon_minutes}"]
        assert result.probability == pytest.approx(column.iloc[-2:].min(), abs=1e-4)
    # and one bucket (the default) is the latest bucket's own probability
    for result in model.predict(window, config=config):
        column = frame_probs[f"{result.target}@{result.time_horizon_minutes}"]
        assert result.probability == pytest.approx(column.iloc[-1], abs=1e-4)


def test_alert_min_buckets_comes_from_settings_and_is_validated():
    assert PredictorConfig.from_settings({}).alert_min_buckets == 1
    config = PredictorConfig.from_settings({"PREDICTION_ALERT_MIN_BUCKETS": 3})
    assert config.alert_min_buckets == 3
    with pytest.raises(ValueError, match="alert_min_buckets"):
        PredictorConfig(alert_min_buckets=0)


def test_risk_never_falls_as_a_departure_from_baseline_grows(sim_frame):
    # given a fitted XGBoost model and its riskiest bucket
    config = PredictorConfig(**FAST)
    model = fit_error_predictor(sim_frame, config=config)
    x = model._matrix(build_features(sim_frame))
    columns = [i for i, f in enumerate(model.feature_names) if f.endswith("_vs_base")]
    assert columns
    rose = False
    # when every level against its baseline is raised, other features unchanged
    raised = x.copy()
    raised[:, columns] *= 1.5
    for base, after in zip(model._model_scores(x), model._model_scores(raised), strict=True):
        # then no bucket's raw score falls (the constraint), and some rise
        assert np.all(after >= base - 1e-6)
        rose = rose or bool(np.any(after > base + 1e-3))
    assert rose


def _quiet_copy(frame: pd.DataFrame) -> pd.DataFrame:
    """The same warning signals, but no burst ever follows them: nothing to learn alone."""
    quiet = frame.copy()
    quiet["database_count"] = np.minimum(quiet["database_count"], 4.0)
    quiet["total_count"] = quiet["database_count"] + 2
    quiet["error_count"] = quiet["total_count"]
    return quiet


@pytest.mark.parametrize("scheme", ["holdout", "forward"])
def test_fleet_histories_teach_a_service_too_quiet_to_learn_alone(scheme):
    # given a service whose own history has no burst at all, and two others that had many
    own = _quiet_copy(constructed_frame(n=4000, seed=5))
    fleet = [constructed_frame(seed=1), constructed_frame(seed=2)]
    config = PredictorConfig(targets=("database",), calibration_scheme=scheme, **FAST)
    with pytest.raises(InsufficientData):
        fit_error_predictor(own, config=config)
    # when it is trained with the fleet's histories
    model = fit_error_predictor(own, config=config, fleet_frames=fleet)
    # then it learned the fleet's pattern and applies it to a fresh history
    fresh = constructed_frame(n=3000, seed=3)
    probs = model.predict_proba_frame(fresh)["database@30"]
    signal = fresh["metric_db_pool_in_use"] > 80
    assert probs[signal].mean() > 5 * probs[~signal].mean()
    assert model.report.train_samples < len(own)  # its own calibration/test slices stay its own


def test_with_a_fleet_the_model_uses_only_features_without_a_service_scale():
    own = constructed_frame(n=4000, seed=5)
    fleet = [constructed_frame(n=4000, seed=1)]
    config = PredictorConfig(targets=("database",), **FAST)
    every = list(build_features(own).columns)
    alone = fit_error_predictor(own, config=config)
    with_fleet = fit_error_predictor(own, config=config, fleet_frames=fleet)
    assert alone.feature_names == every
    assert with_fleet.feature_names == scale_free_columns(every)
    # levels in the service's own units are out; the same signals against their baseline are in
    for absolute in ("metric_db_pool_in_use", "database_count_sum_1h", "response_time_p95"):
        assert absolute in every and absolute not in with_fleet.feature_names
    for relative in ("metric_db_pool_in_use_vs_base", "hour_of_day", "total_count_z_1d"):
        assert relative in with_fleet.feature_names
    # and it still scores any window of the service, whatever columns the window has
    assert np.isfinite(with_fleet.predict_proba_frame(own.iloc[-300:]).to_numpy()).all()


def test_fleet_rows_end_before_the_services_calibration_slice():
    other = constructed_frame(n=4000, seed=1)
    config = PredictorConfig(targets=("database",), **FAST)
    feature_names = list(build_features(other).columns)
    before, calibration_before = other.index[2500], other.index[3200]
    rows, cal_rows = _fleet_rows(
        [other],
        config=config,
        bucket_minutes=5,
        feature_names=feature_names,
        before=before,
        calibration_before=calibration_before,
    )
    x, y = rows[("database", 30)]
    # every row before the cut whose 30-minute future is known there (the last 6 only if positive)
    assert x.shape[1] == len(feature_names)
    assert 2500 - 6 <= x.shape[0] <= 2500 and len(y) == x.shape[0]
    # labels come from the other service's own bursts, never from beyond the cut
    assert 0 < y.sum() < len(y)
    # calibration rows: the buckets between the two cuts, labelled from that span only
    x_cal, y_cal = cal_rows[("database", 30)]
    assert 700 - 6 <= x_cal.shape[0] <= 700 and len(y_cal) == x_cal.shape[0]
    features = build_features(other).to_numpy(dtype=np.float32)
    assert np.array_equal(x_cal[0], features[2500])  # the first row is the first after the cut
    events = (other["database_count"] >= 10).iloc[2500:3200]  # this frame's burst threshold
    assert y_cal.sum() == future_labels(events, 6).iloc[: len(y_cal)].sum()


def test_a_service_without_incidents_in_its_calibration_slice_is_calibrated_on_the_fleets():
    # given a service that has been calm lately (no warning, no burst in its newest half), and
    # two services of the same kind with many incidents in the same period
    own = constructed_frame(n=4000, seed=5)
    rng = np.random.default_rng(9)
    own.loc[own.index[2000:], "metric_db_pool_in_use"] = 30 + rng.normal(0, 2, 2000)
    own.loc[own.index[2000:], "database_count"] = rng.poisson(1.0, 2000).astype(float)
    own["total_count"] = own["error_count"] = own["database_count"] + 2
    fleet = [constructed_frame(n=4000, seed=1), constructed_frame(n=4000, seed=2)]
    alone = PredictorConfig(targets=("database",), fleet_calibration=False, **FAST)
    pooled = PredictorConfig(targets=("database",), **FAST)
    # when trained with the fleet, calibrating on its own slice alone or on the fleet's too
    own_only = fit_error_predictor(own, config=alone, fleet_frames=fleet)
    with_fleet = fit_error_predictor(own, config=pooled, fleet_frames=fleet)
    # then alone there is nothing to fit a calibration curve on (only the class weight is undone)
    assert own_only.models[0].calibrator.method == "prior"
    assert with_fleet.models[0].calibrator.method in ("sigmoid", "isotonic")
    # and with the fleet's calibration buckets, on a fresh history of the same kind, the
    # probabilities match the observed frequency on average, beat the base rate (Brier), and
    # a warning still raises the risk many times over
    fresh = constructed_frame(n=4000, seed=3)
    probs = with_fleet.predict_proba_frame(fresh)["database@30"].iloc[300:-10]
    labels = future_labels(fresh["database_count"] >= 10, 6).iloc[300:-10]
    assert abs(probs.mean() - labels.mean()) < 0.03
    assert ((probs - labels) ** 2).mean() < ((labels.mean() - labels) ** 2).mean() * 0.9
    warned = (fresh["metric_db_pool_in_use"] > 80).iloc[300:-10]
    assert probs[warned].mean() > 5 * probs[~warned].mean()


def test_unusable_fleet_frames_are_skipped_and_missing_signals_read_as_no_departure():
    own = constructed_frame(n=4000, seed=0)
    no_metric = constructed_frame(n=4000, seed=1).drop(columns=["metric_db_pool_in_use"])
    too_short = constructed_frame(n=50, seed=2)
    silent = constructed_frame(n=4000, seed=3) * 0.0
    config = PredictorConfig(targets=("database",), **FAST)
    feature_names = list(build_features(own).columns)
    rows, _ = _fleet_rows(
        [no_metric, too_short, silent, pd.DataFrame()],
        config=config,
        bucket_minutes=5,
        feature_names=feature_names,
        before=own.index[-1],
        calibration_before=own.index[-1],
    )
    x, _ = rows[("database", 30)]
    assert x.shape[0] >= 3900  # only the frame without the metric contributed
    ratio = feature_names.index("metric_db_pool_in_use_vs_base")
    level = feature_names.index("metric_db_pool_in_use")
    assert np.all(x[:, ratio] == 1.0) and np.all(x[:, level] == 0.0)
    model = fit_error_predictor(
        own, config=config, fleet_frames=[no_metric, too_short, silent, pd.DataFrame()]
    )
    assert np.isfinite(model.predict_proba_frame(own.iloc[-300:]).to_numpy()).all()


def test_thinning_keeps_every_positive_and_an_even_share_of_negatives_in_time_order():
    y = np.array([0] * 90 + [1] * 5 + [0] * 105)
    x = np.arange(len(y), dtype=np.float32).reshape(-1, 1)
    tx, ty = _thin_negatives(x, y, keep=50)
    assert ty.sum() == 5 and 45 <= (ty == 0).sum() <= 50
    assert np.all(np.diff(tx[:, 0]) > 0)  # still in time order
    _, same_y = _thin_negatives(x, y, keep=1000)
    assert len(same_y) == len(y)


def test_burst_runs_count_consecutive_event_buckets():
    runs = burst_runs(np.array([0, 1, 1, 0, 1, 1, 1, 1, 0], dtype=bool))
    assert runs.tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 0]
    assert burst_runs(np.array([], dtype=bool)).tolist() == []


def test_persistence_is_the_historys_frequency_per_run_length_shrunk_to_the_base_rate():
    runs = np.array([1] * 10 + [2] * 4 + [3, 5, 9, 4] + [0] * 50)
    labels = np.array([1] * 3 + [0] * 7 + [1, 1, 1, 0] + [1, 1, 1, 1] + [0] * 50, dtype=float)
    probability, cases = fit_persistence(runs, labels, base_rate=0.1)
    assert cases == (10, 4, 4)
    prior = PERSISTENCE_PRIOR
    assert probability[0] == pytest.approx((3 + prior * 0.1) / (10 + prior))  # blips and onsets
    assert probability[1] == pytest.approx((3 + prior * 0.1) / (4 + prior))
    assert probability[2] == pytest.approx((4 + prior * 0.1) / (4 + prior))  # 3 or more
    # a run length never seen keeps the base rate
    assert fit_persistence(np.zeros(5, int), np.zeros(5), 0.2)[0] == (0.2, 0.2, 0.2)


def test_a_critical_burst_in_progress_is_not_read_as_a_quiet_service(sim_frame, tmp_path):
    """Found in use: 20 critical errors per bucket with the metrics at their normal level gave
    0.2% for "critical errors within 30 min" (the trees had learnt outages from the metrics,
    which move in every simulated outage)."""
    config = PredictorConfig(**FAST)
    model = fit_error_predictor(sim_frame, config=config, algorithm="xgboost")
    quiet = sim_frame.iloc[-288:].copy()
    quiet_p = {r.target: r.probability for r in model.predict(quiet, config=config)}
    burst = quiet.copy()
    for column, value in (("total_count", 60), ("critical_count", 20), ("timeout_count", 40)):
        burst.loc[burst.index[-3:], column] = value
    results = {r.target: r for r in model.predict(burst, config=config)}
    critical = results["critical"]
    assert quiet_p["critical"] < config.prediction_threshold <= critical.probability
    assert results[INCIDENT].probability >= critical.probability
    factor = critical.contributing_factors[0]
    assert factor.feature == "critical_burst_in_progress" and factor.value == 3
    assert "in progress (3 buckets in a row)" in factor.description
    assert "went on within 30 min " in factor.description  # not "1440 min" for 24 h
    # the debounced policy sees it too once it has held, and the per-bucket frame agrees
    held = dataclasses.replace(config, alert_min_buckets=2)
    assert {r.target: r.probability for r in model.predict(burst, config=held)}[
        "critical"
    ] >= config.prediction_threshold
    frame_p = model.predict_proba_frame(burst)["critical@30"].iloc[-1]
    assert frame_p == pytest.approx(critical.probability, abs=1e-4)
    # an artifact saved before the floor existed still scores (without it)
    for m in model.models:
        del m.persistence
    old = {r.target: r.probability for r in model.predict(burst, config=config)}
    assert old["critical"] < critical.probability


def test_the_burst_factor_explains_only_a_floor_that_held(sim_frame):
    """Found in use: the first bucket of a burst reported 0.0008 (the debounced probability
    held the quiet bucket before) beside a factor saying such bursts went on 79% of the time."""
    config = PredictorConfig(**FAST, alert_min_buckets=2)
    model = fit_error_predictor(sim_frame, config=config, algorithm="xgboost")
    window = sim_frame.iloc[-288:].copy()
    window.loc[window.index[-1], ["total_count", "critical_count"]] = (60, 20)
    first = {r.target: r for r in model.predict(window, config=config)}["critical"]
    assert first.probability < config.prediction_threshold
    assert all(f.feature != "critical_burst_in_progress" for f in first.contributing_factors)


def test_an_absurd_input_value_neither_breaks_scoring_nor_reads_as_scientific_notation(
    sim_frame,
):
    """Found in use: one error with a latency of 1e300 ms overflowed float32 in the classifier
    and failed every analysis of the service until it left the window."""
    config = PredictorConfig(**FAST)
    model = fit_error_predictor(sim_frame, config=config, algorithm="xgboost")
    window = sim_frame.iloc[-288:].copy()
    window.loc[window.index[-1], ["rt_p95", "rt_max", "rt_p99", "rt_mean"]] = 1e300
    window.loc[window.index[-3:], ["total_count", "critical_count"]] = (60, 20)  # factors shown
    features = build_features(window)
    assert np.isfinite(features.to_numpy(dtype=np.float32)).all()
    results = model.predict(window, config=config)
    assert all(0.0 <= r.probability <= 1.0 for r in results)
    texts = [f.description for r in results for f in r.contributing_factors]
    assert texts and not any("e+" in t for t in texts)


def test_a_fleet_frame_counts_its_buckets_from_its_first_report():
    """A young service's frame, zero-filled to the lookback, is too short for the fleet."""
    own = constructed_frame(n=4000, seed=0)
    young = constructed_frame(n=4000, seed=1)
    young.iloc[:3800] = 0.0  # reported for the last 200 buckets only
    young["metric_db_pool_in_use"] = young["metric_db_pool_in_use"].where(
        young.index >= young.index[3800]
    )
    config = PredictorConfig(targets=("database",), **FAST)
    rows, _ = _fleet_rows(
        [young],
        config=config,
        bucket_minutes=5,
        feature_names=list(build_features(own).columns),
        before=own.index[-1],
        calibration_before=own.index[-1],
    )
    assert config.min_training_buckets > 200
    assert rows == {}


def test_no_prediction_claims_certainty_and_each_head_keeps_its_base_rate(sim_frame):
    """Found on call: isotonic calibration returns exactly 1.0 where every calibration row of a
    bin was positive, and a page read "100% within 24 hours"."""
    config = PredictorConfig(**FAST)
    model = fit_error_predictor(sim_frame, config=config)
    for head in model.models:
        head.calibrator = lambda raw: np.ones(len(raw))  # a bin where every row was positive
        base_rate = model.report.metrics[f"{head.target}@{head.horizon_minutes}.base_rate"]
        assert base_rate == pytest.approx(head.base_rate, abs=1e-4) and 0 < base_rate < 1

    results = model.predict(sim_frame.iloc[-288:], config=config)

    assert results and all(r.probability == 0.99 for r in results)


@pytest.mark.parametrize("constant", [False, True])
def test_isotonic_calibration_is_scikit_learns_prediction(constant):
    # given an isotonic calibrator fitted as the predictor fits it (and one with a single step)
    from sklearn.isotonic import IsotonicRegression

    from ml_prediction.engines.predictor import _Calibrator

    rng = np.random.default_rng(4)
    raw = rng.uniform(0.05, 0.95, 400)
    y = np.zeros(400, dtype=int) if constant else (rng.uniform(size=400) < raw).astype(int)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    queries = np.concatenate([rng.uniform(0.0, 1.0, 500), [0.0, 0.01, 0.99, 1.0]])

    # then the interpolation gives its probabilities, clipped at both ends as it clips
    calibrated = _Calibrator("isotonic", isotonic=iso)(queries)
    expected = iso.predict(np.clip(queries, 1e-6, 1 - 1e-6))
    assert np.allclose(calibrated, expected, atol=1e-12)


def test_shared_matrix_scores_are_each_boosters_own_prediction(sim_frame):
    # given a fitted XGBoost predictor and the feature rows of a window
    config = PredictorConfig(**FAST)
    model = fit_error_predictor(sim_frame, config=config, algorithm="xgboost")
    features, _ = model._features_and_runs(sim_frame.iloc[-288:])
    for rows in (features.iloc[[-1]], features):
        x = model._matrix(rows)
        # then scoring every model from one shared matrix gives each booster's own values
        shared = model._model_scores(x)
        for m, scores in zip(model.models, shared, strict=True):
            own = m.estimator.get_booster().inplace_predict(x)
            assert np.array_equal(scores, np.asarray(own, dtype=float))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_scoring_matrix_uses_the_models_threads_and_changes_no_value(sim_frame, n_jobs):
    # given an XGBoost predictor trained on n_jobs threads
    config = PredictorConfig(**{**FAST, "n_jobs": n_jobs})
    model = fit_error_predictor(sim_frame, config=config, algorithm="xgboost")
    features, _ = model._features_and_runs(sim_frame.iloc[-288:])
    x = model._matrix(features.iloc[[-1]])

    # when the scoring matrix is built
    matrix = model._dmatrix(x)

    # then it is built on the models' threads, not on every core (DMatrix's default)
    assert matrix.nthread == n_jobs
    # and each model's scores and per-feature contributions are those of a default matrix
    default = xgb.DMatrix(x)
    for m in model.models:
        booster = m.estimator.get_booster()
        assert np.array_equal(booster.predict(matrix), booster.predict(default))
        assert np.array_equal(
            booster.predict(matrix, pred_contribs=True),
            booster.predict(default, pred_contribs=True),
        )
        # and the factors from a matrix built once per call are those each model built itself
        assert model._factors(m, x, row=matrix) == model._factors(m, x)


@pytest.mark.parametrize(("low_probability", "factor_matrices"), [(1.01, 0), (0.0, 1)])
def test_factors_input_is_built_only_when_a_prediction_is_explained(
    sim_frame, monkeypatch, low_probability, factor_matrices
):
    # given an XGBoost predictor, and a count of the XGBoost inputs built per call
    config = PredictorConfig(**FAST)
    model = fit_error_predictor(sim_frame, config=config, algorithm="xgboost")
    built = []
    build = model._dmatrix
    monkeypatch.setattr(model, "_dmatrix", lambda x: built.append(x.shape) or build(x))
    scoring = dataclasses.replace(config, low_probability=low_probability)

    # when one window is scored
    results = model.predict(sim_frame.iloc[-288:], config=scoring)

    # then the scoring matrix is built once, and the factors' one-row input only when some
    # prediction is explained (no model when none is above the level, one for all otherwise)
    assert len(built) == 1 + factor_matrices
    if factor_matrices:
        assert built[-1] == (1, len(model.feature_names))
        assert all(r.contributing_factors for r in results)
        assert len(results) == len(model.models)
