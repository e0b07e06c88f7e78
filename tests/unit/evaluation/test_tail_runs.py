"""The tail-run study scores the forecasts after a history ending in a short run of outliers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_prediction.evaluation.tail_runs import _beyond, file_origins, report, run


def _nab_file(tmp_path, values: np.ndarray):
    path = tmp_path / "data" / "realTest" / "dips.csv"
    path.parent.mkdir(parents=True)
    index = pd.date_range("2026-01-01", periods=len(values), freq="h")
    pd.DataFrame({"timestamp": index.strftime("%Y-%m-%d %H:%M:%S"), "value": values}).to_csv(
        path, index=False
    )
    return path


def _dip_series() -> np.ndarray:
    """20 days of a noisy daily cycle with a 2-hour dip to zero on day 10."""
    hours = np.arange(20 * 24)
    noise = np.random.default_rng(3).normal(0, 1, len(hours))
    values = 50 + 20 * np.sin(2 * np.pi * hours / 24) + noise
    values[10 * 24 + 5 : 10 * 24 + 7] = 0.0
    return values


def test_a_dip_that_ends_is_forecast_best_by_the_normal_curve(tmp_path):
    # given 20 days of a daily cycle with a 2-hour dip to zero on day 10
    values = _dip_series()
    path = _nab_file(tmp_path, values)

    # when the study scores every earlier origin
    rows = pd.DataFrame(file_origins(path))

    # then the origins inside the dip are found, with the run so far
    assert list(rows["run"]) == [1, 2]
    assert (rows["file"] == "realTest/dips.csv").all()
    # and tagged as a run downward to a level below every earlier value
    assert (rows["direction"] == "down").all()
    assert (rows["beyond"] == "below").all()
    # and, the dip being over, the normal curve beats following it, and fading lies between
    assert (rows["normal"] < rows["fade_3h"]).all()
    assert (rows["fade_3h"] < rows["fade_12h"]).all()
    assert (rows["fade_12h"] < rows["follow"]).all()
    text = report(rows)
    assert "2 origins ending in a cleaned run" in text
    assert "by direction:" in text and "by beyond:" in text


def test_a_value_is_beyond_the_history_only_outside_its_range():
    before = np.array([3.0, 5.0, 4.0])
    assert _beyond(2.9, before) == "below"
    assert _beyond(5.1, before) == "above"
    assert _beyond(3.0, before) == "inside"
    assert _beyond(5.0, before) == "inside"


def test_a_file_too_gappy_to_forecast_gives_no_origins(tmp_path):
    values = np.full(20 * 24, np.nan)
    values[::5] = 1.0
    assert file_origins(_nab_file(tmp_path, values)) == []


def test_the_study_reads_every_file_under_data(tmp_path):
    _nab_file(tmp_path, _dip_series())

    table = run(tmp_path, jobs=1)

    assert list(table["run"]) == [1, 2]
