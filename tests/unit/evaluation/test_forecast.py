"""Forecasting evaluation: the quick run produces an honest markdown section from real data,
every held-out day is forecast from the history before it only, and worker processes change
nothing but the wall-clock time."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd
import pytest

from ml_prediction.engines.forecasting import ForecastConfig, mase_scale
from ml_prediction.evaluation import forecast as evaluation


def test_quick_run_reports_every_category_with_finite_figures(datasets_dir):
    messages: list[str] = []
    # when two days per NAB file are held out, in two worker processes
    markdown = evaluation.run(
        datasets_dir, quick=True, progress=messages.append, nab_days=2, jobs=2
    )
    # then
    assert markdown.startswith("## Forecasting")
    assert "`python manage.py evaluate forecast --quick --nab-days 2`" in markdown
    assert "3 NAB files (quick subset) × 2 held-out days" in markdown
    assert "with 2 worker processes" in markdown
    for name in evaluation.QUICK_FILES:
        assert f"| {name.split('/')[0]} | 1 |" in markdown
    assert "| **all NAB** | 3 |" in markdown
    assert "Last day only (the single-origin protocol): mean MASE" in markdown
    assert "Models chosen by the backtest (one choice per file and held-out day)" in markdown
    assert "### Error-rate series (simulator)" in markdown
    assert "| django |" in markdown
    assert "nan" not in markdown.lower()
    # one progress line per file or service, counted and timed, whatever order they finish in
    assert len(messages) == len(evaluation.QUICK_FILES) + 1
    assert sorted(int(m.split()[1].split("/")[0]) for m in messages) == [1, 2, 3, 4]
    assert all(m.endswith("s elapsed)") for m in messages)


def test_evaluate_series_scores_the_held_out_tail_against_seasonal_naive():
    # given a noisy daily cycle whose level steps up two days before the end
    rng = np.random.default_rng(0)
    t = np.arange(24 * 20, dtype=float)
    values = 100 + 20 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 2, len(t))
    values[-48:] += 30
    index = pd.date_range("2026-01-05", periods=len(t), freq="60min", tz="UTC")
    config = ForecastConfig(candidates=("seasonal_naive", "holt_winters"))
    # when
    result = evaluation.evaluate_series(
        "x/y.csv", "x", pd.Series(values, index=index), config=config
    )
    # then: the figures are computed on the 24 held-out steps and are finite
    assert result.steps == 24
    assert 0 <= result.covered <= 24
    assert math.isfinite(result.mase) and math.isfinite(result.baseline_mase)
    assert result.smape > 0
    summary = evaluation.summarise([result])
    assert summary["mean_mase"] == result.mase
    assert summary["coverage"] == result.covered / 24


def test_series_with_mostly_gaps_is_reported_not_crashed():
    index = pd.date_range("2026-01-05", periods=24 * 10, freq="60min", tz="UTC")
    values = np.where(np.arange(len(index)) % 4 == 0, 1.0, np.nan)
    result = evaluation.evaluate_series(
        "x/gappy.csv", "x", pd.Series(values, index=index), config=ForecastConfig()
    )
    assert (result.status, result.steps) == ("insufficient_data", 0)
    assert "have no value" in result.error


def test_a_series_shorter_than_the_held_out_day_says_so():
    index = pd.date_range("2026-01-05", periods=150, freq="5min", tz="UTC")
    result = evaluation.evaluate_series(
        "x/short.csv", "x", pd.Series(np.ones(150), index=index), config=ForecastConfig()
    )
    assert (result.status, result.steps) == ("insufficient_data", 0)
    assert (
        result.error == "13 values on the 60-minute grid: no history before the 24 held-out steps"
    )


def test_a_single_value_is_counted_in_the_singular():
    index = pd.date_range("2026-01-05", periods=1, freq="5min", tz="UTC")
    result = evaluation.evaluate_series(
        "x/one.csv", "x", pd.Series(np.ones(1), index=index), config=ForecastConfig()
    )
    assert result.error == "1 value on the 60-minute grid: no history before the 24 held-out steps"


def test_daily_total_and_outside_incident_figures_are_computed_on_the_right_steps():
    # given a clean daily cycle with an "incident" (10x) in two of the held-out hours
    t = np.arange(24 * 20, dtype=float)
    values = 100 + 20 * np.sin(2 * np.pi * t / 24)
    values[-5:-3] *= 10
    index = pd.date_range("2026-01-05", periods=len(t), freq="60min", tz="UTC")
    config = ForecastConfig(candidates=("seasonal_naive", "holt_winters"))
    # when the incident hours are excluded from the calm MAPE only
    result = evaluation.evaluate_series(
        "x/y.csv", "x", pd.Series(values, index=index), config=config, exclude=index[-5:-3]
    )
    # then the hourly MAPE pays for the incident (two hours 90% off of 24: 7.5%), the calm not
    assert result.mape == pytest.approx(7.5, abs=1.0)
    assert result.calm_mape < 1
    # and the day's total is off by roughly the incident's extra errors
    extra = 9 * values[-5:-3].sum() / 10
    assert result.total_ape == pytest.approx(extra / values[-24:].sum() * 100, rel=0.1)


def test_nab_files_can_be_narrowed_by_category_and_count(datasets_dir):
    files = evaluation.nab_files(datasets_dir / "nab", quick=False, categories=["realTraffic"])
    assert files and all(f.parent.name == "realTraffic" for f in files)
    assert len(evaluation.nab_files(datasets_dir / "nab", quick=False, limit=2)) == 2


def _daily_series(days: int = 20, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(24 * days, dtype=float)
    values = 100 + 20 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 2, len(t))
    index = pd.date_range("2026-01-05", periods=len(t), freq="60min", tz="UTC")
    return pd.Series(values, index=index)


def test_each_held_out_day_is_forecast_from_the_history_before_it_only():
    # given a daily cycle whose last day jumps far up (no forecaster could know)
    series = _daily_series()
    series.iloc[-24:] += 500
    config = ForecastConfig(candidates=("seasonal_naive", "holt_winters"))
    # when the last two days are held out in turn
    days = evaluation.evaluate_origins("x/y.csv", "x", series, config=config, days=2)
    # then oldest first, each day equal to a fit on the series cut at its start
    assert [d.day for d in days] == [1, 0]
    assert [d.steps for d in days] == [24, 24]
    for day in days:
        cut = series.iloc[: len(series) - day.day * 24]
        alone = evaluation.evaluate_series("x/y.csv", "x", cut, config=config)
        assert day.mase == pytest.approx(alone.mase)
        assert day.covered == alone.covered
    # and the jump costs the last day only: the day before never saw it
    assert days[0].mase < 2 < days[1].mase
    # and the older day is scaled by the history before it, not by the whole series
    history = series.iloc[:-48].to_numpy()
    tail = series.iloc[-48:-24].to_numpy()
    by_hand = np.mean(np.abs(tail - history[-24:])) / mase_scale(history, 24)
    assert days[0].baseline_mase == pytest.approx(by_hand)


def test_skipping_the_last_days_scores_earlier_days_and_never_sees_the_skipped_ones():
    # given a daily cycle whose last two days jump far up
    series = _daily_series()
    series.iloc[-48:] += 500
    config = ForecastConfig(candidates=("seasonal_naive", "holt_winters"))
    # when two days are held out, two days before the end
    days = evaluation.evaluate_origins("x/y.csv", "x", series, config=config, days=2, skip=2)
    # then they are the third and fourth days from the end, each fitted on the history before it
    assert [d.day for d in days] == [1, 0]
    for day, back in zip(days, (3, 2), strict=True):
        cut = series.iloc[: len(series) - back * 24]
        alone = evaluation.evaluate_series("x/y.csv", "x", cut, config=config)
        assert day.mase == pytest.approx(alone.mase)
        assert day.covered == alone.covered
    # and the skipped days change nothing: the same as the series without them
    without = evaluation.evaluate_origins("x/y.csv", "x", series.iloc[:-48], config=config, days=2)
    assert [d.mase for d in days] == pytest.approx([d.mase for d in without])
    assert all(d.mase < 2 for d in days)  # the jump would have cost far more


def test_run_says_when_the_held_out_days_were_shifted(datasets_dir):
    markdown = evaluation.run(datasets_dir, quick=True, limit=1, jobs=1, skip_last_days=2)
    assert "`python manage.py evaluate forecast --quick --skip-last-days 2`" in markdown
    assert "**Tuning run, not the published protocol:**" in markdown
    assert "2 days earlier than usual" in markdown
    with pytest.raises(ValueError, match="skip_last_days"):
        evaluation.run(datasets_dir, quick=True, limit=1, jobs=1, skip_last_days=-1)


def test_a_files_figures_combine_its_days():
    # given three scored days
    config = ForecastConfig(candidates=("seasonal_naive", "holt_winters"))
    days = evaluation.evaluate_origins("x/y.csv", "x", _daily_series(), config=config, days=3)
    # when
    combined = evaluation.combine_origins(days)
    # then MASE is the mean of the days' MASEs; sMAPE and coverage are over all 72 steps
    assert combined.mase == pytest.approx(np.mean([d.mase for d in days]))
    assert combined.baseline_mase == pytest.approx(np.mean([d.baseline_mase for d in days]))
    assert (combined.steps, combined.origins) == (72, 3)
    assert combined.covered == sum(d.covered for d in days)
    assert combined.smape == pytest.approx(np.mean([d.smape for d in days]))
    assert combined.algorithm == ", ".join(d.algorithm for d in days)
    assert evaluation.summarise([combined])["coverage"] == combined.covered / 72


def test_days_without_enough_history_are_left_out_and_counted():
    # given five days of data: the older origins leave too little history to fit
    config = ForecastConfig(candidates=("seasonal_naive", "holt_winters"))
    days = evaluation.evaluate_origins("x/y.csv", "x", _daily_series(5), config=config, days=5)
    # when
    combined = evaluation.combine_origins(days)
    # then only the scored days count
    scored = [d for d in days if d.steps]
    assert 0 < len(scored) < 5
    assert [d.status for d in days if not d.steps] == ["insufficient_data"] * (5 - len(scored))
    assert (combined.origins, combined.steps) == (len(scored), 24 * len(scored))
    assert combined.mase == pytest.approx(np.mean([d.mase for d in scored]))
    # and a series with no scored day reports the last day's failure
    nothing = evaluation.combine_origins(days[:2])
    assert (nothing.status, nothing.steps, nothing.origins) == ("insufficient_data", 0, 0)


def _without_timing(results: list[list[evaluation.SeriesResult]]) -> list[list[object]]:
    return [[replace(r, fit_seconds=0.0) for r in rows] for rows in results]


def test_worker_processes_give_the_same_results_in_the_same_order():
    # given two series, two held-out days each
    config = ForecastConfig(candidates=("seasonal_naive", "holt_winters"))
    tasks = [
        partial(
            evaluation.evaluate_origins,
            f"x/{seed}.csv",
            "x",
            _daily_series(seed=seed),
            config=config,
            days=2,
        )
        for seed in range(2)
    ]
    finished: list[int] = []
    # when run in this process and in two worker processes
    alone = evaluation.run_parallel(tasks, jobs=1)
    pooled = evaluation.run_parallel(tasks, jobs=2, done=lambda i, rows: finished.append(i))
    # then the results are identical and in the order of the tasks
    assert [[(r.key, r.day) for r in rows] for rows in pooled] == [
        [(f"x/{seed}.csv", 1), (f"x/{seed}.csv", 0)] for seed in range(2)
    ]
    assert _without_timing(pooled) == _without_timing(alone)
    assert sorted(finished) == [0, 1]


def test_jobs_are_capped_at_the_cores(monkeypatch):
    monkeypatch.setattr(evaluation.os, "cpu_count", lambda: 2)
    assert [evaluation.worker_count(j) for j in (1, 2, 8)] == [1, 2, 2]
    monkeypatch.setattr(evaluation.os, "cpu_count", lambda: None)
    assert evaluation.worker_count(4) == 1


def test_the_diagnosis_quotes_the_diagnosed_files_figures_from_the_run():
    # given two days of one diagnosed file and one day of a file the diagnosis is not about
    key = evaluation.DIAGNOSED_FILES[0]
    day = evaluation.SeriesResult(
        key, "c", "ensemble", "ok", 4.25, 1.0, 1.0, 1.0, 20, 24, 1.0, day=1
    )
    rows = [day, replace(day, mase=0.5, algorithm="holt_winters", day=0)]
    rows.append(replace(day, key="c/other.csv", mase=9.0))
    rows += [replace(day, key=other) for other in evaluation.DIAGNOSED_FILES[1:]]
    # when
    paragraph = evaluation._diagnosis(rows)[0]
    # then the paragraph ends with this run's figures for it, oldest day first, and no others
    assert paragraph.startswith(evaluation.DIAGNOSIS)
    assert f"{key.split('/', 1)[1]} 4.25 (ensemble) / 0.50 (holt_winters);" in paragraph
    assert "other.csv" not in paragraph


def test_another_corpus_gets_no_diagnosis_of_files_it_does_not_have():
    # given a run on other data (--datasets): one diagnosed file's name among files of its own
    day = evaluation.SeriesResult(
        "c/mine.csv", "c", "ensemble", "ok", 4.25, 1.0, 1.0, 1.0, 20, 24, 1.0, day=0
    )
    rows = [day, replace(day, key=evaluation.DIAGNOSED_FILES[0])]

    # then the hand-written paragraph about NAB's published files is left out
    assert evaluation._diagnosis(rows) == []


def test_the_simulated_series_do_not_depend_on_the_day_the_evaluation_runs(monkeypatch):
    # given the simulator's default start (``days`` before today) moved to another day
    from datetime import UTC, datetime

    from ml_prediction.engines import simulator

    first = evaluation.simulator_series(quick=True)

    class Tomorrow(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2031, 7, 17, 9, 0, tzinfo=tz or UTC)

    monkeypatch.setattr(simulator, "datetime", Tomorrow)
    # when the series are made again
    second = evaluation.simulator_series(quick=True)
    # then they are the same hours with the same counts: a rerun reproduces the published table
    for name, simulated in first.items():
        assert simulated.errors.index[0] == pd.Timestamp(simulator.FIXED_START)
        pd.testing.assert_series_equal(simulated.errors, second[name].errors)


def test_the_rest_of_a_day_is_scored_with_and_without_its_first_hours_known():
    # given a daily cycle whose held-out day drops to a new level from its second hour on
    series = _daily_series(days=20, seed=3)
    series.iloc[-23:] -= 60
    config = ForecastConfig(candidates=("seasonal_naive", "holt_winters"))
    # when
    result = evaluation.evaluate_series("x/drop.csv", "x", series, config=config)
    # then the origin's forecast misses the new level, the conditioned one follows it for the
    # next hours (its correction fades with a 6-hour half-life; the same 18 later hours are
    # judged for both)
    assert math.isfinite(result.rest_mase) and math.isfinite(result.rest_mase_updated)
    assert result.rest_mase_updated < 0.7 * result.rest_mase
    assert result.rest_mape_updated < result.rest_mape
    # and on an ordinary day nothing moves (inside the band the forecast is left alone)
    calm = evaluation.evaluate_series("x/calm.csv", "x", _daily_series(days=20), config=config)
    assert calm.rest_mase_updated == pytest.approx(calm.rest_mase)
    combined = evaluation.combine_origins([result, calm])
    assert combined.rest_mase == pytest.approx((result.rest_mase + calm.rest_mase) / 2)


def test_a_nab_layout_file_in_iso_utc_times_loads_as_a_utc_series(tmp_path):
    # given a file with ISO times ("Z") and a value that is not a number
    path = tmp_path / "iso.csv"
    path.write_text(
        "timestamp,value\n2024-01-01T00:00:00Z,1.5\n2024-01-01T01:00:00Z,n/a\n"
        "2024-01-01T02:00:00Z,3\n"
    )

    # when it is read for forecasting
    series = evaluation.load_nab_series(path)

    # then its index is UTC and the bad value a gap
    assert str(series.index.tz) == "UTC"
    assert series.index[0] == pd.Timestamp("2024-01-01 00:00", tz="UTC")
    assert series.iloc[0] == 1.5 and np.isnan(series.iloc[1]) and series.iloc[2] == 3.0
