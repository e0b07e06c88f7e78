"""Error predictor and the learning loop: macro ROC-AUC, what feedback changed, outcomes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.catalog import INCIDENT
from ml_prediction.engines.predictor import (
    PredictorConfig,
    _apply_feedback,
    fit_error_predictor,
    future_labels,
)
from ml_prediction.engines.simulator import SimulationConfig, simulate

FAST = dict(horizons_minutes=(30,), min_training_buckets=288, n_estimators=40)
INDEX = pd.date_range("2026-01-05", periods=12, freq="5min", tz="UTC")


@pytest.fixture(scope="module")
def sim_frame() -> pd.DataFrame:
    config = SimulationConfig(
        days=10,
        services=("django",),
        seed=4,
        start=datetime(2026, 1, 5, tzinfo=UTC),
        incidents_per_week=8,
    )
    return simulate(config).bucket_frames()["django"]


def test_the_macro_roc_auc_is_the_mean_of_the_heads_where_defined():
    from ml_prediction.engines.predictor import _macro_roc_auc

    metrics = {
        "roc_auc": 0.919,  # pooled: higher than every head
        "timeout@30.roc_auc": 0.9,
        "incident@1440.roc_auc": 0.5,
        "database@30.precision": 0.4,
    }

    assert _macro_roc_auc(metrics) == {"roc_auc_macro": 0.7, "roc_auc_heads": 2.0}
    assert _macro_roc_auc({"roc_auc": 0.9}) == {}


def test_the_held_out_report_has_the_macro_roc_auc_and_the_feedback_figures(sim_frame):
    model = fit_error_predictor(sim_frame, config=PredictorConfig(**FAST))
    metrics = model.report.metrics

    heads = [v for k, v in metrics.items() if k.endswith(".roc_auc") and "@" in k]
    assert metrics["roc_auc_macro"] == pytest.approx(np.mean(heads), abs=1e-3)
    assert "roc_auc" in metrics  # the pooled figure is still reported
    assert metrics["feedback_rows"] == 0 and metrics["feedback_changed"] == 0


def _labels(values: list[float]) -> dict[tuple[str, int], pd.Series]:
    return {("timeout", 30): pd.Series(values, index=INDEX[: len(values)], dtype=float)}


def test_a_false_positive_verdict_does_not_override_a_burst_the_data_shows():
    labels = _labels([1.0, 0.0, np.nan])
    feedback = pd.DataFrame(
        {
            "timestamp": [INDEX[0], INDEX[1], INDEX[2]],
            "verdict": ["false_positive", "true_positive", "false_positive"],
            "target": "timeout",
        }
    )

    effect = _apply_feedback(labels, feedback, 5)

    # the data said 1 at INDEX[0]: kept; a person's "it happened" still turns a 0 into a 1;
    # an unobserved future takes the verdict
    assert labels[("timeout", 30)].tolist() == [1.0, 1.0, 0.0]
    assert (effect.rows, effect.applied, effect.changed, effect.overruled_by_data) == (3, 3, 2, 1)
    assert effect.changed_at == (INDEX[1], INDEX[2])


def test_feedback_that_agrees_with_the_data_changes_nothing():
    labels = _labels([1.0, 0.0])
    feedback = pd.DataFrame(
        {"timestamp": [INDEX[0], INDEX[1], INDEX[11]], "occurred": [True, False, True]}
    )

    effect = _apply_feedback(labels, feedback, 5)

    assert (effect.applied, effect.changed, effect.overruled_by_data) == (2, 0, 0)


def test_the_report_says_where_the_changed_labels_fell(sim_frame):
    config = PredictorConfig(**FAST, targets=("timeout",))
    n = len(sim_frame)
    # verdicts on quiet buckets early (training rows) and in the newest 15% (held-out rows)
    early, late = sim_frame.index[200:260:2], sim_frame.index[n - 100 : n - 40 : 2]
    feedback = pd.DataFrame(
        {"timestamp": early.append(late), "verdict": "true_positive", "target": "timeout"}
    )

    metrics = fit_error_predictor(sim_frame, config=config, feedback=feedback).report.metrics

    # the early verdicts teach; the held-out ones are counted, not applied
    assert metrics["feedback_rows"] == 60 and metrics["feedback_applied"] == 30
    assert metrics["feedback_heldout_not_applied"] == 30
    assert metrics["feedback_changed"] == metrics["feedback_changed_labels_train"] > 0
    assert metrics["feedback_changed_labels_calibration"] == 0
    assert "feedback_changed_labels_test" not in metrics


def test_feedback_on_held_out_buckets_never_changes_the_held_out_figures(sim_frame):
    """Found in review: "true positive" verdicts on held-out buckets the model scored ≥ 0.3
    raised its held-out precision to 1.00 and its ROC-AUC (which promotion and the paging
    gate read): each new model was graded on agreeing with the one people had judged."""
    config = PredictorConfig(**FAST, targets=("timeout",))
    plain = fit_error_predictor(sim_frame, config=config)
    held_out = sim_frame.index >= plain.heldout_start
    scores = plain.predict_proba_frame(sim_frame)["timeout@30"]
    flagged = scores[held_out & (scores.reindex(sim_frame.index).to_numpy() >= 0.3)].index
    assert len(flagged) > 0
    feedback = pd.DataFrame({"timestamp": flagged, "verdict": "true_positive", "target": "timeout"})

    judged = fit_error_predictor(sim_frame, config=config, feedback=feedback)

    for name in ("timeout@30.roc_auc", "timeout@30.precision", "timeout@30.positives"):
        assert judged.report.metrics[name] == plain.report.metrics[name]


def test_the_burst_thresholds_are_fitted_without_the_held_out_rows(sim_frame):
    from ml_prediction.engines.predictor import burst_thresholds

    config = PredictorConfig(**FAST, targets=("timeout",))
    test_start = int(len(sim_frame) * (1 - config.test_fraction))
    # a busy service whose held-out days are busier still
    busy = sim_frame.copy()
    column = busy.columns.get_loc("timeout_count")
    busy.iloc[:, column] = busy.iloc[:, column] * 4 + 8
    busy.iloc[test_start:, column] = busy.iloc[test_start:, column] * 3
    assert burst_thresholds(busy, config) != burst_thresholds(busy.iloc[:test_start], config)

    model = fit_error_predictor(busy, config=config)

    # the label definition comes from the rows the model learns from only
    assert model.thresholds == burst_thresholds(busy.iloc[:test_start], config)


def test_first_burst_uses_the_models_thresholds_and_the_incident_is_any_burst():
    from ml_prediction.engines.predictor import first_burst

    frame = pd.DataFrame(
        {"total_count": [3.0] * 6, "timeout_count": [1, 2, 30, 40, 1, 1.0]}, index=INDEX[:6]
    )
    thresholds = {"timeout": 25.0, "critical": 3.0}

    assert (
        first_burst(frame, target="timeout", thresholds=thresholds, bucket_minutes=5) == (INDEX[2])
    )
    assert (
        first_burst(frame, target=INCIDENT, thresholds=thresholds, bucket_minutes=5) == (INDEX[2])
    )
    assert first_burst(frame, target="critical", thresholds=thresholds, bucket_minutes=5) is None
    assert (
        first_burst(
            frame, target="timeout", thresholds={"timeout": 50.0, "critical": 3}, bucket_minutes=5
        )
        is None
    )
    with pytest.raises(KeyError):
        first_burst(frame, target="database", thresholds=thresholds, bucket_minutes=5)


def test_first_burst_agrees_with_the_training_label():
    from ml_prediction.engines.predictor import first_burst

    # the label at bucket t looks at (t, t + h]; first_burst over those buckets says the same
    counts = pd.Series([0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0.0], index=INDEX)
    events = counts >= 25
    labels = future_labels(events, 2)
    frame = pd.DataFrame({"total_count": counts, "timeout_count": counts})
    for t in range(len(INDEX) - 2):
        window = frame.iloc[t + 1 : t + 3]
        hit = first_burst(window, target="timeout", thresholds={"timeout": 25}, bucket_minutes=5)
        assert (hit is not None) == bool(labels.iloc[t])


# --- champion vs challenger on the same held-out rows ----------------------------------------


def _signal_frame(n: int = 9000, seed: int = 0, *, blind: bool = False) -> pd.DataFrame:
    """Rising pool usage precedes a database burst; `blind` replaces the pool signal by noise."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-05", periods=n, freq="5min", tz="UTC")
    database = rng.poisson(1.0, n).astype(float)
    pool = 30 + rng.normal(0, 2, n)
    for t in range(20, n - 10):
        if rng.random() < 0.03 and pool[t - 5 : t].max() < 60:
            pool[t : t + 3] = 90
            if rng.random() < 0.7:
                database[t + 3] += 40
    if blind:
        pool = 30 + rng.normal(0, 2, n)
    return pd.DataFrame(
        {
            "total_count": database + 2,
            "database_count": database,
            "error_count": database + 2,
            "metric_db_pool_in_use": pool,
        },
        index=index,
    )


CMP = dict(targets=("database",), horizons_minutes=(30,), min_training_buckets=288, n_estimators=40)


@pytest.fixture(scope="module")
def signal_models():
    frame = _signal_frame()
    config = PredictorConfig(**CMP)
    challenger = fit_error_predictor(frame, config=config)
    older = fit_error_predictor(frame.iloc[:7000], config=config)
    blind = fit_error_predictor(_signal_frame(blind=True).iloc[:7000], config=config)
    return frame, challenger, older, blind


def test_a_model_records_where_its_held_out_rows_start(signal_models):
    frame, challenger, _, _ = signal_models
    config = PredictorConfig(**CMP)
    assert challenger.heldout_start == frame.index[int(len(frame) * (1 - config.test_fraction))]


def test_the_champion_is_scored_on_the_challengers_held_out_rows(signal_models):
    from ml_prediction.engines.predictor import compare_on_heldout

    frame, challenger, older, blind = signal_models
    # the same model against itself: the same score
    same = compare_on_heldout(challenger, challenger, frame)
    assert same.challenger == same.champion and same.heads == ["database@30"]
    assert same.since == challenger.heldout_start
    assert same.rows == int((frame.index >= challenger.heldout_start).sum())
    # a champion that never learnt the precursor loses on the same rows
    against_blind = compare_on_heldout(challenger, blind, frame)
    assert against_blind.challenger > 0.65  # rows before the signal cannot be told apart
    assert against_blind.champion < against_blind.challenger - 0.15
    # an older champion that learnt it is close
    against_older = compare_on_heldout(challenger, older, frame)
    assert abs(against_older.champion - against_older.challenger) < 0.05


def test_no_unfair_or_impossible_comparison(signal_models):
    import dataclasses

    from ml_prediction.engines.predictor import compare_on_heldout
    from ml_prediction.engines.types import InsufficientData

    frame, challenger, older, _ = signal_models
    # the "champion" held out later rows than the challenger: it trained on the challenger's
    with pytest.raises(InsufficientData, match="trained on rows the challenger holds out"):
        compare_on_heldout(older, challenger, frame.iloc[:7000])
    # an artifact from before held-out starts were recorded
    legacy = dataclasses.replace(older, heldout_start=None)
    with pytest.raises(InsufficientData, match="predates"):
        compare_on_heldout(challenger, legacy, frame)
    # no burst at all in the held-out rows: nothing to rank
    quiet = frame.copy()
    quiet.loc[quiet.index >= challenger.heldout_start, "database_count"] = 0.0
    with pytest.raises(InsufficientData, match="both outcomes"):
        compare_on_heldout(challenger, older, quiet)


def test_each_head_reports_its_skill_on_the_calibration_rows_too(signal_models):
    """The paging gate reads this one: choosing heads on the test slice's AUC and then
    reporting that AUC for the heads chosen would flatter it."""
    _, challenger, _, _ = signal_models
    metrics = challenger.report.metrics

    assert 0.5 < metrics["database@30.cal_roc_auc"] <= 1.0
    assert "database@30.roc_auc" in metrics
    assert metrics["roc_auc_macro"] == metrics["database@30.roc_auc"]  # not the calibration one
