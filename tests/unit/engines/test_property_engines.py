"""Property tests: the engines on bad data, through the entry points the orchestrator uses.

Bad data is normal data here: empty, single-row, constant, NaN-laden, ±inf, huge (1e12) or
negative values, duplicated, unsorted, irregular or gappy timestamps, naive or non-UTC indexes,
a service without errors, a single class in the labels, too short a history. Each entry point
must either raise the typed ``InsufficientData`` (which the orchestrator and training record) or
return results whose floats are finite and in range: scores and probabilities in 0..1, forecasts
with lower <= value <= upper. Never another exception, never a NaN in something that is stored.

Fast by construction: small frames, small configs (few trees, short cold start, no Prophet or
LSTM), a fixed number of examples and ``derandomize=True`` so CI sees the same cases every run.
The regressions the properties found are plain tests at the end of the file.
"""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ml_prediction.engines.actions import CAUSE_ACTIONS, recommend_actions
from ml_prediction.engines.anomaly import (
    AnomalyConfig,
    AnomalyModel,
    fit_anomaly_model,
    score_without_model,
)
from ml_prediction.engines.catalog import LEVELS, SERVICES
from ml_prediction.engines.features import build_features
from ml_prediction.engines.forecasting import ForecastConfig, Forecaster, fit_forecaster
from ml_prediction.engines.predictor import (
    ErrorPredictorModel,
    PredictorConfig,
    fit_error_predictor,
)
from ml_prediction.engines.root_cause import (
    FleetIncident,
    PastIncident,
    analyze_root_cause,
    cosine_similarity,
    incident_signature,
)
from ml_prediction.engines.simulator import SimulationConfig, simulate
from ml_prediction.engines.types import (
    AnomalyScore,
    ErrorPredictionResult,
    ForecastResult,
    InsufficientData,
    RootCauseResult,
)

START = pd.Timestamp("2026-01-05 00:00", tz="UTC")  # a Monday

# Reproducible, no example database written into the checkout, a deadline that only a
# pathological case (a reindex to millions of rows, a runaway loop) exceeds.
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

COUNT_COLUMNS = (
    "total_count",
    "error_count",
    "critical_count",
    "timeout_count",
    "connection_count",
    "database_count",
    "api_count",
    "memory_count",
    "user_error_count",
)
RT_COLUMNS = ("rt_mean", "rt_p95", "rt_p99", "rt_max")
METRIC_COLUMNS = (
    "metric_db_pool_in_use",
    "metric_cpu",
    "metric_memory",
    "metric_request_count",
)
# How one column's values go wrong.
REGIMES = (
    "counts",
    "bursty",
    "zero",
    "constant",
    "all_nan",
    "some_nan",
    "inf",
    "huge",
    "negative",
    "step",
)


def _values(regime: str, n: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    """One column of ``n`` values in the given regime, around ``scale``."""
    if regime == "zero":
        return np.zeros(n)
    if regime == "constant":
        return np.full(n, scale)
    if regime == "all_nan":
        return np.full(n, np.nan)
    values = rng.poisson(scale, n).astype(float)
    mask = rng.random(n)
    if regime == "bursty":  # quiet with rare, large bursts: labels with both classes
        values[mask < 0.05] += 40 * scale + 40
    elif regime == "some_nan":
        values[mask < 0.3] = np.nan
    elif regime == "inf":
        values[mask < 0.05] = np.inf
        values[(mask >= 0.05) & (mask < 0.08)] = -np.inf
    elif regime == "huge":
        values[mask < 0.05] = 1e12
    elif regime == "negative":  # bad counters, clock skew in latencies
        values[mask < 0.6] = -values[mask < 0.6] - 1
    elif regime == "step":  # nothing, then something: a metric that starts reporting, traffic
        values[: rng.integers(0, n + 1)] = 0.0
    return values


def _index(
    n: int,
    rng: np.random.Generator,
    *,
    step_minutes: int,
    irregular: bool,
    gap_days: int,
    duplicates: bool,
    shuffled: bool,
    tz: str,
    missing: bool,
    start: pd.Timestamp = START,
) -> pd.DatetimeIndex:
    """``n`` bucket timestamps from ``start``, with the requested defects."""
    if irregular:
        seconds = np.cumsum(rng.integers(0, 2 * step_minutes * 60, n))
    else:
        seconds = np.arange(n) * step_minutes * 60
    if gap_days and n > 1:
        seconds[rng.integers(1, n) :] += gap_days * 86400
    stamps = (start + pd.to_timedelta(seconds, unit="s")).tz_convert(None).to_numpy().copy()
    if duplicates and n > 1:
        at = rng.integers(1, n, max(n // 10, 1))
        stamps[at] = stamps[at - 1]
    if shuffled:
        stamps = stamps[rng.permutation(n)]
    if missing and n:
        stamps[rng.integers(0, n)] = np.datetime64("NaT")
    index = pd.DatetimeIndex(stamps).tz_localize("UTC")
    if tz == "naive":
        return index.tz_localize(None)
    if tz == "other":
        return index.tz_convert("America/New_York")
    return index


@st.composite
def bucket_frames(
    draw: st.DrawFn, *, min_rows: int = 0, max_rows: int = 300, with_total: bool = False
) -> pd.DataFrame:
    """A bucket frame in the engines' convention (types.py), with realistic defects."""
    n = draw(st.integers(min_rows, max_rows))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    index = _index(
        n,
        rng,
        step_minutes=draw(st.sampled_from([5, 5, 5, 1, 60])),
        irregular=draw(st.booleans()),
        gap_days=draw(st.sampled_from([0, 0, 1, 3])),
        duplicates=draw(st.booleans()),
        shuffled=draw(st.booleans()),
        tz=draw(st.sampled_from(["UTC", "UTC", "naive", "other"])),
        missing=draw(st.integers(0, 9)) == 0,
        # inside the fitted models' history (4 days from START), just after it, or long after
        start=START + pd.Timedelta(days=draw(st.sampled_from([0, 3, 4, 4, 30]))),
    )
    optional = draw(
        st.sets(st.sampled_from(COUNT_COLUMNS[1:] + RT_COLUMNS + METRIC_COLUMNS), max_size=10)
    )
    columns = ["total_count", *sorted(optional)] if with_total or draw(st.booleans()) else []
    columns = columns or sorted(optional)
    data: dict[str, np.ndarray] = {}
    for column in columns:
        regime = draw(st.sampled_from(REGIMES))
        if column.startswith("rt_"):
            scale = 250.0
        elif column.startswith("metric_"):
            scale = draw(st.sampled_from([0.0, 40.0, 90.0]))
        else:
            scale = draw(st.sampled_from([0.5, 5.0, 50.0]))
        data[column] = _values(regime, n, rng, scale)
    return pd.DataFrame(data, index=index)


def _regular(rows: int, **columns: float) -> pd.DataFrame:
    """``rows`` regular 5-minute UTC buckets of constant columns: the explicit examples below,
    which every run tries whatever the generator draws."""
    index = pd.date_range(START, periods=rows, freq="5min")
    return pd.DataFrame(columns, index=index, dtype=float)


EMPTY = pd.DataFrame()


# ------------------------------------------------------------------ invariants


def _finite_floats(value: Any, where: str = "result") -> None:
    """Every float inside a result (dataclass fields, dicts, lists) is finite."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _finite_floats(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _finite_floats(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _finite_floats(item, f"{where}[{i}]")
    elif isinstance(value, float | np.floating):
        assert math.isfinite(value), f"{where} is {value}"


def _check_anomaly_scores(scores: list[AnomalyScore], *, state: str) -> None:
    stamps = [s.timestamp for s in scores]
    assert len(set(stamps)) == len(stamps), "one score per bucket (the upsert key)"
    for s in scores:
        _finite_floats(s)
        assert isinstance(s.timestamp, datetime) and not pd.isna(s.timestamp)
        assert 0.0 <= s.anomaly_score <= 1.0
        assert all(0.0 <= v <= 1.0 for v in s.detector_scores.values())
        assert isinstance(s.is_anomaly, bool)
        assert s.severity_level in LEVELS
        assert s.anomaly_type in ("", "spike", "drop", "trend_change", "pattern_deviation")
        assert (s.anomaly_type != "") == s.is_anomaly
        assert s.state == state
        assert s.observed >= 0.0


def _check_predictions(results: list[ErrorPredictionResult], model: ErrorPredictorModel) -> None:
    assert len(results) == len(model.models)
    for r in results:
        _finite_floats(r)
        assert 0.0 <= r.probability <= 1.0
        assert r.confidence_level in ("low", "medium", "high")
        assert r.predicted_severity in LEVELS
        assert r.predicted_timestamp > r.timestamp
        assert r.affected_users_estimate is None or r.affected_users_estimate >= 0


def _check_forecast(result: ForecastResult, *, steps: int) -> None:
    _finite_floats(dataclasses.replace(result, backtest={}))  # backtest: None where undefined
    assert len(result.points) == steps
    assert result.status in ("ok", "fallback", "constant")
    assert result.trend_direction in ("increasing", "decreasing", "stable")
    for p in result.points:
        assert p.lower <= p.value <= p.upper
    stamps = [p.timestamp for p in result.points]
    assert stamps == sorted(set(stamps))
    assert result.peak_value == max(p.value for p in result.points)


def _check_root_cause(result: RootCauseResult) -> None:
    _finite_floats(result)
    assert 0.0 <= result.confidence <= 1.0
    assert result.cause_key and result.hypothesis and result.decision_path
    assert all(0.0 <= s.similarity <= 1.0 for s in result.similar_incidents)


# ------------------------------------------------------------------ fitted models (once)


FAST_ANOMALY = AnomalyConfig(cold_start_days=0.1, lof_neighbors=5, n_estimators=8)
FAST_PREDICTOR = PredictorConfig(
    horizons_minutes=(30,),
    targets=("database", "timeout", "critical", "incident"),
    min_training_buckets=100,
    n_estimators=10,
    min_positive_samples=3,
    min_positive_events=1,
)
FAST_FORECAST = ForecastConfig(
    horizon_steps=6,
    candidates=("seasonal_naive", "weekly_naive", "holt_winters"),
    backtest_folds=2,
)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    """Four days of one simulated service, with incidents (both classes in every label)."""
    sim = simulate(
        SimulationConfig(
            days=4,
            services=("django",),
            seed=4,
            start=datetime(2026, 1, 5, tzinfo=UTC),
            incidents_per_week=14,
        )
    )
    return sim.bucket_frames()["django"]


@pytest.fixture(scope="module")
def anomaly_model(history: pd.DataFrame) -> AnomalyModel:
    return fit_anomaly_model(history, config=dataclasses.replace(FAST_ANOMALY, cold_start_days=1))


@pytest.fixture(scope="module", params=["xgboost", "random_forest"])
def predictor(request: pytest.FixtureRequest, history: pd.DataFrame) -> ErrorPredictorModel:
    return fit_error_predictor(history, config=FAST_PREDICTOR, algorithm=request.param)


@pytest.fixture(scope="module")
def forecaster(history: pd.DataFrame) -> Forecaster:
    hourly = history["total_count"].resample("1h").sum()
    return fit_forecaster(hourly, metric_name="error_count", config=FAST_FORECAST)


# ------------------------------------------------------------------ features


@settings(PROPERTY, max_examples=60)
@given(frame=bucket_frames())
@example(frame=EMPTY)
@example(frame=_regular(1, total_count=3))
def test_features_are_finite_rows_on_a_regular_utc_grid(frame: pd.DataFrame) -> None:
    try:
        features = build_features(frame)
    except InsufficientData:
        event("InsufficientData")
        return
    assert len(features) >= 1
    assert np.isfinite(features.to_numpy(dtype=float)).all()
    index = features.index
    assert str(index.tz) == "UTC" and index.is_unique and index.is_monotonic_increasing
    step = pd.Timedelta(minutes=features.attrs["bucket_minutes"])
    assert len(index) < 2 or (index[1:] - index[:-1] == step).all()


# ------------------------------------------------------------------ anomaly detection


@settings(PROPERTY, max_examples=60)
@given(frame=bucket_frames())
@example(frame=EMPTY)
@example(frame=_regular(1, total_count=3))
@example(frame=_regular(288, total_count=0))
def test_cold_start_scores_are_finite_and_in_range(frame: pd.DataFrame) -> None:
    try:
        scores = score_without_model(frame, config=AnomalyConfig())
    except InsufficientData:
        event("InsufficientData")
        return
    _check_anomaly_scores(scores, state="learning")


@settings(PROPERTY, max_examples=40)
@given(frame=bucket_frames())
@example(frame=_regular(1, total_count=1e12))
@example(frame=_regular(288, total_count=0))
def test_a_trained_model_scores_any_window_finite_and_in_range(
    anomaly_model: AnomalyModel, frame: pd.DataFrame
) -> None:
    try:
        scores = anomaly_model.score(frame, config=AnomalyConfig())
    except InsufficientData:
        event("InsufficientData")
        return
    _check_anomaly_scores(scores, state="active")


@settings(PROPERTY, max_examples=25)
@given(frame=bucket_frames(max_rows=400, with_total=True))
@example(frame=_regular(400, total_count=0))  # a service without errors
@example(frame=_regular(400, total_count=7))
def test_anomaly_training_fits_or_says_why(frame: pd.DataFrame) -> None:
    try:
        model = fit_anomaly_model(frame, config=FAST_ANOMALY)
    except InsufficientData:
        event("InsufficientData")
        return
    event("fitted")
    _finite_floats(model.report)
    _check_anomaly_scores(model.score(frame, config=FAST_ANOMALY), state="active")


# ------------------------------------------------------------------ error prediction


@settings(PROPERTY, max_examples=30)
@given(window=bucket_frames())
@example(window=EMPTY)
@example(window=_regular(1, total_count=5))  # fewer buckets than any lag
def test_a_trained_predictor_predicts_any_window_in_range(
    predictor: ErrorPredictorModel, window: pd.DataFrame
) -> None:
    try:
        results = predictor.predict(window, config=FAST_PREDICTOR)
    except InsufficientData:
        event("InsufficientData")
        return
    _check_predictions(results, predictor)
    held = dataclasses.replace(FAST_PREDICTOR, alert_min_buckets=3)
    _check_predictions(predictor.predict(window, config=held), predictor)
    table = predictor.predict_proba_frame(window).to_numpy()
    assert np.isfinite(table).all() and (table >= 0).all() and (table <= 1).all()


@st.composite
def feedback_frames(draw: st.DrawFn) -> pd.DataFrame | None:
    """Human verdicts as the training service passes them (or None)."""
    rows = draw(st.integers(0, 6))
    if rows == 0:
        return None
    naive = draw(st.booleans())
    records = []
    for _ in range(rows):
        stamp = START + pd.Timedelta(minutes=draw(st.integers(-600, 3000)))
        records.append(
            {
                "timestamp": stamp.tz_localize(None) if naive else stamp,
                "verdict": draw(st.sampled_from(["true_positive", "false_positive", "unsure"])),
                "target": draw(st.sampled_from([None, "", "database", "incident", "KeyError"])),
                "horizon_minutes": draw(st.sampled_from([None, 30, 120, float("nan")])),
            }
        )
    return pd.DataFrame(records)


@settings(PROPERTY, max_examples=25)
@given(frame=bucket_frames(max_rows=500, with_total=True), feedback=feedback_frames())
@example(frame=_regular(500, total_count=0), feedback=None)  # no errors ever
@example(frame=_regular(500, total_count=3, database_count=1), feedback=None)  # one class
@example(frame=_regular(20, total_count=3), feedback=None)  # too short
def test_predictor_training_fits_or_says_why(
    frame: pd.DataFrame, feedback: pd.DataFrame | None
) -> None:
    try:
        model = fit_error_predictor(frame, config=FAST_PREDICTOR, feedback=feedback)
    except InsufficientData:
        event("InsufficientData")
        return
    event(f"fitted: {len(model.models)} models")
    _finite_floats(dataclasses.replace(model.report, hyperparameters={}))
    _check_predictions(model.predict(frame, config=FAST_PREDICTOR), model)


@settings(PROPERTY, max_examples=10)
@given(fleet=st.lists(bucket_frames(max_rows=300, with_total=True), max_size=2))
def test_bad_fleet_histories_never_break_a_services_training(
    history: pd.DataFrame, fleet: list[pd.DataFrame]
) -> None:
    model = fit_error_predictor(history, config=FAST_PREDICTOR, fleet_frames=fleet)
    _check_predictions(model.predict(history.iloc[-288:], config=FAST_PREDICTOR), model)


# ------------------------------------------------------------------ forecasting


@st.composite
def series_for_forecast(draw: st.DrawFn) -> pd.Series:
    """An error count or metric series as training hands it over (hourly), or worse."""
    frame = draw(bucket_frames(max_rows=24 * 16, with_total=True))
    column = draw(st.sampled_from(list(frame.columns)))
    series = frame[column]
    if draw(st.booleans()) and len(series) and isinstance(series.index, pd.DatetimeIndex):
        # the common case: a regular hourly series (``hourly_series`` in the training service)
        series = pd.Series(
            series.to_numpy(), index=pd.date_range(START, periods=len(series), freq="1h")
        )
    return series


@settings(PROPERTY, max_examples=30)
@given(
    series=series_for_forecast(),
    aggregation=st.sampled_from(["mean", "sum"]),
    steps=st.integers(1, 30),
)
@example(series=_regular(240, v=7)["v"], aggregation="mean", steps=24)  # constant
@example(series=_regular(240, v=np.nan)["v"], aggregation="sum", steps=24)  # all missing
def test_forecasts_are_finite_with_ordered_bands_or_say_why(
    series: pd.Series, aggregation: str, steps: int
) -> None:
    config = dataclasses.replace(FAST_FORECAST, aggregation=aggregation)
    try:
        fitted = fit_forecaster(series, metric_name="error_count", config=config)
    except InsufficientData:
        event("InsufficientData")
        return
    result = fitted.forecast(horizon_steps=steps)
    event(f"forecast: {result.algorithm} ({result.status})")
    _check_forecast(result, steps=steps)
    if fitted.non_negative:
        assert all(p.lower >= 0.0 for p in result.points)


@st.composite
def observed_hours(draw: st.DrawFn, after: pd.Timestamp) -> pd.Series:
    """Hours observed since training, as the orchestrator passes them to ``conditioned_on``."""
    n = draw(st.integers(0, 8))
    offset = draw(st.integers(-3, 3))
    stamps = pd.date_range(after + pd.Timedelta(hours=offset), periods=n, freq="1h")
    if draw(st.booleans()):
        stamps = stamps.tz_localize(None)
    values = draw(
        st.lists(
            st.one_of(
                st.floats(0, 1e12),
                st.sampled_from([0.0, -5.0, np.nan, np.inf, -np.inf, 1e12]),
            ),
            min_size=n,
            max_size=n,
        )
    )
    return pd.Series(values, index=stamps, dtype=float)


@settings(PROPERTY, max_examples=40)
@given(data=st.data(), steps=st.integers(1, 48))
def test_a_forecast_conditioned_on_any_observed_hours_stays_finite_and_ordered(
    forecaster: Forecaster, data: st.DataObject, steps: int
) -> None:
    observed = data.draw(observed_hours(forecaster.last_timestamp))
    conditioned = forecaster.conditioned_on(observed)
    _check_forecast(conditioned.forecast(horizon_steps=steps), steps=steps)


# ------------------------------------------------------------------ root cause and actions


def _quiet_then_cpu_bound_traffic() -> pd.DataFrame:
    """Four hours of no requests, then an hour of traffic on a saturated CPU."""
    index = pd.date_range(START, periods=48, freq="5min")
    return pd.DataFrame(
        {
            "total_count": 5.0,
            "metric_cpu": 90.0,
            "metric_request_count": [0.0] * 36 + [100.0] * 12,
        },
        index=index,
    )


error_type_counts = st.dictionaries(
    st.sampled_from(
        ["OperationalError", "ReadTimeout", "ChunkLoadError", "KeyError", "", "pool 'x' 42"]
    ),
    st.integers(0, 10**9),
    max_size=4,
)


@settings(PROPERTY, max_examples=60)
@given(
    frame=bucket_frames(max_rows=60),
    service=st.sampled_from(SERVICES),
    error_types=error_type_counts,
    past=st.lists(bucket_frames(min_rows=1, max_rows=60), max_size=2),
    week_ago=st.one_of(
        st.none(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), max_size=5),
    ),
    fleet=st.lists(
        st.builds(
            FleetIncident,
            service=st.sampled_from(SERVICES),
            # within the frames' hours (their days, up to 60 buckets), naive or UTC
            began_at=st.builds(
                lambda days, minutes, aware: (
                    (START + pd.Timedelta(days=days, minutes=minutes))
                    .tz_convert("UTC" if aware else None)
                    .to_pydatetime()
                ),
                st.sampled_from([0, 3, 4, 30]),
                st.integers(-60, 360),
                st.booleans(),
            ),
            cause_key=st.sampled_from(["", "unknown", "db_pool_exhaustion", "no_such_cause"]),
        ),
        max_size=4,
    ),
)
@example(
    frame=_quiet_then_cpu_bound_traffic(),
    service="java",
    error_types={},
    past=[],
    week_ago=None,
    fleet=[],
)
@example(
    frame=EMPTY,
    service="react",
    error_types={},
    past=[_regular(48, rt_p95=-3.0)],
    week_ago=None,
    fleet=[],
)
@example(
    frame=_quiet_then_cpu_bound_traffic(),
    service="java",
    error_types={},
    past=[],
    week_ago=-math.inf,
    fleet=[],
)
def test_root_cause_is_a_finite_explanation_for_any_window(
    frame: pd.DataFrame,
    service: str,
    error_types: dict[str, int],
    past: list[pd.DataFrame],
    week_ago: float | list[float | None] | None,
    fleet: list[FleetIncident],
) -> None:
    history = []
    for i, window in enumerate(past):
        try:
            signature = incident_signature(window, error_types=error_types)
        except InsufficientData:
            continue
        assert not [k for k, v in signature.items() if not math.isfinite(v)], signature
        cause = list(CAUSE_ACTIONS)[i % len(CAUSE_ACTIONS)]
        history.append(PastIncident(f"inc-{i}", cause, signature))
    result = analyze_root_cause(
        frame,
        service=service,
        error_types=error_types,
        history=history,
        traffic_week_ago=week_ago,
        fleet=fleet,
    )
    event(f"cause: {result.cause_key}")
    _check_root_cause(result)
    # the traffic's reference is a rate: no text says "nan", "inf" or a negative rate
    said = " ".join([result.hypothesis, *result.decision_path])
    assert not re.search(r"\b(nan|inf)\b|from -\d", said, re.IGNORECASE), said


@settings(PROPERTY, max_examples=40)
@given(
    a=st.dictionaries(st.sampled_from("abcd"), st.floats(-1e12, 1e12), max_size=4),
    b=st.dictionaries(st.sampled_from("abcd"), st.floats(-1e12, 1e12), max_size=4),
)
def test_cosine_similarity_is_in_range(a: dict[str, float], b: dict[str, float]) -> None:
    similarity = cosine_similarity(a, b)
    assert math.isfinite(similarity) and 0.0 <= similarity <= 1.0


@settings(PROPERTY, max_examples=40)
@given(
    cause_key=st.one_of(st.sampled_from(sorted(CAUSE_ACTIONS)), st.text(max_size=20)),
    severity=st.sampled_from(LEVELS),
    probability=st.floats(0.0, 1.0),
    service=st.sampled_from(SERVICES),
)
def test_actions_exist_for_any_cause_severity_and_probability(
    cause_key: str, severity: str, probability: float, service: str
) -> None:
    actions = recommend_actions(
        cause_key=cause_key, severity=severity, probability=probability, service=service
    )
    assert actions
    assert all(a.priority in LEVELS and a.cause_key in CAUSE_ACTIONS for a in actions)


# ------------------------------------------------------------------ regressions found above


def test_a_cpu_surge_from_no_traffic_is_explained_not_divided_by_zero() -> None:
    """Found by the properties: a request count of 0 in the reference hour (a quiet night, a
    metric that just started) raised ZeroDivisionError writing "traffic ×N" and failed the
    whole analysis of the service."""
    result = analyze_root_cause(_quiet_then_cpu_bound_traffic(), service="django")

    assert result.cause_key == "traffic_surge"
    assert any("traffic from 0 to 100" in step for step in result.decision_path)


def test_a_negative_latency_leaves_the_incident_signature_finite() -> None:
    """Found by the properties: a negative p95 (a client's skewed clock) made the signature's
    p95_ratio NaN; stored in the incident library it silently never matched again."""
    frame = pd.DataFrame(
        {"total_count": 5.0, "rt_p95": [100.0] * 36 + [-3.0] * 12},
        index=pd.date_range(START, periods=48, freq="5min"),
    )

    signature = incident_signature(frame)

    assert all(math.isfinite(v) for v in signature.values())
    past = PastIncident("inc-1", "upstream_timeout", signature)
    result = analyze_root_cause(frame, service="django", history=[past])
    assert [s.similarity for s in result.similar_incidents] == [1.0]


def test_a_trained_anomaly_model_reads_a_naive_window_as_utc(
    anomaly_model: AnomalyModel, history: pd.DataFrame
) -> None:
    """Found by the properties: a window with a naive index failed the streaming detector
    (TypeError comparing it with the UTC training context) instead of being read as UTC."""
    window = history.iloc[-48:]
    config = AnomalyConfig()

    naive = anomaly_model.score(window.tz_localize(None), config=config)

    assert naive == anomaly_model.score(window, config=config)


def test_anomaly_rows_without_a_timestamp_are_dropped(
    anomaly_model: AnomalyModel, history: pd.DataFrame
) -> None:
    """Found by the properties: a NaT in the index gave a score stamped NaT (no bucket to
    store it under) without a model, and an IndexError with one."""
    window = history.iloc[-48:]
    broken = window.set_axis(pd.DatetimeIndex([pd.NaT, *window.index[1:]]), axis=0)
    config = AnomalyConfig()

    rules = score_without_model(broken, config=config)
    scores = anomaly_model.score(broken, config=config)

    expected = list(window.index[1:].to_pydatetime())
    assert [s.timestamp for s in rules] == expected
    assert [s.timestamp for s in scores] == expected
