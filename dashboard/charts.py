"""Server-side SVG charts: no JavaScript library, nothing fetched from another machine.

One chart per service: the observed error rate (line), the forecast (dashed line) inside its
interval band, and the detected anomalies as dots coloured by severity.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from html import escape

from dashboard.selectors import ServiceChart

WIDTH = 640
HEIGHT = 220
PAD_LEFT = 44
PAD_RIGHT = 12
PAD_TOP = 12
PAD_BOTTOM = 26
SEVERITY_COLOURS = {
    "critical": "#c62828",
    "high": "#ef6c00",
    "medium": "#f9a825",
    "low": "#7cb342",
}


def _y_ticks(value: float) -> list[float]:
    """The y axis ticks, 0 to a little above ``value``, 3 to 5 steps of 1, 2 or 5 × 10^n.

    Why: the axis was cut in quarters of 1, 2, 2.5 or 5 × 10^n, and 0.25 or 6.25 errors a
    minute were labelled "0.2" and "6.2"; round steps make every label exact.
    """
    top = max(value, 0.0) * 1.05 or 1.0
    step = 10.0 ** math.floor(math.log10(top / 5))
    for factor in (1, 2, 5, 10):
        if step * factor * 5 >= top:
            step *= factor
            break
    steps = math.ceil(top / step - 1e-9)
    return [step * i for i in range(steps + 1)]


def _tick_label(value: float, step: float) -> str:
    """A tick as exact as its step needs: 0.2, 0.4 … or 5, 10 …, 1,000 … (thousands grouped)."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:,.{decimals}f}"


def _fmt(number: float) -> str:
    return f"{number:.1f}"


def render_service_chart(chart: ServiceChart) -> str:
    """The SVG markup of one service's chart (safe to embed: every text is escaped)."""
    start = chart.start
    end = max(
        [chart.end] + [p.at for p in chart.forecast],
    )
    span = max((end - start).total_seconds(), 1.0)
    values = [p.value for p in chart.observed]
    values += [p.upper for p in chart.forecast] + [p.value for p in chart.forecast]
    values += [m.value for m in chart.anomalies]
    ticks = _y_ticks(max(values, default=0.0))
    y_max = ticks[-1]
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(at: datetime) -> float:
        return PAD_LEFT + plot_w * (at - start).total_seconds() / span

    def y(value: float) -> float:
        clipped = min(max(value, 0.0), y_max)
        return PAD_TOP + plot_h * (1 - clipped / y_max)

    title = f"{chart.service}: errors per minute"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" data-service="{escape(chart.service)}" '
        f'data-points="{len(chart.observed)}" data-forecast-points="{len(chart.forecast)}" '
        f'data-anomalies="{len(chart.anomalies)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    # grid and y axis labels
    for value in ticks:
        gy = y(value)
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" y1="{_fmt(gy)}" x2="{WIDTH - PAD_RIGHT}" '
            f'y2="{_fmt(gy)}"/>'
        )
        label = _tick_label(value, ticks[1])
        parts.append(
            f'<text class="axis" x="{PAD_LEFT - 6}" y="{_fmt(gy + 4)}" text-anchor="end">'
            f"{label}</text>"
        )
    # day ticks on the x axis
    day = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    while day < end:
        gx = x(day)
        parts.append(
            f'<line class="tick" x1="{_fmt(gx)}" y1="{PAD_TOP}" x2="{_fmt(gx)}" '
            f'y2="{HEIGHT - PAD_BOTTOM}"/>'
        )
        parts.append(
            f'<text class="axis" x="{_fmt(gx)}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"{day:%b %d}</text>"
        )
        day += timedelta(days=1)
    if chart.forecast:
        upper = " ".join(f"{_fmt(x(p.at))},{_fmt(y(p.upper))}" for p in chart.forecast)
        lower = " ".join(f"{_fmt(x(p.at))},{_fmt(y(p.lower))}" for p in reversed(chart.forecast))
        parts.append(
            f'<polygon class="band" points="{upper} {lower}"><title>forecast interval</title></polygon>'
        )
        line = " ".join(f"{_fmt(x(p.at))},{_fmt(y(p.value))}" for p in chart.forecast)
        parts.append(f'<polyline class="forecast" points="{line}"/>')
        now_x = x(chart.forecast[0].at)
        parts.append(
            f'<line class="now" x1="{_fmt(now_x)}" y1="{PAD_TOP}" x2="{_fmt(now_x)}" '
            f'y2="{HEIGHT - PAD_BOTTOM}"/>'
        )
    if chart.observed:
        line = " ".join(f"{_fmt(x(p.at))},{_fmt(y(p.value))}" for p in chart.observed)
        parts.append(f'<polyline class="observed" points="{line}"/>')
    for mark in chart.anomalies:
        colour = SEVERITY_COLOURS.get(mark.severity_level, "#c62828")
        parts.append(
            f'<circle class="anomaly" cx="{_fmt(x(mark.at))}" cy="{_fmt(y(mark.value))}" r="4" '
            f'fill="{colour}"><title>{escape(mark.severity_level)} '
            f"{escape(mark.anomaly_type or 'anomaly')} at {mark.at:%b %d %H:%M} "
            f"(score {mark.score:.2f})</title></circle>"
        )
    if not chart.has_data:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            "no data yet</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
