"""What to forecast after a history that ends in a short run of outliers (a study, not a test).

``clean_history`` replaces a run of outliers still going on at the end of the history by the
normal curve while it is shorter than ``new_level_steps`` (6 h of an hourly daily season). This
study measures that choice against the alternatives on every earlier hourly origin of every NAB
file (the last three days, which ``evaluate forecast`` scores, are left out): for each origin
whose cleaned history differs from the raw one in a run at its end, the next 24 hours' MASE of

- ``normal``: the cleaned history's last day (the seasonal naive of the normal curve),
- ``follow``: the same shifted by the run's mean deviation (its last three steps at most),
- ``fade_3h`` / ``fade_6h`` / ``fade_12h``: that shift fading with a half-life of 3, 6 or 12 h.

Each origin is also tagged with the run's direction (``down`` / ``up``, the sign of that shift)
and whether the history's last value lies ``beyond`` every value before the run (below its
minimum or above its maximum: a level never seen before, the runs that look most like a new
level), so the choice can be checked on the runs most likely to stay.

Run: ``python -m ml_prediction.evaluation.tail_runs [--nab-dir DIR] [--jobs N]`` (about 20 CPU
minutes). docs/EVALUATION.md ("Diagnosis of the five largest file-day misses") quotes it.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import numpy as np
import pandas as pd

from ml_prediction.engines.forecasting import (
    clean_history,
    mase_scale,
    new_level_steps,
    prepare_series,
)
from ml_prediction.engines.types import InsufficientData
from ml_prediction.evaluation import default_datasets_dir
from ml_prediction.evaluation.forecast import (
    evaluation_config,
    load_nab_series,
    nab_files,
    run_parallel,
)

HELD_OUT_DAYS = 3  # the days `evaluate forecast` scores: never looked at here
HALF_LIVES = (3, 6, 12)
FOLLOW_STEPS = 3  # as Forecaster.conditioned_on: the mean over the last three steps


def file_origins(path: Path) -> list[dict[str, float | int | str]]:
    """One row per origin of ``path`` whose history ends in a cleaned (replaced) run."""
    config = evaluation_config(quick=False)
    m, h = config.season, config.horizon_steps
    try:
        series = prepare_series(load_nab_series(path), config=config)
    except InsufficientData:  # a file with too few values to forecast
        return []
    y = series.interpolate().bfill().ffill().to_numpy(dtype=float)
    rows: list[dict[str, float | int | str]] = []
    for t in range(3 * m, len(y) - HELD_OUT_DAYS * m - h + 1):
        history = y[:t]
        deviation = history - clean_history(history, config=config)
        replaced = np.abs(deviation) > 1e-12
        run = len(replaced) - (np.flatnonzero(~replaced)[-1] + 1 if (~replaced).any() else 0)
        scale = mase_scale(history, m)
        if run == 0 or run >= new_level_steps(config) or not np.isfinite(scale):
            continue
        actual = y[t : t + h]
        normal = (history - deviation)[-m:][np.arange(h) % m]
        shift = float(np.mean(deviation[-min(run, FOLLOW_STEPS) :]))
        before = history[:-run]
        row: dict[str, float | int | str] = {
            "file": f"{path.parent.name}/{path.name}",
            "run": run,
            "direction": "down" if shift < 0 else "up",
            "beyond": _beyond(history[-1], before),
        }
        row["normal"] = float(np.mean(np.abs(actual - normal))) / scale
        row["follow"] = float(np.mean(np.abs(actual - normal - shift))) / scale
        for half_life in HALF_LIVES:
            faded = normal + shift * 0.5 ** (np.arange(h) / half_life)
            row[f"fade_{half_life}h"] = float(np.mean(np.abs(actual - faded))) / scale
        rows.append(row)
    return rows


def _beyond(value: float, before: np.ndarray) -> str:
    """``below`` / ``above`` when ``value`` lies outside every value of ``before``, else ``inside``."""
    if value < before.min():
        return "below"
    if value > before.max():
        return "above"
    return "inside"


def run(nab_dir: Path, *, jobs: int) -> pd.DataFrame:
    from tqdm import tqdm

    files = nab_files(nab_dir, quick=False)
    with tqdm(total=len(files), desc="NAB files") as bar:
        results = run_parallel(
            [functools.partial(file_origins, path) for path in files],
            jobs=jobs,
            done=lambda _index, _rows: bar.update(),
        )
    return pd.DataFrame([row for rows in results for row in rows])


def report(table: pd.DataFrame) -> str:
    methods = ["normal", "follow", *[f"fade_{hl}h" for hl in HALF_LIVES]]
    per_file = table.groupby("file")[methods].mean()
    lines = [
        f"{len(table)} origins ending in a cleaned run of 1-5 h, in {len(per_file)} files; "
        "mean next-day MASE:",
        table.groupby("run")[methods].mean().round(2).to_string(),
        "all: " + ", ".join(f"{m} {table[m].mean():.2f}" for m in methods),
        "files where fading (6 h) beats the normal curve: "
        f"{int((per_file['fade_6h'] < per_file['normal']).sum())} of {len(per_file)}",
    ]
    for tag in ("direction", "beyond"):
        groups = table.groupby(tag)
        summary = groups[["normal", "follow"]].mean().round(2)
        summary["origins"] = groups.size()
        summary["files"] = groups["file"].nunique()
        lines += [f"by {tag}:", summary.to_string()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nab-dir", type=Path, default=default_datasets_dir() / "nab")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    print(report(run(args.nab_dir, jobs=args.jobs)))


if __name__ == "__main__":
    main()
