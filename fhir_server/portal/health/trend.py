"""A small trend chart for one test: geometry for an inline SVG (no chart library).

Time runs left to right in proportion (results years apart sit far apart); the shaded band
is the reference range when the latest result has one, labelled as such; the value axis is
labelled with the unit. Each point can take the focus (a tap on a phone) and then shows its
value and date. The chart's label says in words what it shows, for screen readers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from fhir_server.portal.health.labs import Result, Test

WIDTH, HEIGHT = 320, 160
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 34, 26  # room for the value labels, the unit and a value tip, the dates
MIN_POINTS = 3


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str  # "13.8 g/dL on Jun 16, 2026" (the point's name)
    flagged: bool
    tip: str = ""  # the value shown above the point when it has the focus
    anchor: str = "middle"  # the tip's text-anchor, so that it stays inside the chart


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: list[Point]
    line: str  # the polyline's points attribute
    band: tuple[float, float] | None  # y of the range's top and bottom
    y_labels: list[tuple[float, str]]
    x_labels: list[tuple[float, str, str]]  # x, text, text-anchor
    summary: str
    unit: str = ""  # the value axis's label
    band_label: str = ""  # "Reference range 12.0–15.5 g/dL"
    x0: int = LEFT  # the plot area's left and right edges (the band spans them)
    x1: int = WIDTH - RIGHT


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _instant(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        try:
            return datetime.fromisoformat(value[:10]).timestamp()
        except ValueError:
            return None


def trend(test: Test) -> Chart | None:
    """The chart of a test's numeric results in its usual unit, or None when fewer than three."""
    numeric = [r for r in test.results if r.number is not None and _instant(r.date) is not None]
    if len(numeric) < MIN_POINTS:
        return None
    unit = Counter(r.unit for r in numeric).most_common(1)[0][0]
    chosen: list[Result] = sorted((r for r in numeric if r.unit == unit), key=lambda r: r.date)
    if len(chosen) < MIN_POINTS:
        return None
    times = [_instant(r.date) or 0.0 for r in chosen]
    values = [r.number or 0.0 for r in chosen]
    low, high = test.latest.low, test.latest.high
    lo = min(values + [v for v in (low,) if v is not None])
    hi = max(values + [v for v in (high,) if v is not None])
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    t0, t1 = times[0], times[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(t: float) -> float:
        return round(LEFT + (plot_w * (t - t0) / (t1 - t0) if t1 > t0 else plot_w / 2), 1)

    def y_of(v: float) -> float:
        return round(TOP + plot_h * (hi - v) / (hi - lo), 1)

    def anchor_of(x: float) -> str:
        return "start" if x < LEFT + 30 else "end" if x > WIDTH - RIGHT - 30 else "middle"

    points = [Point(x_of(t), y_of(v), f"{r.value} on {r.when}" + (f" ({r.flag.label})" if r.flag else ""),
                    r.flag is not None, f"{r.value}, {r.when}", anchor_of(x_of(t)))
              for t, v, r in zip(times, values, chosen, strict=True)]
    band = (y_of(high), y_of(low)) if low is not None and high is not None else None
    vmin, vmax = min(values), max(values)
    y_labels = [(y_of(vmax), _fmt(vmax))] + ([(y_of(vmin), _fmt(vmin))] if vmin != vmax else [])
    x_labels = [(LEFT, chosen[0].when, "start"), (WIDTH - RIGHT, chosen[-1].when, "end")]
    summary = (f"Trend of {test.name}: {len(chosen)} results from {chosen[0].when} to {chosen[-1].when}; "
               f"lowest {_fmt(vmin)} {unit}, highest {_fmt(vmax)} {unit}, latest {chosen[-1].value}.")
    if band:
        summary += f" Shaded band: reference range {test.latest.range}."
    band_label = f"Reference range {test.latest.range}" if band and test.latest.range else ""
    return Chart(WIDTH, HEIGHT, points, " ".join(f"{p.x},{p.y}" for p in points), band, y_labels, x_labels,
                 summary.replace(" .", "."), unit=unit, band_label=band_label)
