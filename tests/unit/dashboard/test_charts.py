"""The server-side SVG chart: scales, band, marks and escaping, without a database."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.charts import HEIGHT, PAD_BOTTOM, PAD_TOP, _y_ticks, render_service_chart
from dashboard.selectors import AnomalyMark, BandPoint, ChartPoint, ServiceChart

START = datetime(2026, 1, 1, tzinfo=UTC)


def _chart(**kwargs) -> ServiceChart:
    defaults = {"service": "django", "start": START, "end": START + timedelta(days=3)}
    return ServiceChart(**{**defaults, **kwargs})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, 1.0), (0.42, 0.5), (1.0, 1.5), (7.3, 8.0), (19.0, 20.0), (24.0, 30.0), (230.0, 250.0)],
)
def test_axis_maximum_is_round_and_above_the_data(value, expected):
    ticks = _y_ticks(value)
    assert ticks[-1] == pytest.approx(expected)
    assert ticks[-1] > value
    # 3 to 5 equal steps of 1, 2 or 5 × 10^n from zero
    assert ticks[0] == 0.0 and 4 <= len(ticks) <= 6
    step = ticks[1]
    assert round(step / 10 ** math.floor(math.log10(step) + 1e-9), 6) in (1, 2, 5)
    assert ticks == pytest.approx([step * i for i in range(len(ticks))])


@pytest.mark.parametrize("peak", [0.95, 0.7, 24.0, 14.7, 46.0, 4800.0])
def test_every_axis_label_is_the_exact_value_of_its_line(peak):
    # given a chart whose peak led to quarter steps before (0.25 labelled "0.2", 6.25 "6.2")
    observed = [
        ChartPoint(at=START, value=0.0),
        ChartPoint(at=START + timedelta(hours=1), value=peak),
    ]
    svg = render_service_chart(_chart(observed=observed))

    # then each label, read as a number, sits exactly on its grid line
    labels = re.findall(r'<text class="axis" x="[^"]+" y="([^"]+)" text-anchor="end">([^<]+)<', svg)
    assert len(labels) >= 4
    top = float(labels[-1][1].replace(",", ""))
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    for y, text in labels:
        value = float(text.replace(",", ""))
        expected_y = PAD_TOP + plot_h * (1 - value / top) + 4
        assert float(y) == pytest.approx(expected_y, abs=0.06), text


def test_chart_draws_observed_band_forecast_and_anomalies():
    # given three days of hourly points, a day of forecast and one critical anomaly
    observed = [ChartPoint(at=START + timedelta(hours=h), value=2.0) for h in range(72)]
    forecast = [
        BandPoint(at=START + timedelta(hours=72 + h), value=3.0, lower=2.0, upper=4.0)
        for h in range(24)
    ]
    marks = [AnomalyMark(START + timedelta(hours=30), 9.0, "critical", "spike", 0.95)]

    svg = render_service_chart(_chart(observed=observed, forecast=forecast, anomalies=marks))

    # then every layer is present with one vertex per point
    assert len(re.search(r'class="observed" points="([^"]+)"', svg).group(1).split()) == 72
    assert len(re.search(r'class="forecast" points="([^"]+)"', svg).group(1).split()) == 24
    assert len(re.search(r'class="band" points="([^"]+)"', svg).group(1).split()) == 48
    assert svg.count('class="anomaly"') == 1
    assert 'fill="#c62828"' in svg
    assert "no data yet" not in svg


def test_values_map_inside_the_plot_area():
    observed = [
        ChartPoint(at=START, value=0.0),
        ChartPoint(at=START + timedelta(hours=1), value=8.0),
    ]
    svg = render_service_chart(_chart(observed=observed))
    ys = [
        float(p.split(",")[1])
        for p in re.search(r'class="observed" points="([^"]+)"', svg).group(1).split()
    ]
    assert ys[0] == pytest.approx(HEIGHT - PAD_BOTTOM)  # zero on the baseline
    assert PAD_TOP <= ys[1] < ys[0]  # the peak is higher up, below the top


def test_empty_chart_says_so():
    svg = render_service_chart(_chart(service="flutter"))
    assert "no data yet" in svg
    assert 'data-points="0"' in svg


def test_text_is_escaped():
    marks = [AnomalyMark(START, 1.0, "high", "<script>", 0.8)]
    svg = render_service_chart(_chart(anomalies=marks))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
