"""Two small inline-SVG charts for report.html: lines over time, latency CDFs on a log axis.
No plotting dependency: the report must open anywhere, offline, from a CI artifact."""

from __future__ import annotations

import math
from html import escape

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 260, 60, 36, 14, 150
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def _frame(x_label: str, y_label: str) -> list[str]:
    return [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
            f'font-family="sans-serif" font-size="11">'
        ),
        (
            f'<rect x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" '
            f'height="{H - PAD_T - PAD_B}" fill="none" stroke="#999"/>'
        ),
        (
            f'<text x="{(W - PAD_R + PAD_L) / 2}" y="{H - 4}" text-anchor="middle">'
            f"{escape(x_label)}</text>"
        ),
        (
            f'<text x="12" y="{(H - PAD_B) / 2}" transform="rotate(-90 12 {(H - PAD_B) / 2})" '
            f'text-anchor="middle">{escape(y_label)}</text>'
        ),
    ]


def _legend(names: list[str]) -> list[str]:
    out = []
    for i, label in enumerate(names):
        y = PAD_T + 14 * i + 8
        color = COLORS[i % len(COLORS)]
        out.append(f'<rect x="{W - PAD_R + 8}" y="{y - 8}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{W - PAD_R + 22}" y="{y + 1}">{escape(label)}</text>')
    return out


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def line_chart(series: dict[str, list[float]], x_label: str, y_label: str) -> str:
    """One point per second per series."""
    out = _frame(x_label, y_label)
    length = max((len(v) for v in series.values()), default=0)
    top = max((max(v) for v in series.values() if v), default=0) or 1
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    for tick in range(5):
        value = top * tick / 4
        y = PAD_T + plot_h * (1 - tick / 4)
        out.append(f'<text x="{PAD_L - 4}" y="{y + 4}" text-anchor="end">{_fmt(value)}</text>')
    out.append(f'<text x="{PAD_L}" y="{H - PAD_B + 14}">0</text>')
    out.append(
        f'<text x="{W - PAD_R}" y="{H - PAD_B + 14}" text-anchor="end">'
        f"{max(length - 1, 0)} s</text>"
    )
    for i, (label, values) in enumerate(series.items()):
        if not values:
            continue
        points = " ".join(
            f"{PAD_L + plot_w * (x / max(length - 1, 1)):.1f},{PAD_T + plot_h * (1 - v / top):.1f}"
            for x, v in enumerate(values)
        )
        out.append(
            f'<polyline fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.5" '
            f'points="{points}"/>'
        )
    out += _legend(list(series))
    out.append("</svg>")
    return "\n".join(out)


def cdf_chart(distributions: dict[str, list[tuple[float, int]]]) -> str:
    """Cumulative share of samples below each latency (ms, log scale)."""
    out = _frame("latency (ms, log scale)", "share of requests")
    edges = [ms for dist in distributions.values() for ms, _ in dist if ms > 0]
    if not edges:
        out.append("</svg>")
        return "\n".join(out)
    lo = math.floor(math.log10(min(edges)))
    hi = max(math.ceil(math.log10(max(edges))), lo + 1)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x_of(ms: float) -> float:
        return PAD_L + plot_w * (math.log10(max(ms, 10.0**lo)) - lo) / (hi - lo)

    for decade in range(lo, hi + 1):
        x = x_of(10.0**decade)
        out.append(f'<line x1="{x:.1f}" y1="{PAD_T}" x2="{x:.1f}" y2="{H - PAD_B}" stroke="#eee"/>')
        out.append(
            f'<text x="{x:.1f}" y="{H - PAD_B + 14}" text-anchor="middle">'
            f"{_fmt(10.0**decade)}</text>"
        )
    for share in (0, 0.25, 0.5, 0.75, 1):
        y = PAD_T + plot_h * (1 - share)
        out.append(f'<text x="{PAD_L - 4}" y="{y + 4}" text-anchor="end">{share:g}</text>')
    for i, (label, dist) in enumerate(distributions.items()):
        total = sum(count for _, count in dist) or 1
        seen = 0
        points = []
        for ms, count in dist:
            seen += count
            points.append(f"{x_of(ms):.1f},{PAD_T + plot_h * (1 - seen / total):.1f}")
        out.append(
            f'<polyline fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.5" '
            f'points="{" ".join(points)}"/>'
        )
    out += _legend(list(distributions))
    out.append("</svg>")
    return "\n".join(out)
