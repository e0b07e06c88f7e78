"""Anomaly engine: spikes found, seasonal peaks not flagged, calibrated scores, shapes typed,
volume guard, cold start, bad data, persistence, and the causal streaming detector."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.anomaly import (
    MIN_BASELINE_ROWS,
    AnomalyConfig,
    AnomalyModel,
    StreamConfig,
    _causal_surprise,
    _contaminated_tail,
    _frozen_surprise,
    anomalous_runs,
    fit_anomaly_model,
    hold_alarms,
    previous_run_end,
    score_without_model,
    stream_anomaly_scores,
    stream_surprise,
)
from ml_prediction.engines.types import InsufficientData

CONFIG = AnomalyConfig()
BUCKETS_PER_DAY = 288
START = pd.Timestamp("2026-01-05 00:00", tz="UTC")  # a Monday


def _traffic(days: int, *, seed: int = 0, start: pd.Timestamp = START) -> pd.DataFrame:
    """5-minute buckets with a daily cycle and a big Monday-morning peak (Poisson counts)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=days * BUCKETS_PER_DAY, freq="5min")
    hour = index.hour.to_numpy()
    rate = np.where((hour >= 9) & (hour < 18), 60.0, 20.0)
    monday_morning = (index.day_of_week.to_numpy() == 0) & (hour >= 8) & (hour < 11)
    rate = np.where(monday_morning, 200.0, rate)
    total = rng.poisson(rate).astype(float)
    return pd.DataFrame(
        {
            "total_count": total,
            "error_count": np.round(total * 0.3),
            "critical_count": np.round(total * 0.01),
            "timeout_count": np.round(total * 0.1),
            "connection_count": np.round(total * 0.05),
            "database_count": np.round(total * 0.05),
            "rt_p95": rng.normal(250.0, 15.0, len(index)),
        },
        index=index,
    )


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return _traffic(21)


@pytest.fixture(scope="module")
def model(history) -> AnomalyModel:
    return fit_anomaly_model(history, config=CONFIG)


def _next_day(history: pd.DataFrame, seed: int = 99) -> pd.DataFrame:
    return _traffic(1, seed=seed, start=history.index[-1] + pd.Timedelta(minutes=5))


def _next_monday(history: pd.DataFrame) -> pd.DataFrame:
    days = (7 - (history.index[-1] + pd.Timedelta(minutes=5)).day_of_week) % 7
    start = (history.index[-1] + pd.Timedelta(minutes=5)).normalize() + pd.Timedelta(days=days)
    return _traffic(1, seed=7, start=start)


def test_a_known_spike_is_found_as_a_critical_spike(model, history):
    # given a normal next day with one bucket at 10× its usual count, at 14:00
    window = _next_day(history)
    spike_at = window.index[window.index.hour == 14][0]
    window.loc[spike_at, ["total_count", "error_count"]] = [600.0, 180.0]
    # when
    scores = {s.timestamp: s for s in model.score(window, config=CONFIG)}
    # then
    found = scores[spike_at.to_pydatetime()]
    assert found.is_anomaly and found.anomaly_type == "spike"
    assert found.severity_level == "critical"
    assert found.state == "active"
    assert found.observed == 600.0 and found.expected == pytest.approx(60.0, rel=0.2)


def test_a_normal_monday_morning_peak_is_not_flagged(model, history):
    # given a Monday whose morning runs at 200/bucket, as every Monday in the history did
    monday = _next_monday(history)
    # when
    scores = model.score(monday, config=CONFIG)
    peak = [s for s in scores if s.timestamp.hour in (8, 9, 10)]
    # then
    assert peak and not any(s.is_anomaly for s in peak)
    assert np.mean([s.is_anomaly for s in scores]) < 0.02


def test_scores_are_calibrated_numbers_in_range(model, history):
    # given an ordinary day
    scores = model.score(_next_day(history), config=CONFIG)
    values = np.array([s.anomaly_score for s in scores])
    # then: finite, within 0..1, and rarely high on normal traffic
    assert np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0
    assert np.quantile(values, 0.5) < CONFIG.warning_threshold
    assert np.mean(values >= CONFIG.score_threshold) < 0.02
    assert all(0.0 <= v <= 1.0 for s in scores for v in s.detector_scores.values())


def test_a_bigger_deviation_scores_higher(model, history):
    # given the same bucket raised to 1.2×, 1.3× and 1.5× its usual count
    window = _next_day(history)
    at = window.index[window.index.hour == 15][0]
    results = []
    for factor in (1.2, 1.3, 1.5):
        changed = window.copy()
        changed.loc[at, "total_count"] = 60.0 * factor
        scored = {s.timestamp: s for s in model.score(changed, config=CONFIG)}
        results.append(scored[at.to_pydatetime()].anomaly_score)
    # then
    assert results[0] < results[1] <= results[2]


@pytest.mark.parametrize(
    ("shape", "expected_type"),
    [("outage", "drop"), ("level_shift", "trend_change"), ("mix_change", "pattern_deviation")],
)
def test_anomaly_type_follows_the_shape(model, history, shape, expected_type):
    # given
    window = _next_day(history)
    afternoon = window.index[(window.index.hour >= 13) & (window.index.hour < 15)]
    target = afternoon[-1]
    if shape == "outage":
        window.loc[target, ["total_count", "error_count", "timeout_count"]] = 0.0
    elif shape == "level_shift":
        window.loc[afternoon, "total_count"] = window.loc[afternoon, "total_count"] * 2.2
    else:  # same volume, but every error is a critical timeout and latency is 20× normal
        window.loc[target, ["error_count", "critical_count", "timeout_count"]] = window.loc[
            target, "total_count"
        ]
        window.loc[target, "rt_p95"] = 5000.0
    # when
    found = {s.timestamp: s for s in model.score(window, config=CONFIG)}[target.to_pydatetime()]
    # then
    assert found.is_anomaly
    assert found.anomaly_type == expected_type


def test_normal_buckets_have_no_type(model, history):
    scores = model.score(_next_day(history), config=CONFIG)
    assert all(s.anomaly_type == "" for s in scores if not s.is_anomaly)


@pytest.mark.parametrize(
    ("score", "severity"),
    [(0.2, "low"), (0.5, "medium"), (0.69, "medium"), (0.7, "high"), (0.85, "critical")],
)
def test_severity_follows_the_configured_thresholds(score, severity):
    from ml_prediction.engines.anomaly import _severity

    assert _severity(np.array([score]), CONFIG)[0] == severity


def test_minimum_volume_guard_ignores_two_to_four_errors_at_night():
    # given a quiet service: ~2 errors per bucket, then 4 errors at 3 a.m.
    rng = np.random.default_rng(3)
    index = pd.date_range(START, periods=10 * BUCKETS_PER_DAY, freq="5min")
    quiet = pd.DataFrame({"total_count": rng.poisson(0.3, len(index)).astype(float)}, index=index)
    quiet.iloc[::50, 0] = 2.0
    model = fit_anomaly_model(quiet.iloc[:-BUCKETS_PER_DAY], config=CONFIG)
    window = quiet.iloc[-BUCKETS_PER_DAY:].copy()
    night = window.index[window.index.hour == 3][0]
    window.loc[night, "total_count"] = 4.0
    # when
    guarded = {s.timestamp: s for s in model.score(window, config=CONFIG)}[night.to_pydatetime()]
    unguarded_config = dataclasses.replace(CONFIG, min_volume=0)
    unguarded = {s.timestamp: s for s in model.score(window, config=unguarded_config)}[
        night.to_pydatetime()
    ]
    # then: the floor is what keeps it quiet
    assert not guarded.is_anomaly and guarded.anomaly_score < CONFIG.warning_threshold
    assert unguarded.anomaly_score > guarded.anomaly_score


def test_less_history_than_the_cold_start_period_is_learning():
    # given 3 days of history with the default 7-day cold start
    short = _traffic(3)
    # when / then
    with pytest.raises(InsufficientData, match="learning"):
        fit_anomaly_model(short, config=CONFIG)
    rules = score_without_model(short, config=CONFIG)
    assert len(rules) == len(short)
    assert {s.state for s in rules} == {"learning"}
    assert set().union(*(s.detector_scores for s in rules)) == {"zscore"}


def test_cold_start_rules_still_find_an_obvious_spike():
    # given
    frame = _traffic(2)
    at = frame.index[frame.index.hour == 15][5]
    frame.loc[at, "total_count"] = 800.0
    # when
    scored = {s.timestamp: s for s in score_without_model(frame, config=CONFIG)}
    # then
    assert scored[at.to_pydatetime()].is_anomaly
    assert scored[at.to_pydatetime()].anomaly_type == "spike"


def test_cold_start_rules_read_a_count_from_its_own_tail():
    """8 errors a bucket, Poisson: 2.5 normal SDs is rare (0.6% of buckets), but read as a
    normal z the counts' skewed tail crossed it in 1.5% of buckets, some 4 flags a service-day
    with no incident at all; read from the count's own tail, about as often as the rule says."""
    # given three days of Poisson traffic at 8 errors a bucket, five times over
    index = pd.date_range(START, periods=3 * BUCKETS_PER_DAY, freq="5min")
    flagged = []
    for seed in range(5):
        counts = np.random.default_rng(seed).poisson(8, len(index)).astype(float)
        frame = pd.DataFrame({"total_count": counts}, index=index)
        # when the learning state scores it
        flagged += [s.is_anomaly for s in score_without_model(frame, config=CONFIG)]
    # then about 0.6% of buckets cross the threshold, not 1.5%
    assert np.mean(flagged) < 0.0075


def test_a_count_z_is_as_rare_as_the_normal_z_it_reports():
    from scipy import stats

    from ml_prediction.engines.anomaly import _count_z

    # 11 errors where 5 are expected: 2.7 Poisson SDs, but 1.4% of buckets reach it
    z = _count_z(np.array([11.0, 5.0, 0.0, np.nan]), np.full(4, 5.0), np.zeros(4))
    assert z[0] == pytest.approx(stats.norm.isf(stats.poisson.sf(10, 5.0)))
    assert 2.0 < z[0] < 2.5 < (11.0 - 5.0) / np.sqrt(5.0)
    assert z[1] == 0.0 and z[2] < -2.0 and z[3] == 0.0  # as expected; a drop to 0; unknown
    # buckets that vary more than counts must (bursty traffic) widen the tail
    assert _count_z(np.array([30.0]), np.array([10.0]), np.array([10.0]))[0] < 2.0


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame(), "empty"),
        (pd.DataFrame({"total_count": [1.0, 2.0]}), "DatetimeIndex"),
        (
            pd.DataFrame(
                {"other": 1.0},
                index=pd.date_range(START, periods=10 * BUCKETS_PER_DAY, freq="5min"),
            ),
            "total_count",
        ),
        (
            pd.DataFrame(
                {"total_count": 0.0},
                index=pd.date_range(START, periods=10 * BUCKETS_PER_DAY, freq="5min"),
            ),
            "no errors",
        ),
    ],
    ids=["empty", "no-time-index", "no-count-column", "service-without-errors"],
)
def test_bad_training_data_raises_a_clear_insufficient_data(frame, message):
    with pytest.raises(InsufficientData, match=message):
        fit_anomaly_model(frame, config=CONFIG)


def test_nan_laden_irregular_history_still_gives_finite_scores():
    # given a history with NaN counts and latencies, duplicated and missing buckets
    frame = _traffic(10, seed=5)
    frame.iloc[::7, frame.columns.get_loc("total_count")] = np.nan
    frame.iloc[::3, frame.columns.get_loc("rt_p95")] = np.nan
    frame = pd.concat([frame.iloc[:1000], frame.iloc[1200:], frame.iloc[[5]]])  # gap + duplicate
    # when
    model = fit_anomaly_model(frame.iloc[:-BUCKETS_PER_DAY], config=CONFIG)
    scores = model.score(frame.iloc[-BUCKETS_PER_DAY:], config=CONFIG)
    rules = score_without_model(frame.iloc[-BUCKETS_PER_DAY:], config=CONFIG)
    # then
    for result in (*scores, *rules):
        assert math.isfinite(result.anomaly_score) and math.isfinite(result.expected)
        assert all(math.isfinite(v) for v in result.detector_scores.values())


def test_empty_and_constant_windows_score_without_crashing(model):
    # given
    constant = pd.DataFrame(
        {"total_count": 0.0}, index=pd.date_range(START, periods=BUCKETS_PER_DAY, freq="5min")
    )
    # when / then
    assert score_without_model(pd.DataFrame(), config=CONFIG) == []
    assert not any(s.is_anomaly for s in score_without_model(constant, config=CONFIG))
    assert all(0.0 <= s.anomaly_score <= 1.0 for s in model.score(constant, config=CONFIG))


def test_save_and_load_give_identical_scores(model, history, tmp_path):
    # given
    window = _next_day(history)
    before = model.score(window, config=CONFIG)
    # when
    model.save(tmp_path)
    loaded = AnomalyModel.load(tmp_path)
    # then
    assert loaded.score(window, config=CONFIG) == before
    assert loaded.report == model.report


def test_a_clean_window_scores_as_its_shuffled_duplicated_copy_does(model, history):
    # given the next day's window (clean, as the product builds it) and a copy of it with its
    # rows shuffled, five rows sent twice (the later copy counts) and counts as objects
    window = _next_day(history)
    superseded = window.iloc[:5].assign(total_count=-1.0)
    messy = pd.concat([superseded, window.sample(frac=1.0, random_state=3)])
    messy = messy.assign(total_count=messy["total_count"].astype(object))
    # then the window read as it is and the copy cleaned first score the same
    assert model.score(messy, config=CONFIG) == model.score(window, config=CONFIG)


def test_scoring_never_refits(model, history):
    # given
    window = _next_day(history)
    reference = {k: v.copy() for k, v in model.reference.items()}
    # when: scoring a wildly different window twice
    wild = window.assign(total_count=window["total_count"] * 50)
    model.score(wild, config=CONFIG)
    # then: the fitted state is untouched and ordinary windows score as before
    assert all(np.array_equal(model.reference[k], reference[k]) for k in reference)
    assert model.score(window, config=CONFIG) == model.score(window, config=CONFIG)


def _with_outages(frame: pd.DataFrame, starts: list[pd.Timestamp]) -> pd.DataFrame:
    """Outages of 30 minutes at about 20x the usual count (the simulator's kind)."""
    frame = frame.copy()
    for start in starts:
        rows = (frame.index >= start) & (frame.index < start + pd.Timedelta(minutes=30))
        frame.loc[rows, "total_count"] = 20.0 * frame.loc[rows, "total_count"] + 100.0
    return frame


def test_past_outages_in_the_history_do_not_hide_the_next_one():
    # given three weeks with three outages a week at 14:00 and the 4th week's outage, same kind
    history = _traffic(21, seed=3)
    past = [START + pd.Timedelta(days=d, hours=14) for d in range(0, 21, 2)]
    model = fit_anomaly_model(_with_outages(history, past), config=CONFIG)
    window = _next_day(history)
    onset = window.index[0].normalize() + pd.Timedelta(hours=14)
    # when
    scores = model.score(_with_outages(window, [onset]), config=CONFIG)
    outage = [s for s in scores if onset <= s.timestamp < onset + pd.Timedelta(minutes=30)]
    # then: every outage bucket is a critical anomaly; against the raw history (1 bucket in
    # 100 that high) it would have scored about 0.55, below the threshold
    assert len(outage) == 6
    assert all(s.is_anomaly and s.severity_level == "critical" for s in outage)
    assert np.mean([s.is_anomaly for s in scores if s not in outage]) < 0.02


def test_contaminated_tail_trusts_the_reference_up_to_its_contamination_share():
    # given ordinary values with 1% of incidents far above them
    rng = np.random.default_rng(0)
    reference = np.sort(np.r_[np.abs(rng.normal(0.0, 1.0, 9900)), rng.uniform(30.0, 60.0, 100)])
    # when
    tails = _contaminated_tail(reference, np.array([0.5, 1.0, 3.0, 40.0]), 0.05)
    # then: the bulk keeps its empirical tail, an incident-sized value is far rarer than the
    # 1% the raw reference says, and the tail falls with the value
    assert tails[0] == pytest.approx(np.mean(reference >= 0.5), abs=0.01)
    assert tails[1] == pytest.approx(np.mean(reference >= 1.0), abs=0.01)
    assert tails[2] < 0.05 and tails[3] < 1e-6
    assert np.all(np.diff(tails) < 0)


def test_the_stream_detector_finds_a_sustained_shift_the_others_miss(model, history):
    # given three hours at 1.3x the usual afternoon count: each bucket alone is unremarkable
    window = _next_day(history, seed=5)
    rows = (window.index.hour >= 14) & (window.index.hour < 17)
    window.loc[rows, "total_count"] = np.random.default_rng(5).poisson(78.0, rows.sum())
    without_stream = dataclasses.replace(model, stream=None)
    # when
    with_it = [
        s.is_anomaly for s, r in zip(model.score(window, config=CONFIG), rows, strict=True) if r
    ]
    without = [
        s.is_anomaly
        for s, r in zip(without_stream.score(window, config=CONFIG), rows, strict=True)
        if r
    ]
    # then: the sustained shift is found, and the model without the stream (an artifact saved
    # before it existed) still scores
    assert sum(with_it) >= 2 * max(sum(without), 6)
    assert "stream" not in without_stream.score(window, config=CONFIG)[0].detector_scores


@pytest.mark.parametrize("factor", [4.0, 0.0])
def test_buckets_back_at_their_usual_count_after_an_incident_are_not_anomalies(
    model, history, factor
):
    # given an hour at 4x the usual afternoon count (or an hour of silence), then the usual
    window = _next_day(history)
    hour = window.index[window.index.hour == 14]
    window.loc[hour, "total_count"] = window.loc[hour, "total_count"] * factor
    after = (window.index > hour[-1] + pd.Timedelta(minutes=5)) & (window.index.hour < 17)
    # when
    scores = model.score(window, config=CONFIG)
    # then: the incident is flagged to its end; from its second bucket on the recovery is not,
    # although the stream's 20-bucket windows still hold the incident (they flagged the next
    # 1 h 40 min: the first recovered bucket stays an anomaly for LOF's lagged features)
    during = [s for s, h in zip(scores, window.index.isin(hour), strict=True) if h]
    assert all(s.is_anomaly for s in during)
    recovered = [s for s, a in zip(scores, after, strict=True) if a]
    assert len(recovered) == 23
    assert not any(s.is_anomaly for s in recovered)
    assert all(s.detector_scores["stream"] < 0.5 for s in recovered)


def _quiet_traffic(days: int, *, seed: int, start: pd.Timestamp = START) -> pd.DataFrame:
    """A quiet service: 3 errors a 5-minute bucket by day, 1 by night (Poisson), so that every
    bucket's normal is under the minimum-volume guard and empty buckets happen at night."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=days * BUCKETS_PER_DAY, freq="5min")
    hour = index.hour.to_numpy()
    total = rng.poisson(np.where((hour >= 9) & (hour < 18), 3.0, 1.0)).astype(float)
    return pd.DataFrame({"total_count": total, "error_count": total}, index=index)


def test_a_service_that_stops_sending_errors_is_a_drop_once_the_silence_outweighs_its_gaps():
    # given a quiet service's model, and a next day without a single error from 14:00 to 15:00
    history = _quiet_traffic(21, seed=0)
    quiet = fit_anomaly_model(history, config=CONFIG)
    day = _quiet_traffic(1, seed=9, start=history.index[-1] + pd.Timedelta(minutes=5))
    silent = np.asarray(day.index.hour == 14)
    window = day.copy()
    window.loc[silent, ["total_count", "error_count"]] = 0.0
    # when
    scores = quiet.score(window, config=CONFIG)
    ordinary = quiet.score(day, config=CONFIG)
    old_artifact = dataclasses.replace(quiet, silence_reference=None).score(window, config=CONFIG)
    # then: the bar is 20 errors expected (the history's longest gap, a night's, was worth 9:
    # twice that is less), reached at the eighth empty bucket (each expects about 3): from
    # 14:35 on the silence is a critical drop; the ordinary day has none, and a model saved
    # before silences were scored finds none either
    assert quiet.silence_reference == pytest.approx(9.0)
    flagged = [s for s, q in zip(scores, silent, strict=True) if q and s.is_anomaly]
    assert [s.timestamp.minute for s in flagged] == list(range(35, 60, 5))
    assert {(s.anomaly_type, s.severity_level) for s in flagged} == {("drop", "critical")}
    assert not any(s.is_anomaly for s, q in zip(scores, silent, strict=True) if not q)
    assert not any(s.is_anomaly for s in ordinary)
    assert not any(s.is_anomaly for s in old_artifact)


def test_the_stream_detector_goes_on_from_the_training_history(model, history):
    # given the day after the training history, and the first day of that history
    following = _next_day(history)
    first_day = history.iloc[:BUCKETS_PER_DAY]
    warmup = MIN_BASELINE_ROWS + model.stream.config.short
    # when
    after = model.score(following, config=CONFIG)
    before_context = model.score(first_day, config=CONFIG)
    # then: the day after is scored from its first bucket (the training tail is its context);
    # a window older than the kept context starts cold, its first rows unscored by the detector
    assert any(s.detector_scores["stream"] > 0.0 for s in after[:warmup])
    assert all(s.detector_scores["stream"] == 0.0 for s in before_context[:warmup])
    assert any(s.detector_scores["stream"] > 0.0 for s in before_context[warmup:])


def test_the_stream_detector_scores_a_window_the_same_whatever_follows_it(model, history):
    # given the day after the training history and its first twelve hours
    window = _next_day(history)
    half = window.iloc[: BUCKETS_PER_DAY // 2]
    # when
    whole = [s.detector_scores["stream"] for s in model.score(window, config=CONFIG)]
    start = [s.detector_scores["stream"] for s in model.score(half, config=CONFIG)]
    # then: causal within the window, as the orchestrator's hourly re-scoring needs
    assert whole[: len(start)] == start


def test_frozen_surprise_is_the_causal_surprise_with_a_reference_that_does_not_grow():
    # given a reference and new values, one beyond the reference's tail quantile
    rng = np.random.default_rng(2)
    reference = rng.exponential(1.0, 500)
    config = StreamConfig()
    for value in (0.3, 2.0, 9.0, np.nan):
        # when
        frozen = _frozen_surprise(np.sort(reference), np.array([value]), config.tail_quantile)
        causal = _causal_surprise(np.r_[reference, value], config)
        # then
        assert frozen[0] == pytest.approx(causal[-1])


def test_training_report_describes_a_time_ordered_validation(model, history):
    report = model.report
    assert report.train_samples == len(history)
    assert 0 < report.validation_samples < len(history)
    assert 0.0 <= report.metrics["validation_anomaly_rate"] < 0.05
    assert report.hyperparameters["lof_n_neighbors"] == 20
    assert report.hyperparameters["contamination"] == 0.05


def test_config_reads_the_guides_settings_keys():
    config = AnomalyConfig.from_settings(
        {
            "ANOMALY_SCORE_THRESHOLD": 0.75,
            "ANOMALY_WARNING_THRESHOLD": 0.4,
            "ANOMALY_CRITICAL_THRESHOLD": 0.9,
            "ANOMALY_MIN_VOLUME": 2,
            "COLD_START_DAYS": 3,
        }
    )
    assert (config.score_threshold, config.warning_threshold, config.critical_threshold) == (
        0.75,
        0.4,
        0.9,
    )
    assert config.min_volume == 2 and config.cold_start_days == 3.0


# ------------------------------------------------------------------ streaming detector (NAB)


def _series(rows: int = 3000, seed: int = 1) -> tuple[np.ndarray, pd.DatetimeIndex]:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=rows, freq="5min")
    daily = 10.0 * np.sin(2 * np.pi * np.arange(rows) / BUCKETS_PER_DAY)
    return 50.0 + daily + rng.normal(0.0, 1.0, rows), index


def test_stream_scores_are_causal():
    # given
    values, index = _series()
    # when: scoring a prefix and the whole series
    full = stream_anomaly_scores(values, index)
    prefix = stream_anomaly_scores(values[:2000], index[:2000])
    # then: the first 2000 scores do not depend on what came after
    np.testing.assert_allclose(full[:2000], prefix)


def test_stream_flags_a_spike_and_not_the_daily_cycle():
    # given a daily sine with noise and one spike at row 2500
    values, index = _series()
    values[2500] += 40.0
    # when (no hold, to see the raw ranking)
    scores = stream_anomaly_scores(values, index, config=StreamConfig(hold_rows=0))
    # then: the spike is the highest score after warm-up, far above the cycle's own rows
    assert np.isfinite(scores).all() and scores.min() >= 0.0 and scores.max() < 1.0
    assert int(np.argmax(scores[600:])) + 600 == 2500
    assert scores[2500] >= 0.9
    assert np.median(scores[600:]) < 0.5


def test_stream_holds_quiet_after_each_alarm():
    # given
    values, index = _series(seed=4)
    values[[1500, 2500]] += 40.0
    config = StreamConfig()
    alarm_score = config.alarm_surprise / (1.0 + config.alarm_surprise)
    # when
    scores = stream_anomaly_scores(values, index, config=config)
    # then: every alarm is followed by hold_rows zeros — one incident, one alarm
    alarms = np.flatnonzero(scores >= alarm_score)
    assert len(alarms) > 0
    for row in alarms:
        assert scores[row + 1 : row + 1 + config.hold_rows].max(initial=0.0) == 0.0


def test_stream_handles_flat_empty_and_nan_series():
    assert stream_anomaly_scores(np.array([])).shape == (0,)
    flat = stream_anomaly_scores(np.full(500, 3.0))
    assert np.isfinite(flat).all() and flat.max() == 0.0
    gappy = np.where(np.arange(500) % 9 == 0, np.nan, np.arange(500, dtype=float) % 7)
    assert np.isfinite(stream_anomaly_scores(gappy)).all()


def test_hold_alarms_holds_then_discounts_repeats_of_the_same_incident():
    # given a surprise series with one alarm-level row and two equal repeats later on
    config = StreamConfig(
        alarm_surprise=2.5, hold_rows=10, refractory_surprise=1.0, refractory_rows=20
    )
    surprise = np.zeros(200)
    surprise[[5, 12, 17, 150]] = 3.0
    # when
    scores = hold_alarms(surprise, config)
    # then: the first row alarms at s / (1 + s); row 12 is inside the hold; row 17 (2 rows after
    # the hold) is discounted by 1.0 * exp(-12 / 20) below the alarm level; row 150 is far
    # enough for the discount to have faded and alarms again
    alarm_score = config.alarm_surprise / (1.0 + config.alarm_surprise)
    assert scores[5] == pytest.approx(0.75)
    assert scores[6:16].max() == 0.0
    discounted = 3.0 - math.exp(-12 / 20)
    assert scores[17] == pytest.approx(discounted / (1.0 + discounted))
    assert scores[17] < alarm_score
    assert scores[150] >= alarm_score
    assert np.flatnonzero(scores >= alarm_score).tolist() == [5, 150]


def test_stream_surprise_is_causal_and_flags_a_never_seen_level():
    # given a noisy flat series that moves slowly, over 300 rows, to a level it has never had
    rng = np.random.default_rng(7)
    values = 10.0 + rng.normal(0.0, 1.0, 3000)
    values[2000:2300] += np.linspace(0.0, 12.0, 300)
    values[2300:] += 12.0
    # when
    full = stream_surprise(values)
    prefix = stream_surprise(values[:2100])
    # then: row t only depends on rows <= t, and the new level is more surprising than
    # anything in the stable stretch before it
    np.testing.assert_allclose(full[:2100], prefix)
    assert full[2000:2400].max() > full[300:2000].max()


def test_runs_are_consecutive_buckets_and_each_begins_after_the_one_before():
    bucket = pd.Timedelta(minutes=5)
    t0 = pd.Timestamp("2026-01-05 03:00", tz="UTC")
    # two metrics of one bucket, a gap of one bucket, then a single bucket
    flagged = [(t0, "count"), (t0, "p95"), (t0 + bucket, "count"), (t0 + 3 * bucket, "count")]

    runs = anomalous_runs(reversed(flagged), bucket=bucket, at=lambda f: f[0])

    assert [[f[0] for f in run] for run in runs] == [[t0, t0, t0 + bucket], [t0 + 3 * bucket]]
    at = lambda f: f[0]  # noqa: E731
    # the second run's evidence begins at the first bucket after the first run
    assert previous_run_end(runs, t0 + 3 * bucket, bucket=bucket, at=at) == t0 + 2 * bucket
    assert previous_run_end(runs, t0, bucket=bucket, at=at) is None


@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_isolation_depth_scores_equal_scikit_learns_own(max_features):
    # given forests fitted as the product fits them, and with feature subsampling
    from sklearn.ensemble import IsolationForest

    from ml_prediction.engines.anomaly import isolation_depth_scores

    rng = np.random.default_rng(5)
    train = rng.normal(size=(2000, 6))
    forest = IsolationForest(
        n_estimators=64, contamination=0.05, max_features=max_features, random_state=3
    ).fit(train)
    window = np.vstack([rng.normal(size=(286, 6)), np.full((2, 6), 8.0)])

    # then the one-loop scores are scikit-learn's, exactly, outliers highest
    scores = isolation_depth_scores(forest, window)
    assert np.array_equal(scores, -forest.score_samples(window))
    assert scores[-2:].min() > np.quantile(scores[:-2], 0.99)
