"""Error-prediction evaluation: the scorer on hand-made cases and a small end-to-end run."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ml_prediction.engines.simulator import Incident, NearMiss
from ml_prediction.evaluation.prediction import (
    LEARNING_VARIANT,
    SILENCE_HOURS,
    SILENCE_STARTS,
    evaluate_anomaly_detection,
    evaluate_silences,
    evaluate_simulation,
    run,
    score_alerts,
    score_detections,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def incident(minutes: int, precursors: bool = True) -> Incident:
    start = T0 + timedelta(minutes=minutes)
    return Incident(
        f"i{minutes}",
        "django",
        start,
        start + timedelta(minutes=20),
        "database",
        precursors,
        "db_pool_exhaustion",
    )


def alerts_at(*buckets: int, n: int = 100) -> pd.Series:
    index = pd.date_range(T0, periods=n, freq="5min", tz="UTC")
    values = [i in buckets for i in range(n)]
    return pd.Series(values, index=index)


def test_early_alert_counts_with_its_lead_time_and_a_stray_alert_costs_precision():
    # given an incident at minute 200 (bucket 40), an alert at bucket 35 and a stray one at bucket 80
    score = score_alerts(alerts_at(35, 80), [incident(200)], bucket_minutes=5)
    # then the incident is caught 20 minutes early (alert known at 180) and precision is 1/2
    assert score.precursor_detected == 1 and score.lead_minutes == [20.0]
    assert score.episodes == 2 and score.true_episodes == 1 and score.precision == 0.5


def test_alerts_during_an_incident_are_not_predictions():
    score = score_alerts(alerts_at(41, 42, 43), [incident(200)], bucket_minutes=5)
    assert score.episodes == 0 and score.precursor_detected == 0


def test_alert_too_early_misses_and_sudden_incidents_are_reported_apart():
    score = score_alerts(
        alerts_at(20), [incident(200), incident(400, precursors=False)], bucket_minutes=5
    )
    assert (
        score.precursor_detected == 0 and score.sudden_incidents == 1 and score.recall_sudden == 0.0
    )


def test_false_alarms_during_or_just_after_a_near_miss_are_counted_apart():
    # a near miss from minute 100 to 130; false alarms at buckets 22 (during it), 31 (within the
    # 30-minute horizon after it) and 70 (nowhere near it); a true one at 35 before the incident
    near = NearMiss("django", T0 + timedelta(minutes=100), T0 + timedelta(minutes=130), "db_pool")
    score = score_alerts(
        alerts_at(22, 31, 35, 70), [incident(200)], bucket_minutes=5, near_misses=[near]
    )
    assert score.episodes == 4 and score.true_episodes == 1
    assert score.near_miss_episodes == 2


def test_an_anomaly_alert_in_an_outage_detects_it_with_its_delay_and_strays_are_false():
    # given outages at minutes 200 (precursors from 170) and 400 (sudden); alerts at bucket 36
    # (during the precursors), 42 (in the first outage), 70 (stray), 90 (just before the second
    # outage: not within it) and a near miss from minute 100 to 130 with an alert at bucket 22
    first = dataclasses.replace(incident(200), precursor_start=T0 + timedelta(minutes=170))
    near = NearMiss("django", T0 + timedelta(minutes=100), T0 + timedelta(minutes=130), "db_pool")
    # when
    score = score_detections(
        alerts_at(22, 36, 42, 70, 78, n=100),
        [first, incident(400, precursors=False)],
        [near],
        bucket_minutes=5,
    )
    # then: the first is found 15 minutes before its onset (bucket 36 closes at 185), the second
    # is missed; 70 and 78 are false, 22 is at a near miss, 42 is part of the outage
    assert (score.incidents, score.detected, score.delays) == (2, 1, [-15.0])
    assert score.false_episodes == 2 and score.near_miss_episodes == 1
    assert score.days == pytest.approx(100 * 5 / 1440)


def test_alerts_during_an_unscored_incident_are_neither_detections_nor_false():
    # given an incident already going on when the replay starts, with an alert in it
    score = score_detections(alerts_at(42), [], [], bucket_minutes=5, unscored=[incident(200)])
    # then
    assert (score.incidents, score.detected, score.false_episodes) == (0, 0, 0)


def test_anomaly_detection_evaluation_finds_the_generators_outages():
    scores = evaluate_anomaly_detection(days=21, services=("django",), seed=7)
    product = scores[("+ streaming detector (product)", 2)]
    single = scores[("+ streaming detector (product)", 1)]
    assert single.detected >= product.detected and single.false_episodes >= product.false_episodes
    assert product.incidents >= 3
    assert product.detected >= 0.8 * product.incidents
    assert product.false_episodes <= product.days
    learning = scores[(LEARNING_VARIANT, 2)]
    assert 0 < learning.days <= 6 and learning.detected == learning.incidents


def test_every_injected_silence_pages_and_is_explained_as_one():
    # given the product model replayed over silences injected into a django replay
    scores = evaluate_silences(days=42, services=("django",), seed=7)
    # then each paged within its two hours, and its episode reads as a service gone silent
    silences = [s for s in scores.values() if s.silences]
    assert sum(s.silences for s in silences) == len(SILENCE_STARTS)
    assert all(s.paged == s.silences and s.explained == s.paged for s in silences)
    assert all(0 < d < 60 * SILENCE_HOURS for s in silences for d in s.delays)
    assert all(e > 0 for s in silences for e in s.expected)


def test_small_evaluation_runs_and_beats_the_baseline_on_recall():
    results = evaluate_simulation(days=21, services=("django",), seed=7)
    model, baseline = results["model"], results["baseline"]
    assert model.precursor_incidents >= 1
    assert model.recall_precursor >= baseline.recall_precursor
    assert 0.0 <= model.precision <= 1.0


def test_run_returns_a_markdown_section(tmp_path):
    text = run(tmp_path, quick=True)
    assert text.startswith("## Error prediction")
    assert "| model |" in text and "| baseline |" in text


@pytest.mark.parametrize("fleet_training", [True, False])
def test_each_service_learns_from_the_others_training_part_only(monkeypatch, fleet_training):
    from ml_prediction.evaluation import prediction

    calls = []
    real = prediction.fit_error_predictor

    def spy(train, *, config, algorithm, fleet_frames):
        calls.append((train.index[-1], [f.index[-1] for f in fleet_frames]))
        return real(train, config=config, algorithm=algorithm, fleet_frames=fleet_frames)

    monkeypatch.setattr(prediction, "fit_error_predictor", spy)
    results = evaluate_simulation(
        days=21, services=("django", "java"), seed=7, fleet_training=fleet_training
    )
    assert len(calls) == 2
    for own_end, fleet_ends in calls:
        # the other service's history stops where the training part stops: never the replay
        assert fleet_ends == ([own_end] if fleet_training else [])
    strict = results["model ≥ 0.7 (ALERT_PROBABILITY), 3 buckets in a row"]
    assert strict.precursor_incidents == results["model"].precursor_incidents
