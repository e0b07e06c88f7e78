"""Numenta Anomaly Benchmark: our own implementation of NAB's scoring, and the NAB evaluation.

The scorer follows NAB v1.1's published rules (Lavin & Ahmad 2015, Ahmad et al. 2017; NAB's
sweeper): the first 15% of each file (at most 750 rows) is probationary and not scored; a row
inside a labelled window is worth ``tpWeight * scaledSigmoid(position) / scaledSigmoid(-1)``,
only the best (= earliest) detection of a window counts, an undetected window costs ``fnWeight``;
a detection outside every window costs ``fpWeight * scaledSigmoid(distance past the previous
window)`` (-fpWeight before the first window). One threshold per profile, over the whole corpus,
is the one that maximises the raw score; the raw score is normalised so that the null detector
scores 0 and a perfect detector 100.

``run()`` scores the product's streaming detector (``engines.anomaly.stream_anomaly_scores``)
on every file, causally, and returns a markdown section for docs/EVALUATION.md.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_prediction.evaluation import datasets_option

PROBATION_PERCENT = 0.15
PROFILE_NAMES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
DETECTOR_NAME = "feedingHearts"
# A small, fixed selection used by tests and `evaluate nab --quick`: one file per category,
# chosen for size (short files), not for how well the detector does on them.
QUICK_FILES = (
    "artificialNoAnomaly/art_daily_small_noise.csv",
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
    "realAdExchange/exchange-2_cpc_results.csv",
    "realKnownCause/ambient_temperature_system_failure.csv",
    "realTraffic/occupancy_6005.csv",
)


@dataclass(frozen=True)
class CostMatrix:
    tp_weight: float
    fp_weight: float
    fn_weight: float


@dataclass(frozen=True)
class NabFile:
    """One NAB series with its labelled windows as inclusive row-index pairs."""

    key: str  # "<category>/<name>.csv", as in NAB's label files
    timestamps: pd.DatetimeIndex
    values: np.ndarray
    windows: list[tuple[int, int]] = field(default_factory=list)

    @property
    def category(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split("/", 1)[1]


@dataclass(frozen=True)
class SweepRows:
    """Per-row scoring facts of one file: what a detection at each row would be worth."""

    sweep: np.ndarray  # weighted score of a detection at this row
    window: np.ndarray  # index of the window the row is in, -1 outside every window
    scorable: np.ndarray  # False inside the probationary period


@dataclass(frozen=True)
class ProfileResult:
    profile: str
    threshold: float
    raw_score: float
    null_score: float
    perfect_score: float
    normalised: float
    true_positives: int  # windows detected
    false_negatives: int  # windows missed
    false_positives: int  # detections outside every window


def scaled_sigmoid(position: float | np.ndarray) -> np.ndarray:
    """NAB's reward curve: ≈ +1 at a window's left edge (-1.0), 0 at its right edge, → -1 after."""
    position = np.asarray(position, dtype=float)
    value = 2.0 / (1.0 + np.exp(5.0 * np.minimum(position, 3.0))) - 1.0
    return np.where(position >= 3.0, -1.0, value)


def probation_length(num_rows: int, percent: float = PROBATION_PERCENT) -> float:
    return min(math.floor(percent * num_rows), percent * 5000)


def load_profiles(nab_dir: Path) -> dict[str, CostMatrix]:
    raw = _read_json(nab_dir / "config" / "profiles.json")
    return {
        name: CostMatrix(
            tp_weight=float(body["CostMatrix"]["tpWeight"]),
            fp_weight=float(body["CostMatrix"]["fpWeight"]),
            fn_weight=float(body["CostMatrix"]["fnWeight"]),
        )
        for name, body in raw.items()
    }


def quick_keys(nab_dir: Path, preferred: Sequence[str]) -> list[str]:
    """The preferred files that this corpus has, else its first ones: ``--quick`` must also run
    on a NAB-shaped corpus with other file names."""
    available = sorted(f"{p.parent.name}/{p.name}" for p in (nab_dir / "data").glob("*/*.csv"))
    have = set(available)
    chosen = [key for key in preferred if key in have]
    return chosen or available[: len(preferred)]


class CorpusError(ValueError):
    """The corpus is not in NAB's layout or its labels do not fit its data (the message says
    where); the command reports it without a traceback."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CorpusError(
            f"{path} is missing (NAB's layout: nab/data, nab/labels, nab/config)"
        ) from None
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path} is not valid JSON: {exc}") from None


def _windows_by_file(nab_dir: Path) -> dict[str, list]:
    return _read_json(nab_dir / "labels" / "combined_windows.json")


def unscored_files(
    nab_dir: Path, windows_by_file: dict[str, list] | None = None
) -> tuple[list[str], list[str]]:
    """Data files without a labels entry, and labels entries without a data file.

    Neither can be scored (NAB needs every file's windows, an empty list when it has none), and
    a corpus other than NAB's own may have either: the run scores the rest and says which.
    ``windows_by_file``: the labels when the caller has read them already.
    """
    labelled = set(_windows_by_file(nab_dir) if windows_by_file is None else windows_by_file)
    data = {f"{p.parent.name}/{p.name}" for p in (nab_dir / "data").glob("*/*.csv")}
    return sorted(data - labelled), sorted(labelled - data)


def _utc_naive(stamp: str) -> pd.Timestamp:
    t = pd.Timestamp(stamp)
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t


def read_nab_csv(path: Path) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """A NAB-layout file's timestamps (naive UTC) and values (NaN where not a number), in the
    file's row order (NAB scores rows in that order, and one of its own files steps back in
    time for a stretch).

    NAB's own files are naive and clean; another corpus in its layout may write ISO times with
    ``Z`` or offsets, a time that does not parse or a value that is not a number. Each time is
    parsed on its own (a file may mix formats; inferring one from the first row would drop the
    others) and read in UTC (the labels too), a row without a time is left out and a bad value
    is a gap, not the end of the run.
    """
    frame = pd.read_csv(path)
    times = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="mixed")
    timestamps = pd.DatetimeIndex(times).tz_localize(None)
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=float)
    known = ~timestamps.isna()
    return timestamps[known], values[known]


def load_corpus(nab_dir: Path, *, files: Sequence[str] | None = None) -> list[NabFile]:
    """Read NAB's series and windows (by default every data file that has a labels entry);
    a window edge missing from its file is a data error."""
    windows_by_file = _windows_by_file(nab_dir)
    if files is None:
        _, missing = unscored_files(nab_dir, windows_by_file)
        keys = sorted(set(windows_by_file) - set(missing))
        if not keys:
            raise CorpusError(f"no labelled data file under {nab_dir / 'data'}")
    else:
        keys = list(files)
    corpus = []
    for key in keys:
        timestamps, values = read_nab_csv(nab_dir / "data" / key)
        windows = []
        stamps = timestamps.to_numpy()
        for start, end in windows_by_file.get(key, []):
            # NAB takes the first row with the edge's timestamp (a few files repeat timestamps).
            left = np.flatnonzero(stamps == np.datetime64(_utc_naive(start)))
            right = np.flatnonzero(stamps == np.datetime64(_utc_naive(end)))
            if len(left) == 0 or len(right) == 0:
                raise CorpusError(f"{key}: window [{start}, {end}] does not match its timestamps")
            if right[0] < left[0]:
                raise CorpusError(
                    f"{key}: window [{start}, {end}] ends before it starts in the file's row "
                    "order (NAB scores rows in file order: sort the file by time)"
                )
            windows.append((int(left[0]), int(right[0])))
        corpus.append(
            NabFile(
                key=key,
                timestamps=timestamps,
                values=values,
                windows=windows,
            )
        )
    return corpus


def sweep_rows(num_rows: int, windows: Sequence[tuple[int, int]], cost: CostMatrix) -> SweepRows:
    """What a detection at each row is worth under ``cost`` (NAB's per-row sweep score)."""
    index = np.arange(num_rows)
    sweep = np.full(num_rows, -cost.fp_weight)  # before the first window
    window = np.full(num_rows, -1)
    max_tp = float(scaled_sigmoid(-1.0))
    for number, (left, right) in enumerate(windows):
        width = right - left + 1
        inside = slice(left, right + 1)
        position = -(right - index[inside] + 1) / width
        sweep[inside] = scaled_sigmoid(position) * cost.tp_weight / max_tp
        window[inside] = number
        next_left = windows[number + 1][0] if number + 1 < len(windows) else num_rows
        after = slice(right + 1, next_left)
        distance = np.abs(right - index[after]) / float(width - 1)
        sweep[after] = scaled_sigmoid(distance) * cost.fp_weight
    scorable = index >= probation_length(num_rows)
    return SweepRows(sweep=sweep, window=window, scorable=scorable)


def _threshold_curve(
    scores: Sequence[np.ndarray], rows: Sequence[SweepRows], cost: CostMatrix
) -> tuple[np.ndarray, np.ndarray]:
    """Raw corpus score for every candidate threshold (a detection is ``score >= threshold``).

    Equivalent to NAB's sweep: starting from "nothing detected", lower the threshold one
    distinct score at a time; an outside row adds its (negative) sweep score, a window's
    contribution is the best sweep score detected in it so far (or -fnWeight).
    """
    event_scores = []
    event_deltas = []
    windows_scored = 0
    for file_scores, file_rows in zip(scores, rows, strict=True):
        s = np.asarray(file_scores, dtype=float)[file_rows.scorable]
        sweep = file_rows.sweep[file_rows.scorable]
        window = file_rows.window[file_rows.scorable]
        outside = window < 0
        event_scores.append(s[outside])
        event_deltas.append(sweep[outside])
        for number in np.unique(window[~outside]):
            member = window == number
            order = np.argsort(-s[member], kind="stable")
            best = np.maximum.accumulate(np.concatenate(([-cost.fn_weight], sweep[member][order])))
            event_scores.append(s[member][order])
            event_deltas.append(np.diff(best))
            windows_scored += 1
    all_scores = np.concatenate(event_scores) if event_scores else np.array([])
    all_deltas = np.concatenate(event_deltas) if event_deltas else np.array([])
    order = np.argsort(-all_scores, kind="stable")
    all_scores = all_scores[order]
    running = -cost.fn_weight * windows_scored + np.cumsum(all_deltas[order])
    # The score of threshold t includes every row with score >= t: the last row of each tie group.
    last_of_group = np.append(all_scores[1:] != all_scores[:-1], True)
    thresholds = np.concatenate(([np.inf], all_scores[last_of_group]))
    totals = np.concatenate(([-cost.fn_weight * windows_scored], running[last_of_group]))
    return thresholds, totals


def raw_score(
    scores: Sequence[np.ndarray], rows: Sequence[SweepRows], cost: CostMatrix, threshold: float
) -> float:
    """The corpus raw score with detections at ``score >= threshold``."""
    thresholds, totals = _threshold_curve(scores, rows, cost)
    eligible = np.nonzero(thresholds >= threshold)[0]
    return float(totals[eligible[-1]])


def optimise_threshold(
    scores: Sequence[np.ndarray], rows: Sequence[SweepRows], cost: CostMatrix
) -> tuple[float, float]:
    """(threshold, raw score) maximising the raw score, as NAB's optimiser does."""
    thresholds, totals = _threshold_curve(scores, rows, cost)
    best = int(np.argmax(totals))
    return float(thresholds[best]), float(totals[best])


def score_profile(
    corpus: Sequence[NabFile], scores: Sequence[np.ndarray], profile: str, cost: CostMatrix
) -> ProfileResult:
    """Optimise the threshold and normalise against the null and the perfect detector."""
    rows = [sweep_rows(len(f.values), f.windows, cost) for f in corpus]
    threshold, raw = optimise_threshold(scores, rows, cost)
    null_scores = [np.full(len(f.values), 0.5) for f in corpus]
    _, null_raw = optimise_threshold(null_scores, rows, cost)
    perfect = sum(len(f.windows) for f in corpus) * cost.tp_weight
    normalised = 100.0 * (raw - null_raw) / (perfect - null_raw) if perfect != null_raw else 0.0
    tp = fn = fp = 0
    for file_scores, file_rows in zip(scores, rows, strict=True):
        detected = (np.asarray(file_scores) >= threshold) & file_rows.scorable
        fp += int(np.sum(detected & (file_rows.window < 0)))
        windows_here = np.unique(file_rows.window[file_rows.scorable & (file_rows.window >= 0)])
        hit = np.unique(file_rows.window[detected & (file_rows.window >= 0)])
        tp += len(hit)
        fn += len(windows_here) - len(hit)
    return ProfileResult(
        profile=profile,
        threshold=threshold,
        raw_score=raw,
        null_score=null_raw,
        perfect_score=perfect,
        normalised=normalised,
        true_positives=tp,
        false_negatives=fn,
        false_positives=fp,
    )


def detect_corpus(
    corpus: Sequence[NabFile], *, progress: Callable[[str], None] | None = None
) -> list[np.ndarray]:
    """Run the product's streaming detector over every file, each row seeing only its past."""
    from ml_prediction.engines.anomaly import stream_anomaly_scores

    results = []
    for number, nab_file in enumerate(corpus, start=1):
        results.append(
            stream_anomaly_scores(
                nab_file.values,
                nab_file.timestamps,
                probation=int(probation_length(len(nab_file.values))),
            )
        )
        if progress is not None:
            progress(f"nab {number}/{len(corpus)} {nab_file.key}")
    return results


def product_form_surprise(values: np.ndarray, timestamps: pd.DatetimeIndex) -> np.ndarray:
    """The streaming detector as the product model runs it (``StreamReference``), replayed on
    one series: refitted every day on all rows before that day (the nightly retrain), and every
    hour the rows of that hour scored inside the day-long window ending with them (the
    orchestrator's 24 h lookback), after the model's context. Causal: row t uses rows <= t
    only. The first day has no model and scores 0."""
    from ml_prediction.engines.anomaly import StreamReference, rows_per_day

    values = pd.Series(np.asarray(values, dtype=float)).ffill().fillna(0.0).to_numpy()
    index = pd.RangeIndex(len(values))  # rows, as the NAB form counts them
    per_day = rows_per_day(timestamps)
    per_hour = max(per_day // 24, 1)
    surprise = np.zeros(len(values))
    for day_start in range(per_day, len(values), per_day):
        reference = StreamReference.fit(values[:day_start], index[:day_start])
        day_stop = min(day_start + per_day, len(values))
        for hour_start in range(day_start, day_stop, per_hour):
            hour_stop = min(hour_start + per_hour, day_stop)
            rows = slice(max(0, hour_stop - per_day), hour_stop)
            window = reference.surprise(values[rows], index[rows])
            surprise[hour_start:hour_stop] = window[hour_start - hour_stop :]
    return surprise


def detect_corpus_product_form(
    corpus: Sequence[NabFile], *, progress: Callable[[str], None] | None = None
) -> list[np.ndarray]:
    """``product_form_surprise`` per file, with the NAB form's alarm hold on top."""
    from ml_prediction.engines.anomaly import StreamConfig, hold_alarms

    results = []
    for number, nab_file in enumerate(corpus, start=1):
        surprise = product_form_surprise(nab_file.values, nab_file.timestamps)
        results.append(hold_alarms(surprise, StreamConfig()))
        if progress is not None:
            progress(f"nab product form {number}/{len(corpus)} {nab_file.key}")
    return results


# The alarm knobs the split check re-chooses on one half of the files: the level that counts as
# an alarm, how long an alarm holds and how much surprise the refractory period then discounts.
# Everything else in StreamConfig stays at its default.
SPLIT_ALARM_SURPRISE = (2.0, 2.5, 3.0, 3.5)
SPLIT_HOLD_ROWS = (50, 100, 200)
SPLIT_REFRACTORY_SURPRISE = (0.0, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class SplitResult:
    """Knobs and threshold chosen on ``tuned_on``, scored on the other half."""

    tuned_on: str
    scored_on: str
    alarm_surprise: float
    hold_rows: int
    refractory_surprise: float
    tuned_score: float  # standard score on the tuning half (in-sample)
    held_out: dict[str, float]  # profile → score on the other half, threshold from tuning half
    held_out_nab: dict[str, float]  # same knobs, threshold re-optimised on that half (NAB rule)


def normalised_at(
    corpus: Sequence[NabFile], scores: Sequence[np.ndarray], cost: CostMatrix, threshold: float
) -> float:
    """Normalised score (null 0, perfect 100) at a threshold fixed beforehand, not optimised."""
    rows = [sweep_rows(len(f.values), f.windows, cost) for f in corpus]
    raw = raw_score(scores, rows, cost, threshold)
    null_scores = [np.full(len(f.values), 0.5) for f in corpus]
    _, null_raw = optimise_threshold(null_scores, rows, cost)
    perfect = sum(len(f.windows) for f in corpus) * cost.tp_weight
    return 100.0 * (raw - null_raw) / (perfect - null_raw) if perfect != null_raw else 0.0


def split_check(
    corpus: Sequence[NabFile],
    profiles: dict[str, CostMatrix],
    *,
    progress: Callable[[str], None] | None = None,
) -> list[SplitResult]:
    """Leave-half-out check of the alarm knobs: tune on odd files, score even ones, and back.

    Files are numbered 1.. in sorted order. On the tuning half, the (alarm_surprise, hold_rows,
    refractory_surprise) triple and each profile's threshold that maximise the score are
    chosen; the other half is then scored with them unchanged. The surprise itself is computed
    once per file (it does not depend on these knobs).
    """
    from ml_prediction.engines.anomaly import StreamConfig, hold_alarms, stream_surprise

    surprises = []
    for number, nab_file in enumerate(corpus, start=1):
        surprises.append(stream_surprise(nab_file.values, nab_file.timestamps))
        if progress is not None:
            progress(f"nab split {number}/{len(corpus)} {nab_file.key}")
    halves = {
        "odd": [i for i in range(len(corpus)) if i % 2 == 0],  # files 1, 3, 5, …
        "even": [i for i in range(len(corpus)) if i % 2 == 1],
    }
    grid = [
        (a, h, r)
        for a in SPLIT_ALARM_SURPRISE
        for h in SPLIT_HOLD_ROWS
        for r in SPLIT_REFRACTORY_SURPRISE
    ]
    held = {}
    for alarm, hold, refractory in grid:
        config = StreamConfig(alarm_surprise=alarm, hold_rows=hold, refractory_surprise=refractory)
        held[(alarm, hold, refractory)] = [hold_alarms(s, config) for s in surprises]
    results = []
    for tuned_on, scored_on in (("odd", "even"), ("even", "odd")):
        tune_files = [corpus[i] for i in halves[tuned_on]]
        test_files = [corpus[i] for i in halves[scored_on]]

        def pick(indices: list[int], knobs: tuple[float, int, float]) -> list[np.ndarray]:
            return [held[knobs][i] for i in indices]

        standard = profiles["standard"]
        best = max(
            grid,
            key=lambda knobs: (
                score_profile(
                    tune_files, pick(halves[tuned_on], knobs), "standard", standard
                ).normalised
            ),
        )
        tuned_scores = pick(halves[tuned_on], best)
        test_scores = pick(halves[scored_on], best)
        held_out = {}
        held_out_nab = {}
        tuned_standard = 0.0
        for name in PROFILE_NAMES:
            tuned = score_profile(tune_files, tuned_scores, name, profiles[name])
            if name == "standard":
                tuned_standard = tuned.normalised
            held_out[name] = normalised_at(test_files, test_scores, profiles[name], tuned.threshold)
            held_out_nab[name] = score_profile(
                test_files, test_scores, name, profiles[name]
            ).normalised
        results.append(
            SplitResult(
                tuned_on=tuned_on,
                scored_on=scored_on,
                alarm_surprise=best[0],
                hold_rows=best[1],
                refractory_surprise=best[2],
                tuned_score=tuned_standard,
                held_out=held_out,
                held_out_nab=held_out_nab,
            )
        )
    return results


def _split_lines(results: Sequence[SplitResult], num_files: int) -> list[str]:
    """Markdown for the split check."""
    from ml_prediction.engines.anomaly import StreamConfig

    default = StreamConfig()
    lines = [
        "",
        f"Leave-half-out check (`--split-check`): files numbered 1..{num_files} in sorted order; "
        "the alarm "
        f"knobs (alarm_surprise in {list(SPLIT_ALARM_SURPRISE)}, hold_rows in "
        f"{list(SPLIT_HOLD_ROWS)}, refractory_surprise in {list(SPLIT_REFRACTORY_SURPRISE)}) "
        "and each profile's threshold are chosen on one half and the "
        'other half is scored with them unchanged ("held-out"); "held-out, NAB threshold" '
        "keeps those knobs but lets NAB's rule re-optimise the threshold on the scored half.",
        "",
        "| tuned on → scored on | knobs chosen | tuning half (standard) "
        "| held-out standard | held-out low FP | held-out low FN | held-out, NAB threshold "
        "(std / low FP / low FN) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.tuned_on} → {r.scored_on} | surprise {r.alarm_surprise:g}, hold {r.hold_rows}, "
            f"refractory {r.refractory_surprise:g} "
            f"| {r.tuned_score:.1f} | **{r.held_out['standard']:.1f}** "
            f"| {r.held_out['reward_low_FP_rate']:.1f} | {r.held_out['reward_low_FN_rate']:.1f} "
            f"| {r.held_out_nab['standard']:.1f} / {r.held_out_nab['reward_low_FP_rate']:.1f} / "
            f"{r.held_out_nab['reward_low_FN_rate']:.1f} |"
        )
    lines.extend(
        [
            "",
            f"The defaults (surprise {default.alarm_surprise:g}, hold {default.hold_rows}, "
            f"refractory {default.refractory_surprise:g}) are "
            "what the full-corpus run above uses. The check covers only these alarm knobs: "
            "the signal design and its window lengths were chosen by looking at the whole "
            "corpus and stay fixed in both halves, so the held-out figures still carry that "
            "(smaller) in-sample part.",
        ]
    )
    return lines


def export_results(
    directory: Path,
    corpus: Sequence[NabFile],
    scores: Sequence[np.ndarray],
    *,
    detector: str = DETECTOR_NAME,
) -> int:
    """Write NAB's results layout: ``<dir>/<detector>/<category>/<detector>_<file>.csv``."""
    written = 0
    for nab_file, file_scores in zip(corpus, scores, strict=True):
        label = np.zeros(len(nab_file.values), dtype=int)
        for left, right in nab_file.windows:
            label[left : right + 1] = 1
        target = directory / detector / nab_file.category / f"{detector}_{nab_file.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(
            {
                "timestamp": nab_file.timestamps.strftime("%Y-%m-%d %H:%M:%S"),
                "value": nab_file.values,
                "anomaly_score": np.round(np.asarray(file_scores, dtype=float), 10),
                "label": label,
            }
        ).to_csv(target, index=False)
        written += 1
    return written


def _published_table(nab_dir: Path) -> list[str]:
    path = nab_dir / "results" / "final_results.json"
    if not path.exists():
        return []
    published = json.loads(path.read_text())
    lines = [
        "",
        "Published scores (NAB `results/final_results.json`, same scoring) for comparison:",
        "",
        "| detector | standard | low FP | low FN |",
        "|---|---|---|---|",
    ]
    ranked = sorted(published.items(), key=lambda item: -item[1].get("standard", 0.0))
    for name, profile_scores in ranked:
        lines.append(
            f"| {name} | {profile_scores.get('standard', 0.0):.1f} "
            f"| {profile_scores.get('reward_low_FP_rate', 0.0):.1f} "
            f"| {profile_scores.get('reward_low_FN_rate', 0.0):.1f} |"
        )
    return lines


def _unscored_lines(nab_dir: Path, *, quick: bool) -> list[str]:
    if quick:
        return []
    unlabelled, missing = unscored_files(nab_dir)
    lines = []
    if unlabelled:
        lines.append(
            "Not scored, no entry in labels/combined_windows.json: " + ", ".join(unlabelled) + "."
        )
    if missing:
        lines.append("Not scored, labelled but not under data/: " + ", ".join(missing) + ".")
    return [*lines, ""] if lines else []


def run(
    datasets_dir: Path,
    *,
    quick: bool,
    progress: Callable[[str], None] | None = None,
    export_dir: Path | None = None,
    split: bool = False,
    product_form: bool = False,
) -> str:
    """Score the streaming detector on NAB (every file, or the quick selection) → markdown.

    ``split`` adds the leave-half-out check of the alarm knobs (``split_check``);
    ``product_form`` the same corpus scored by the detector as the product model runs it.
    """
    nab_dir = Path(datasets_dir) / "nab"
    started = time.perf_counter()
    corpus = load_corpus(nab_dir, files=quick_keys(nab_dir, QUICK_FILES) if quick else None)
    profiles = load_profiles(nab_dir)
    scores = detect_corpus(corpus, progress=progress)
    detect_seconds = time.perf_counter() - started
    results = [score_profile(corpus, scores, name, profiles[name]) for name in PROFILE_NAMES]
    if export_dir is not None:
        export_results(export_dir, corpus, scores)
    total_rows = sum(len(f.values) for f in corpus)
    scope = f"quick subset ({len(corpus)} files)" if quick else f"all {len(corpus)} files"
    command = (
        "python manage.py evaluate nab"
        + datasets_option(datasets_dir)
        + (" --quick" if quick else "")
        + (" --split-check" if split else "")
        + (" --product-form" if product_form else "")
    )
    lines = [
        "## Anomaly detection — Numenta Anomaly Benchmark",
        "",
        f"Command: `{command}` — {scope}, {total_rows:,} rows, {len(_all_windows(corpus))} "
        f"labelled windows; detection took {detect_seconds:.0f} s on this machine.",
        "",
        *_unscored_lines(nab_dir, quick=quick),
        "What ran: `ml_prediction.engines.anomaly.stream_anomaly_scores`, the streaming form of the "
        "product detector, once per file, strictly causally (the score of row t uses rows ≤ t "
        "only; nothing is fitted on the future or on the labels). Scoring is our own "
        "implementation of NAB v1.1's rules (`ml_prediction/evaluation/nab.py`): 15% "
        "probationary period, scaled-sigmoid window rewards, per-profile weights, one threshold "
        "per profile over the whole corpus chosen to maximise the score, normalised null = 0, "
        "perfect = 100. `--export-nab DIR` writes the per-row scores in NAB's results layout so "
        "NAB's own scorer can check these numbers.",
        "",
        "| profile | score | threshold | windows detected | windows missed | false positives |",
        "|---|---|---|---|---|---|",
    ]
    lines.extend(_profile_rows(results))
    lines.extend(_category_table(corpus, scores, profiles["standard"], results[0].threshold))
    lines.extend(
        [
            "",
            "How the detector works (`StreamConfig` holds every parameter): per row, up to eight "
            "causal deviation signals — a robust z against the median / IQR of the previous 128 "
            "rows, its 20-row mean (sustained shifts), the 20-row mean of a robust z against the "
            "previous 1024 rows (slow drift), the log ratio of the mean step size over the last "
            "20 rows to the one over the 128 rows before (volatility change), the value itself "
            "against every earlier value, both tails (novelty: a level never seen before), and, "
            "when the series has a daily rhythm, spike and 20-row mean of the residual from the "
            "median of the same time 1–3 days earlier (the seasonal baseline). Each signal is "
            "turned into a tail probability against its own past (empirical, with an "
            "exponential tail above the 98th percentile); m = max over signals of "
            "-log10(tail probability). Because some series cross a given m far more often than "
            "others, m is itself scored against its own past the same way (m2) and the surprise "
            "is sqrt(m × m2), so one global alarm level fits bursty and smooth series alike. "
            "The score is s / (1 + s). After an alarm (s >= 2.5, score 0.714) the next 100 rows "
            "score 0, and then a refractory discount of 1.0 × exp(-rows since the alarm / 200) "
            "is taken off the surprise, so the after-shocks of one incident (baselines still "
            "absorbing a shift) do not alarm again unless clearly more surprising. "
            "IsolationForest and LOF are not in the streaming form: on a single value per row "
            "they add nothing the robust z does not already see (they run in the product model "
            "on the multi-column bucket frame). The product model runs these same signals as its "
            "fourth detector (`StreamReference`), on the error count's seasonal z against the "
            "hour-of-week baseline, with their distributions frozen at training and the training "
            "tail kept as the context a scoring window continues (a model does not refit while "
            "scoring); this section scores the causal form, which is that detector retrained at "
            "every row (`--product-form` below scores the frozen form). How the product model "
            "does on labelled outages is in the error-prediction section (anomaly detection on "
            "the generator).",
            "",
            "Honesty notes: the handful of global parameters above (and the choice of signals) "
            "were chosen by trying a few values on this same corpus (no file-specific settings, no use of labels or file "
            "names in the detector), so the score is an in-sample figure for those few knobs. "
            "The threshold per profile is NAB's own rule (the best one for the corpus), as for "
            "every published detector.",
        ]
    )
    if product_form:
        lines.extend(_product_form_lines(corpus, profiles, progress))
    if split:
        lines.extend(_split_lines(split_check(corpus, profiles, progress=progress), len(corpus)))
    if not quick:
        lines.extend(_published_table(nab_dir))
    return "\n".join(lines) + "\n"


def _profile_rows(results: Sequence[ProfileResult]) -> list[str]:
    """One markdown row per profile: score, threshold, windows detected / missed, false positives."""
    return [
        f"| {r.profile} | **{r.normalised:.1f}** | {r.threshold:.4f} "
        f"| {r.true_positives} | {r.false_negatives} | {r.false_positives} |"
        for r in results
    ]


def _product_form_lines(
    corpus: Sequence[NabFile],
    profiles: dict[str, CostMatrix],
    progress: Callable[[str], None] | None,
) -> list[str]:
    from ml_prediction.engines.anomaly import StreamConfig

    started = time.perf_counter()
    scores = detect_corpus_product_form(corpus, progress=progress)
    seconds = time.perf_counter() - started
    lines = [
        "",
        "The product form (`--product-form`, `product_form_surprise`): the same signals as the "
        "product model's fourth detector runs them (`StreamReference`), replayed on each file: "
        "references refitted every day on all rows before it (the nightly retrain), every "
        "hour's rows scored inside the day-long window ending with them (the 24 h lookback) "
        f"after the model's context (the last {StreamConfig().context_rows} training rows), "
        "the same alarm hold; the "
        "first day scores 0. It has no seasonal signals: the product model feeds it the "
        "seasonal z against its hour-of-week baseline instead, which this replay on NAB's raw "
        "values does not, and with it the product's gate (`_still_deviating`: the stream "
        "speaks for a bucket only while that z is still off, so the buckets back at their "
        "usual count after an incident are not flagged for the 20 its windows still hold it) "
        f"is not replayed either ({seconds:.0f} s):",
        "",
        "| profile | product form | threshold | windows detected | windows missed | false positives |",
        "|---|---|---|---|---|---|",
    ]
    results = [score_profile(corpus, scores, name, profiles[name]) for name in PROFILE_NAMES]
    lines.extend(_profile_rows(results))
    standard = next(r.normalised for r in results if r.profile == "standard")
    verdict = "meets" if standard >= 50.0 else "does NOT meet"
    lines += [
        "",
        f"So the product form {verdict} the standard-score target of 50 on its own. In the "
        "product the z-score detector, IsolationForest and LOF score beside it; their effect on "
        "labelled outages is in the error-prediction section.",
    ]
    return lines


def _category_table(
    corpus: Sequence[NabFile], scores: Sequence[np.ndarray], cost: CostMatrix, threshold: float
) -> list[str]:
    """Windows detected and false positives per NAB category at the standard threshold."""
    totals: dict[str, list[int]] = {}
    for nab_file, file_scores in zip(corpus, scores, strict=True):
        rows = sweep_rows(len(nab_file.values), nab_file.windows, cost)
        detected = (np.asarray(file_scores) >= threshold) & rows.scorable
        windows = np.unique(rows.window[rows.scorable & (rows.window >= 0)])
        hit = np.unique(rows.window[detected & (rows.window >= 0)])
        entry = totals.setdefault(nab_file.category, [0, 0, 0, 0])
        entry[0] += 1
        entry[1] += len(windows)
        entry[2] += len(hit)
        entry[3] += int(np.sum(detected & (rows.window < 0)))
    lines = [
        "",
        "By category (standard profile threshold):",
        "",
        "| category | files | windows | detected | false positives |",
        "|---|---|---|---|---|",
    ]
    for category, (files, windows, hit, false_positives) in sorted(totals.items()):
        lines.append(f"| {category} | {files} | {windows} | {hit} | {false_positives} |")
    return lines


def _all_windows(corpus: Sequence[NabFile]) -> list[tuple[str, int, int]]:
    return [(f.key, left, right) for f in corpus for left, right in f.windows]
