"""Forecasting benchmark: training time on 30 days of 5-minute buckets, forecast latency.

Run: .venv/bin/python benchmarks/forecast_bench.py [--days 30] [--service django]
Prints a markdown table: the full fit (backtest of every candidate + refit of the winner), each
candidate's share, and the cost of loading a saved forecaster and forecasting 24 h — with the
seasonal-naive-only fit as the baseline in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from ml_prediction.engines import forecasting as engine
from ml_prediction.engines.simulator import SimulationConfig, simulate


def timed(fn, *args, **kwargs):
    """(value, wall seconds); the process CPU seconds (all threads) go to ``timed.last_cpu``."""
    started, cpu = time.perf_counter(), time.process_time()
    value = fn(*args, **kwargs)
    timed.last_cpu = time.process_time() - cpu
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--service", default="django")
    parser.add_argument("--repeat", type=int, default=20, help="forecast latency repetitions")
    args = parser.parse_args()

    frame = simulate(
        SimulationConfig(days=args.days, services=(args.service,), seed=1)
    ).bucket_frames(bucket_minutes=5)[args.service]
    series = frame["total_count"].astype(float)  # 5-minute buckets
    config = engine.ForecastConfig(aggregation="sum")  # hourly error counts, 24 h ahead
    rows: list[tuple[str, float, float]] = []

    def record(label: str, fn, *fn_args, **fn_kwargs):
        value, seconds = timed(fn, *fn_args, **fn_kwargs)
        rows.append((label, seconds, timed.last_cpu))
        return value

    record("import TensorFlow (once per process)", engine._keras)
    hourly = engine.prepare_series(series, config=config)
    y, index = hourly.to_numpy(), hourly.index
    origins = engine._plan_origins(len(y), config)
    for name in engine.ALGORITHMS:
        single = engine.ForecastConfig(aggregation="sum", candidates=(name,), ensemble=False)
        record(
            f"backtest {name} ({len(origins)} folds)",
            engine._run_backtest,
            y,
            index,
            single,
            origins,
        )
    baseline_config = engine.ForecastConfig(aggregation="sum", candidates=("seasonal_naive",))
    record(
        "fit_forecaster, seasonal naive only (baseline)",
        engine.fit_forecaster,
        series,
        metric_name="error_count",
        config=baseline_config,
    )
    forecaster = record(
        "**fit_forecaster, all candidates** (backtest + refit of winner)",
        engine.fit_forecaster,
        series,
        metric_name="error_count",
        config=config,
    )
    with tempfile.TemporaryDirectory() as tmp:
        record("save", forecaster.save, Path(tmp) / "fc")
        loaded = record("load", engine.Forecaster.load, Path(tmp) / "fc")
        record("first forecast after load (computes and caches a week)", loaded.forecast)
        latencies = [timed(loaded.forecast)[1] for _ in range(args.repeat)]
    rows.append(
        (f"forecast 24 h, median of {args.repeat} later calls", float(np.median(latencies)), 0.0)
    )

    fit_s = next(s for label, s, _ in rows if label.startswith("**fit_forecaster"))
    base_s = next(s for label, s, _ in rows if "baseline" in label)
    print(
        f"Forecasting, service {args.service}: {args.days:g} days of 5-minute buckets "
        f"({len(series)} rows → {len(y)} hourly steps); winner **{forecaster.algorithm}**, "
        f"backtest MASE {forecaster.backtest['mase']:.2f} vs seasonal naive "
        f"{forecaster.backtest['candidates']['seasonal_naive']['mase']:.2f}\n"
    )
    print("| step | wall s | CPU s (all threads) | share of full fit (wall) |")
    print("|---|---|---|---|")
    for label, seconds, cpu in rows:
        share = f"{seconds / fit_s:.0%}" if label.startswith("backtest") else ""
        print(f"| {label} | {seconds:.3f} | {cpu:.3f} | {share} |")
    print(f"\nfull fit / baseline fit (wall): {fit_s / max(base_s, 1e-9):.0f}×")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
