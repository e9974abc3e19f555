"""Two small inline-SVG charts for report.html: lines over time, latency CDFs on a log axis.
No plotting dependency: the report must open anywhere, offline, from a CI artifact.

Charts are responsive: drawn in a fixed coordinate system (``viewBox``) and shown at the full
width of the page (``width="100%"``, the height follows the aspect ratio), so they fill a
wide window as well as a narrow one."""

from __future__ import annotations

import math
from html import escape

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 960, 300, 64, 38, 14, 190
PLOT_W, PLOT_H = W - PAD_L - PAD_R, H - PAD_T - PAD_B
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
_NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800)


def _frame(x_label: str, y_label: str, title: str) -> list[str]:
    return [
        (
            f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" '
            f'width="100%" preserveAspectRatio="xMinYMin meet" role="img" '
            f'aria-label="{escape(title)}" font-family="sans-serif" font-size="12">'
        ),
        f"<title>{escape(title)}</title>",
        (
            f'<rect x="{PAD_L}" y="{PAD_T}" width="{PLOT_W}" height="{PLOT_H}" '
            f'fill="none" stroke="#999"/>'
        ),
        (
            f'<text x="{PAD_L + PLOT_W / 2}" y="{H - 4}" text-anchor="middle">'
            f"{escape(x_label)}</text>"
        ),
        (
            f'<text x="14" y="{PAD_T + PLOT_H / 2}" '
            f'transform="rotate(-90 14 {PAD_T + PLOT_H / 2})" text-anchor="middle">'
            f"{escape(y_label)}</text>"
        ),
    ]


def _legend(names: list[str]) -> list[str]:
    out = []
    for i, label in enumerate(names):
        y = PAD_T + 16 * i + 10
        color = COLORS[i % len(COLORS)]
        out.append(
            f'<rect x="{W - PAD_R + 10}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
        )
        out.append(f'<text x="{W - PAD_R + 25}" y="{y}">{escape(label)}</text>')
    return out


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _nice_ceiling(value: float) -> float:
    """A round number (a power of ten times 1 to 8, chosen so that its quarters are round
    too) at or above ``value``, with little headroom: the axis' top."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 1.2, 1.6, 2, 2.4, 3, 4, 6, 8, 10)
                if value <= m * power * (1 + 1e-9))


def _time_step(span: float) -> int:
    """A round tick interval giving at most about 10 ticks."""
    return next((step for step in _NICE_STEPS if span / step <= 10), _NICE_STEPS[-1])


def line_chart(
    series: dict[str, list[float]],
    x_label: str,
    y_label: str,
    span_s: float | None = None,
    bands: list[tuple[float, float, str]] | None = None,
) -> str:
    """One value per whole second per series, value i drawn at the middle of second i.
    ``span_s``: the seconds the x axis covers (default: the longest series); ``bands``:
    shaded stretches of time with a label (e.g. the settle phase)."""
    out = _frame(x_label, y_label, f"{y_label} over time")
    length = max((len(v) for v in series.values()), default=0)
    span = max(span_s or 0.0, float(length), 1.0)
    top = _nice_ceiling(max((max(v) for v in series.values() if v), default=0))

    def x_of(seconds: float) -> float:
        return PAD_L + PLOT_W * min(max(seconds, 0.0), span) / span

    for start, end, label in bands or []:
        x1, x2 = x_of(start), x_of(end)
        if x2 - x1 < 1:
            continue
        out.append(f'<rect x="{x1:.1f}" y="{PAD_T}" width="{x2 - x1:.1f}" height="{PLOT_H}" '
                   f'fill="#f0f0f0"/>')
        if x2 - x1 >= 8 * len(label):  # a label only where it fits inside the band
            out.append(f'<text x="{(x1 + x2) / 2:.1f}" y="{PAD_T + 14}" text-anchor="middle" '
                       f'fill="#666">{escape(label)}</text>')
    for tick in range(5):
        value = top * tick / 4
        y = PAD_T + PLOT_H * (1 - tick / 4)
        out.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{PAD_L + PLOT_W}" y2="{y:.1f}" '
                   f'stroke="#eee"/>')
        out.append(f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(value)}</text>')
    step = _time_step(span)
    for second in range(0, int(span) + 1, step):
        out.append(f'<text x="{x_of(second):.1f}" y="{H - PAD_B + 15}" text-anchor="middle">'
                   f"{second} s</text>")
    for i, values in enumerate(series.values()):
        if not values:
            continue
        points = " ".join(
            f"{x_of(x + 0.5):.1f},{PAD_T + PLOT_H * (1 - v / top):.1f}"
            for x, v in enumerate(values)
        )
        out.append(
            f'<polyline fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.8" '
            f'points="{points}"/>'
        )
    out += _legend(list(series))
    out.append("</svg>")
    return "\n".join(out)


def cdf_chart(distributions: dict[str, list[tuple[float, int]]]) -> str:
    """Cumulative share of samples below each latency (ms, log scale)."""
    out = _frame("latency (ms, log scale)", "share of requests", "latency distribution")
    edges = [ms for dist in distributions.values() for ms, _ in dist if ms > 0]
    if not edges:
        out.append("</svg>")
        return "\n".join(out)
    lo = math.floor(math.log10(min(edges)))
    hi = max(math.ceil(math.log10(max(edges))), lo + 1)

    def x_of(ms: float) -> float:
        return PAD_L + PLOT_W * (math.log10(max(ms, 10.0**lo)) - lo) / (hi - lo)

    for decade in range(lo, hi + 1):
        x = x_of(10.0**decade)
        out.append(f'<line x1="{x:.1f}" y1="{PAD_T}" x2="{x:.1f}" y2="{H - PAD_B}" stroke="#eee"/>')
        out.append(
            f'<text x="{x:.1f}" y="{H - PAD_B + 15}" text-anchor="middle">'
            f"{_fmt(10.0**decade)}</text>"
        )
    for share in (0, 0.25, 0.5, 0.75, 1):
        y = PAD_T + PLOT_H * (1 - share)
        out.append(f'<text x="{PAD_L - 4}" y="{y + 4}" text-anchor="end">{share:g}</text>')
    for i, dist in enumerate(distributions.values()):
        total = sum(count for _, count in dist) or 1
        seen = 0
        points = []
        for ms, count in dist:
            seen += count
            points.append(f"{x_of(ms):.1f},{PAD_T + PLOT_H * (1 - seen / total):.1f}")
        out.append(
            f'<polyline fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.8" '
            f'points="{" ".join(points)}"/>'
        )
    out += _legend(list(distributions))
    out.append("</svg>")
    return "\n".join(out)
