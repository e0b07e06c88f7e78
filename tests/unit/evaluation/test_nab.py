"""NAB scoring reproduces hand-computed scores on tiny constructed cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_prediction.evaluation import nab

STANDARD = nab.CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
LOW_FP = nab.CostMatrix(tp_weight=1.0, fp_weight=0.22, fn_weight=1.0)
LOW_FN = nab.CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=2.0)
ROWS = 100  # probation = floor(0.15 * 100) = 15 rows
WINDOW = (40, 59)  # 20 rows wide


def _sigmoid_reward(position: float) -> float:
    """NAB's scaled sigmoid written out by hand: 2 / (1 + e^(5x)) - 1."""
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def _file(windows=(WINDOW,), rows=ROWS) -> nab.NabFile:
    index = pd.date_range("2024-01-01", periods=rows, freq="5min")
    return nab.NabFile(
        key="toy/toy.csv", timestamps=index, values=np.zeros(rows), windows=list(windows)
    )


def _scores(*detections: tuple[int, float], rows=ROWS) -> np.ndarray:
    scores = np.zeros(rows)
    for row, value in detections:
        scores[row] = value
    return scores


def _raw(scores: np.ndarray, cost: nab.CostMatrix, windows=(WINDOW,), threshold=0.5) -> float:
    rows = nab.sweep_rows(len(scores), list(windows), cost)
    return nab.raw_score([scores], [rows], cost, threshold)


@pytest.mark.parametrize(
    ("position", "expected"),
    [(-1.0, 0.98661), (-0.5, 0.84828), (0.0, 0.0), (1.0, -0.98661), (3.0, -1.0), (50.0, -1.0)],
)
def test_scaled_sigmoid_matches_nab_reference_points(position, expected):
    assert float(nab.scaled_sigmoid(position)) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(("rows", "expected"), [(100, 15), (4032, 604), (22695, 750.0)])
def test_probation_is_15_percent_capped_at_750_rows(rows, expected):
    assert nab.probation_length(rows) == expected


def test_detection_at_window_start_scores_one_true_positive():
    # given a detection on the first row of the window
    scores = _scores((WINDOW[0], 1.0))
    # when / then: -(59 - 40 + 1) / 20 = -1 → reward / reward(-1) = exactly 1
    assert _raw(scores, STANDARD) == pytest.approx(1.0)


def test_an_early_detection_scores_more_than_a_late_one():
    # given
    early = _scores((42, 1.0))
    late = _scores((55, 1.0))
    # when
    early_score = _raw(early, STANDARD)
    late_score = _raw(late, STANDARD)
    # then: each equals the hand-computed sigmoid of its position in the window
    assert early_score == pytest.approx(_sigmoid_reward(-(59 - 42 + 1) / 20) / _sigmoid_reward(-1))
    assert late_score == pytest.approx(_sigmoid_reward(-(59 - 55 + 1) / 20) / _sigmoid_reward(-1))
    assert early_score > late_score > 0


def test_only_the_first_detection_in_a_window_counts():
    # given three detections in the same window
    scores = _scores((45, 1.0), (50, 1.0), (58, 1.0))
    # when / then: worth the first one alone
    assert _raw(scores, STANDARD) == pytest.approx(_raw(_scores((45, 1.0)), STANDARD))


@pytest.mark.parametrize(
    ("cost", "expected"), [(STANDARD, -0.11), (LOW_FP, -0.22), (LOW_FN, -0.11)]
)
def test_false_positive_before_any_window_costs_the_profile_weight(cost, expected):
    # given a detection at row 20 (after probation, before the window) and the window detected
    scores = _scores((20, 1.0), (WINDOW[0], 1.0))
    # when / then: 1 for the window, minus the full FP weight
    assert _raw(scores, cost) == pytest.approx(1.0 + expected)


def test_false_positive_after_a_window_costs_less_the_closer_it_is():
    # given a detected window, then one detection 5 rows after it, or one 60 rows after it
    near = _scores((WINDOW[0], 1.0), (64, 1.0), rows=200)
    far = _scores((WINDOW[0], 1.0), (119, 1.0), rows=200)
    # when
    near_score = _raw(near, STANDARD)
    far_score = _raw(far, STANDARD)
    # then: position past the window = distance / (width - 1)
    assert near_score == pytest.approx(1.0 + 0.11 * _sigmoid_reward(5 / 19))
    assert far_score == pytest.approx(1.0 - 0.11)  # 60 / 19 >= 3 → full cost
    assert near_score > far_score


@pytest.mark.parametrize(("cost", "expected"), [(STANDARD, -1.0), (LOW_FN, -2.0)])
def test_a_missed_window_costs_the_false_negative_weight(cost, expected):
    assert _raw(np.zeros(ROWS), cost) == pytest.approx(expected)


def test_detections_in_the_probationary_period_are_ignored():
    # given a detection at row 10 (probation is rows 0–14) and nothing else
    scores = _scores((10, 1.0))
    # when / then: same as detecting nothing
    assert _raw(scores, STANDARD) == pytest.approx(-1.0)


def test_threshold_is_chosen_to_maximise_the_score():
    # given a false positive scored 0.9 and the window detected at 0.8
    scores = _scores((20, 0.9), (WINDOW[0], 0.8))
    rows = nab.sweep_rows(ROWS, [WINDOW], STANDARD)
    # when
    threshold, raw = nab.optimise_threshold([scores], [rows], STANDARD)
    # then: taking both (1 - 0.11) beats taking nothing (-1) or only the FP (-1.11)
    assert threshold == pytest.approx(0.8)
    assert raw == pytest.approx(0.89)


def test_threshold_excludes_false_positives_when_they_cost_more_than_they_bring():
    # given twenty false positives scored as high as the only (late) detection in the window
    scores = _scores(*[(20 + i, 0.9) for i in range(20)], (58, 0.9))
    rows = nab.sweep_rows(ROWS, [WINDOW], STANDARD)
    # when
    threshold, raw = nab.optimise_threshold([scores], [rows], STANDARD)
    # then: 20 × 0.11 = 2.2 outweighs the late reward (≈ 0.25) plus the avoided miss (1)
    assert threshold == np.inf
    assert raw == pytest.approx(-1.0)


def test_normalised_score_is_100_for_perfect_and_0_for_null():
    # given
    corpus = [_file(), _file(windows=[(30, 39), (70, 79)])]
    perfect = [_scores(*[(left, 1.0) for left, _ in f.windows]) for f in corpus]
    null = [np.full(ROWS, 0.5) for _ in corpus]
    # when
    best = nab.score_profile(corpus, perfect, "standard", STANDARD)
    none = nab.score_profile(corpus, null, "standard", STANDARD)
    # then
    assert best.normalised == pytest.approx(100.0)
    assert best.true_positives == 3 and best.false_positives == 0
    assert none.normalised == pytest.approx(0.0)


def _brute_force_raw(scores, windows, cost, threshold):
    """Straight from the rules, row by row: the reference the vectorised sweep must match."""
    probation = nab.probation_length(len(scores))
    total = 0.0
    best = {}
    for i, value in enumerate(scores):
        inside = [k for k, (left, right) in enumerate(windows) if left <= i <= right]
        if inside:
            best.setdefault(inside[0], None)
        if i < probation or value < threshold:
            continue
        if inside:
            left, right = windows[inside[0]]
            reward = _sigmoid_reward(-(right - i + 1) / (right - left + 1)) / _sigmoid_reward(-1)
            best[inside[0]] = max(best[inside[0]] or -math.inf, reward * cost.tp_weight)
        else:
            before = [(left, right) for left, right in windows if right < i]
            if not before:
                total -= cost.fp_weight
            else:
                left, right = before[-1]
                position = (i - right) / (right - left)
                reward = -1.0 if position >= 3 else _sigmoid_reward(position)
                total += reward * cost.fp_weight
    for value in best.values():
        total += -cost.fn_weight if value is None else value
    return total


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("cost", [STANDARD, LOW_FP, LOW_FN], ids=["std", "lowfp", "lowfn"])
def test_vectorised_sweep_matches_the_rules_row_by_row(seed, cost):
    # given random scores on a file with two windows
    rng = np.random.default_rng(seed)
    windows = [(30, 44), (80, 99)]
    scores = np.round(rng.random(140), 2)
    rows = nab.sweep_rows(len(scores), windows, cost)
    # when / then: every candidate threshold agrees with the brute force
    for threshold in (0.5, 0.9, 0.97, 0.99):
        assert nab.raw_score([scores], [rows], cost, threshold) == pytest.approx(
            _brute_force_raw(scores, windows, cost, threshold)
        )


def test_corpus_loads_all_58_files_and_116_windows(datasets_dir):
    # when
    corpus = nab.load_corpus(datasets_dir / "nab")
    # then
    assert len(corpus) == 58
    assert sum(len(f.windows) for f in corpus) == 116
    assert all(0 <= left <= right < len(f.values) for f in corpus for left, right in f.windows)


def test_export_writes_nabs_results_layout(tmp_path):
    # given
    corpus = [_file()]
    # when
    written = nab.export_results(tmp_path, corpus, [_scores((45, 0.8))])
    # then
    path = tmp_path / nab.DETECTOR_NAME / "toy" / f"{nab.DETECTOR_NAME}_toy.csv"
    frame = pd.read_csv(path)
    assert written == 1
    assert list(frame.columns) == ["timestamp", "value", "anomaly_score", "label"]
    assert frame["label"].sum() == WINDOW[1] - WINDOW[0] + 1
    assert frame.loc[45, "anomaly_score"] == pytest.approx(0.8)


def test_quick_runs_pick_the_preferred_files_or_else_the_corpus_first_ones(tmp_path):
    # given a NAB-shaped corpus whose file names are not NAB's
    for key in ("b/two.csv", "a/one.csv", "c/three.csv"):
        (tmp_path / "data" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / key).write_text("timestamp,value\n")
    # then: the preferred files it has, else its first ones in sorted order
    assert nab.quick_keys(tmp_path, ("c/three.csv", "x/missing.csv")) == ["c/three.csv"]
    assert nab.quick_keys(tmp_path, ("x/missing.csv", "y/gone.csv")) == ["a/one.csv", "b/two.csv"]


def test_product_form_is_causal_and_finds_a_spike_after_its_first_day():
    # given five days of a noisy 5-minute series with a spike on day 4 (the prefix ends on an
    # hour: the replay scores whole hours)
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-01-01", periods=5 * 288, freq="5min")
    values = 50.0 + 5.0 * np.sin(2 * np.pi * np.arange(len(index)) / 288)
    values = values + rng.normal(0.0, 1.0, len(index))
    values[3 * 288 + 100] += 40.0
    # when
    full = nab.product_form_surprise(values, index)
    prefix = nab.product_form_surprise(values[: 3 * 288 + 156], index[: 3 * 288 + 156])
    # then: no model on the first day; row t depends on rows <= t only; the spike stands out
    assert not full[:288].any()
    np.testing.assert_allclose(full[: 3 * 288 + 156], prefix)
    assert int(np.argmax(full)) == 3 * 288 + 100


def _corpus_dir(tmp_path, files: dict[str, pd.DataFrame], windows: dict[str, list]) -> Path:
    """A NAB-layout corpus under tmp_path/nab with these data files and labels."""
    nab_dir = tmp_path / "nab"
    for key, frame in files.items():
        (nab_dir / "data" / key).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(nab_dir / "data" / key, index=False)
    (nab_dir / "labels").mkdir(parents=True)
    (nab_dir / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    return nab_dir


def test_a_corpus_in_iso_utc_times_with_bad_values_loads_and_matches_its_labels(tmp_path):
    # given a file written with ISO times in UTC ("Z"), a value that is not a number and a
    # blank one, labelled with NAB's naive times
    stamps = pd.date_range("2024-01-01", periods=6, freq="5min", tz="UTC")
    frame = pd.DataFrame(
        {
            "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "value": ["1.5", "n/a", "", "4", "5", "6"],
        }
    )
    nab_dir = _corpus_dir(
        tmp_path,
        {"realOps/iso.csv": frame},
        {"realOps/iso.csv": [["2024-01-01 00:10:00.000000", "2024-01-01 00:20:00.000000"]]},
    )

    # when the corpus is read
    [loaded] = nab.load_corpus(nab_dir)

    # then the times are UTC, the bad values are gaps and the window matches its rows
    assert loaded.timestamps[0] == pd.Timestamp("2024-01-01 00:00:00")
    assert np.isnan(loaded.values[1]) and np.isnan(loaded.values[2])
    assert loaded.values[0] == 1.5
    assert loaded.windows == [(2, 4)]


def test_times_with_an_offset_are_read_in_utc(tmp_path):
    # given a file whose times carry a +02:00 offset
    frame = pd.DataFrame({"timestamp": ["2024-01-01T02:00:00+02:00"], "value": [1.0]})
    path = tmp_path / "offset.csv"
    frame.to_csv(path, index=False)

    # when / then: the first row is midnight UTC
    timestamps, values = nab.read_nab_csv(path)
    assert timestamps[0] == pd.Timestamp("2024-01-01 00:00:00")
    assert list(values) == [1.0]


def test_files_without_labels_and_labels_without_files_are_left_out_and_named(tmp_path):
    # given a corpus with one labelled file, one unlabelled file and a label for a missing file
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=4, freq="h").strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "value": [1.0, 2.0, 3.0, 4.0],
        }
    )
    nab_dir = _corpus_dir(
        tmp_path,
        {"realOps/a.csv": frame, "realOps/unlabelled.csv": frame},
        {"realOps/a.csv": [], "realOps/gone.csv": []},
    )

    # when the corpus is read
    corpus = nab.load_corpus(nab_dir)

    # then only the labelled file with data is scored, and the others are named
    assert [f.key for f in corpus] == ["realOps/a.csv"]
    assert nab.unscored_files(nab_dir) == (["realOps/unlabelled.csv"], ["realOps/gone.csv"])
    lines = nab._unscored_lines(nab_dir, quick=False)
    assert "no entry in labels/combined_windows.json: realOps/unlabelled.csv" in lines[0]
    assert "labelled but not under data/: realOps/gone.csv" in lines[1]


def test_rows_keep_their_file_order_without_the_ones_whose_time_does_not_parse(tmp_path):
    # given rows out of order, in mixed time formats, and one bad time
    path = tmp_path / "messy.csv"
    path.write_text(
        "timestamp,value\n"
        "2024-01-01 02:00:00,3\n"
        "2024-01-01T00:00:00Z,1\n"
        "not a time,9\n"
        "2024-01-01T03:00:00+02:00,2\n"
    )

    # when it is read
    timestamps, values = nab.read_nab_csv(path)

    # then every format is read in UTC, the file's order is kept (NAB's) and the bad row is out
    assert [str(t) for t in timestamps] == [
        "2024-01-01 02:00:00",
        "2024-01-01 00:00:00",
        "2024-01-01 01:00:00",
    ]
    assert list(values) == [3.0, 1.0, 2.0]


def test_a_window_whose_end_comes_before_its_start_in_row_order_is_a_clear_error(tmp_path):
    # given a file out of time order, whose window's end row comes before its start row
    frame = pd.DataFrame(
        {
            "timestamp": ["2024-01-01 02:00:00", "2024-01-01 00:00:00", "2024-01-01 01:00:00"],
            "value": [1.0, 2.0, 3.0],
        }
    )
    nab_dir = _corpus_dir(
        tmp_path,
        {"edge/unsorted.csv": frame},
        {"edge/unsorted.csv": [["2024-01-01 01:00:00", "2024-01-01 02:00:00"]]},
    )

    # when / then
    with pytest.raises(nab.CorpusError, match="sort the file by time"):
        nab.load_corpus(nab_dir)
