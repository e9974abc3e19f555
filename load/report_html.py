"""report.html: one page a person can read and share, built from report.json's figures.

Sections, in order (each an ``<section id=...>``): summary, parameters (what shaped this run),
machine, resources (what the tool and the server used: one row per resource, side by side),
throughput, latency, errors, convergence, raw settings and versions. Every count is labelled
with the words of load/glossary.py, which say whether it includes replays."""

from __future__ import annotations

from html import escape
from typing import Any

import orjson

from load.glossary import ANSWERED, NEW, REPLAYED, TOTALS, count_meaning, total_label, total_meaning
from load.machine import NOT_MEASURED
from load.stats import Stats, per_second
from load.svg import cdf_chart, line_chart

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1.5em;"
    "color:#222;line-height:1.4}"
    "table{border-collapse:collapse;margin:.6em 0 1em}"
    "td,th{border:1px solid #ccc;padding:3px 10px;text-align:right;vertical-align:top}"
    "td.text,th.text{text-align:left}th{background:#f4f4f4}"
    ".ok{color:#060}.bad{color:#b00}.note{color:#555;font-size:.92em;margin:.2em 0 .8em}"
    "svg.chart{display:block;width:100%;height:auto;margin:.5em 0 1.2em;font-size:12px}"
    # the charts scale with the window: their text is set larger in a narrow one
    "@media (max-width:1000px){svg.chart{font-size:15px}}"
    "@media (max-width:640px){svg.chart{font-size:19px}}"
    "pre{background:#f8f8f8;padding:1em;overflow:auto}h2{margin-top:1.6em}"
    "section{overflow-x:auto}"
)
TIMELINE_SERIES = (NEW, REPLAYED, "changes_pulled", "changes_delivered", "deliveries",
                   "initial_sync_records")


TEXT = " class='text'"


def _cell(value: Any, text: bool) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:,}"
    elif isinstance(value, float):
        value = f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.3g}"
    return f"<td{TEXT if text else ''}>{escape(str(value))}</td>"


def table(rows: list[list[Any]], head: list[str] | None, text_columns: int = 1) -> str:
    """The first ``text_columns`` columns are words (left-aligned), the rest figures;
    ``head`` None: a table of names and values, without a header row."""
    th = "".join(
        f"<th class='text'>{escape(h)}</th>" if i < text_columns else f"<th>{escape(h)}</th>"
        for i, h in enumerate(head or [])
    )
    body = "".join(
        "<tr>" + "".join(_cell(c, i < text_columns) for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table>{f'<tr>{th}</tr>' if th else ''}{body}</table>"


def section(anchor: str, title: str, *parts: str) -> str:
    return f"<section id='{anchor}'><h2>{escape(title)}</h2>" + "".join(parts) + "</section>"


def note(text: str) -> str:
    return f"<p class='note'>{escape(text)}</p>" if text else ""


# -- parameters and machine ---------------------------------------------------------------

def _parameters(report: dict[str, Any]) -> str:
    target = report.get("target", {})
    results = report["results"]
    spawned = target.get("kind") == "spawned"
    rows: list[list[Any]] = [
        ["scenario", report["scenario"]],
        ["server", ("spawned by the tool (--spawn), on this machine" if spawned
                    else "external (--url): " + ", ".join(target.get("urls", [])))],
    ]
    if spawned:
        rows.append(["server args", target.get("server_args") or "(none)"])
    for name, value in report.get("scenario_settings", {}).items():
        shown = "(none)" if value in ("", None) else value
        rows.append([name.replace("_", " "), shown])
    if "drive_s" in results:
        rows.append(["load phase, measured", f"{results['drive_s']} s (stopped by "
                     f"{results.get('stopped_by', '?')})"])
    if "settle_s" in results:
        rows.append(["settle phase, measured", f"{results['settle_s']} s"])
    return section(
        "parameters", "Parameters",
        table(rows, ["parameter", "value"], text_columns=2),
        note("The settings that shape this scenario; all of them are under 'Raw settings "
             "and versions' below and in report.json."),
    )


def _machine(report: dict[str, Any]) -> str:
    m = report["results"].get("machine", {})
    versions = report.get("versions", {})
    memory = m.get("memory_bytes")
    rows = [
        ["CPU", m.get("cpu_model", "?")],
        ["cores", f"{m.get('cpus', '?')} ({m.get('cpus_usable', '?')} usable by the tool)"],
        ["memory", f"{memory / 2**30:.1f} GiB" if memory else "?"],
        ["Python", m.get("python", versions.get("python", "?"))],
        ["OS", m.get("os", versions.get("platform", "?"))],
        ["load average at start", ", ".join(str(x) for x in m.get("loadavg_at_start", []))],
        ["load tool", " ".join(str(x) for x in (versions.get("load_tool"),
                                                 versions.get("git_commit")) if x)],
        ["server version", versions.get("server", {}).get("version", "?")],
    ]
    return section("machine", "Machine", table(rows, None, text_columns=2))


# -- resources: one row per resource, the tool and the server side by side ----------------

def _cpu_cell(split: dict[str, Any], side: str) -> str:
    seconds = split.get(f"{side}_cpu_s")
    if seconds is None:
        note: str = split.get("server_note", NOT_MEASURED)
        return note
    return f"{seconds:,.2f} s ({split.get(f'{side}_cores', 0):.2f} cores)"


def resource_rows(results: dict[str, Any]) -> list[list[Any]]:
    """[what, load tool, server] rows; a new measured resource (memory, ...) is a new row."""
    cpu = results.get("cpu", {})
    rows = []
    for phase, label in (("load_phase", "CPU, load phase"),
                         ("whole_run", "CPU, whole run (setup to check)")):
        split = cpu.get(phase)
        if split:
            rows.append([f"{label}, {split['wall_s']:.1f} s", _cpu_cell(split, "tool"),
                         _cpu_cell(split, "server")])
    return rows


def _resources(report: dict[str, Any]) -> str:
    results = report["results"]
    rows = resource_rows(results)
    if not rows:
        return ""
    split = results.get("cpu", {}).get("load_phase", {})
    cores = results.get("machine", {}).get("cpus_usable") or results.get("machine", {}).get("cpus")
    if split.get("server_cpu_s") is not None:
        busy = split["tool_cores"] + split["server_cores"]
        text = (f"During the load phase the tool and the server kept {busy:.2f} of the "
                f"{cores} cores busy; the tool used {100 * (split.get('tool_share') or 0):.0f}% "
                f"of that. A side near a whole core (the server's storage writer, the tool's "
                f"single event loop) or both near all cores means the figures measure the "
                f"machine as much as the server.")
    else:
        text = ("The server runs elsewhere (--url): its CPU is not measured here; run with "
                "--spawn, or watch the server's host, to know which side saturated.")
    return section(
        "resources", "Resources: load tool and server",
        table(rows, ["", "load tool", "server"], text_columns=3),
        note("CPU seconds (user + system); cores: CPU seconds per wall-clock second (1.00 is "
             "one core all the time). " + text),
    )


def _memory(report: dict[str, Any]) -> str:
    """The tool's and a spawned server's resident memory: peaks, and over the run
    (load/memory.py)."""
    memory = report["results"].get("memory")
    if not memory:
        return ""
    seconds, tool = memory["seconds"], memory["tool_rss_mb"]
    rows: list[list[Any]] = [["load tool, peak", memory["tool_peak_rss_mb"]]]
    for phase, at in memory.get("phase_end_s", {}).items():
        if at in seconds:
            rows.append([f"load tool, end of {phase}", tool[seconds.index(at)]])
    if memory.get("server_peak_rss_mb") is not None:
        rows.append(["server (spawned), peak", memory["server_peak_rss_mb"]])
    every = max(1, round(memory.get("sample_every_s", 1)))
    # one value per second, as the chart draws: each sample stands for its interval
    series = {"load tool": [x or 0.0 for x in tool for _ in range(every)]}
    if memory.get("server_rss_mb"):
        series["server"] = [x or 0.0 for x in memory["server_rss_mb"] for _ in range(every)]
    return section(
        "memory", "Memory",
        table(rows, ["resident set", "MB"]),
        line_chart(series, "seconds since start: load, settle, check", "MB")
        if len(seconds) > 1 else "",
        note(f"Resident set sizes read from /proc every {every} s. The tool keeps one "
             "copy of each record and journals the history to disk (docs/load.md), so it "
             "grows with the records of the run, not with clients x records; a server's "
             "should be flat once warm."),
    )


# -- throughput -----------------------------------------------------------------------------

def _throughput(report: dict[str, Any]) -> str:
    results = report["results"]
    totals, in_load = results["totals"], results.get("totals_load_phase", results["totals"])
    order = [k for k in TOTALS if k in totals] + sorted(k for k in totals if k not in TOTALS)
    rows = [
        [total_label(k), total_meaning(k), totals[k], in_load.get(k, totals[k]),
         results["throughput_per_s"].get(k, 0.0)]
        for k in order
    ]
    timeline = results.get("timeline", {})
    end = results.get("elapsed_s", 0.0)
    series: dict[str, list[float]] = {}
    chart_note = ""
    for name in TIMELINE_SERIES:
        if any(timeline.get(name, [])):
            series[total_label(name)], chart_note = per_second(timeline[name], end)
    settle = results.get("phases_s", {}).get("settle")  # [start, end], seconds since start
    settle_start, settle_end = settle or (0.0, 0.0)
    # shaded where it shows: a settle phase of a few milliseconds would be an invisible band
    shaded = bool(settle) and settle_end - settle_start >= 0.01 * max(end, 1.0)
    bands = [(settle_start, settle_end, "settle")] if shaded else []
    parts = [
        table(rows, ["count", "meaning", "total", "load phase", "per second (load phase)"],
              text_columns=2),
        note(f"Per second: the load-phase count over the load phase ({results.get('drive_s', '?')}"
             f" s). Totals add the settle phase (outbox flushes, final pulls). "
             f"'{TOTALS[NEW].label}' + '{TOTALS[REPLAYED].label}' = "
             f"'{TOTALS[ANSWERED].label}'."),
    ]
    if series:
        parts.append(line_chart(series, "seconds since start", "per second", end, bands))
        parts.append(note(
            "One point per whole second"
            + (f"; the shaded stretch is the settle phase (from {settle_start:.1f} s). "
               if shaded else f" (the settle phase took {settle_end - settle_start:.3f} s). "
               if settle else ". ")
            + (chart_note[0].upper() + chart_note[1:] + "." if chart_note
               else "The run ended on a whole second.")))
    outcomes = results.get("outcomes", {})
    if outcomes:
        parts.append("<h3>Push results</h3>")
        parts.append(table([[k, v] for k, v in sorted(outcomes.items())], ["status", "answers"]))
        parts.append(note("Answers to pushes, replays included (they add up to "
                          f"'{TOTALS[ANSWERED].label}'); '_duplicate': the server's stored answer "
                          "to a mutation it had already processed. A resend after a lost "
                          "response is a '_duplicate' to the server but the tool's first "
                          f"answer for that write, so it counts among the '{TOTALS[NEW].label}'."))
    return section("throughput", "Throughput", *parts)


# -- latency, errors, convergence -----------------------------------------------------------

def _latency(report: dict[str, Any], stats: Stats) -> str:
    results = report["results"]
    rows = [[op, s["count"], s["mean_ms"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["max_ms"]]
            for op, s in results["latency_ms"].items()]
    distributions = {op: h.distribution() for op, h in sorted(stats.latency.items())}
    # one line per operation that ran across several seconds: stalls stand out as spikes
    worst = {op: [float(x) for x in v]
             for op, v in sorted(results.get("worst_ms_per_second", {}).items()) if len(v) > 1}
    return section(
        "latency", "Latency (ms)",
        table(rows, ["operation", "count", "mean", "p50", "p95", "p99", "max"]),
        cdf_chart(distributions) if distributions else "",
        note("The share of requests answered within each latency (log scale; percentiles "
             "within 1%, the maximum exact).") if distributions else "",
        line_chart(worst, "seconds since start", "worst latency of each second (ms)",
                   results.get("elapsed_s")) if worst else "",
        note("The worst latency of each second: a steady tail, or a few stalls?") if worst
        else "",
    )


def _errors(report: dict[str, Any]) -> str:
    results = report["results"]
    rows = [[k, v, results["error_samples"].get(k, "")] for k, v in results["errors"].items()]
    body = table(rows, ["kind", "count", "first sample"]) if rows else "<p>none</p>"
    return section("errors", "Errors", body)


def _findings(items: list[dict[str, Any]], head: str) -> str:
    rows = [
        [a["kind"], a.get("record", ""), a.get("client_id", ""),
         orjson.dumps({k: v for k, v in a.items() if k not in ("kind", "record")}).decode()[:300]]
        for a in items
    ]
    return table(rows, [head, "record", "client", "detail"], text_columns=4) if rows else ""


def _convergence(report: dict[str, Any]) -> str:
    verdict = report["convergence"]
    counts = verdict.get("counts", {})
    rows = [[k, count_meaning(k), v] for k, v in counts.items()]
    return section(
        "convergence", "Convergence checks",
        table(rows, ["check", "meaning", "count"], text_columns=2),
        note("These count distinct mutations (each (client, mid) once): replays are excluded, "
             "except where a row says otherwise; anomaly and warning kinds are explained in "
             "docs/load.md."),
        _findings(verdict.get("anomalies", []), "anomaly"),
        _findings(verdict.get("warnings", []), "warning"),
    )


def _raw(report: dict[str, Any]) -> str:
    setup = orjson.dumps(
        {"target": report.get("target"), "settings": report["settings"],
         "versions": report["versions"]},
        option=orjson.OPT_INDENT_2,
    ).decode()
    log = report["results"].get("server_log_tail")
    return section(
        "raw", "Raw settings and versions",
        f"<details><summary>all settings and versions (JSON)</summary><pre>{escape(setup)}"
        "</pre></details>",
        (f"<details><summary>server log (tail)</summary><pre>{escape(log)}</pre></details>"
         if log else ""),
    )


def _summary(report: dict[str, Any]) -> str:
    results, verdict = report["results"], report["convergence"]
    ok = verdict.get("ok")
    totals, rates = results["totals"], results["throughput_per_s"]
    line = (f"{totals.get(NEW, 0):,} {TOTALS[NEW].label} ({rates.get(NEW, 0):,.0f}/s over the "
            f"load phase), {totals.get(REPLAYED, 0):,} {TOTALS[REPLAYED].label}, "
            f"{sum(results['errors'].values()):,} errors.")
    return section(
        "summary", "Summary",
        f"<p class='{'ok' if ok else 'bad'}'><b>Convergence: "
        f"{escape(str(verdict.get('verdict', '?')))}</b></p>",
        f"<p>{escape(line)}</p>",
    )


def render_html(report: dict[str, Any], stats: Stats) -> str:
    scenario = escape(report["scenario"])
    return "\n".join([
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>syncserver load: {scenario}</title><style>{STYLE}</style></head><body>",
        f"<h1>syncserver load report: {scenario}</h1>",
        _summary(report),
        _parameters(report),
        _machine(report),
        _resources(report),
        _memory(report),
        _throughput(report),
        _latency(report, stats),
        _errors(report),
        _convergence(report),
        _raw(report),
        "</body></html>",
    ])
