"""Writes a run's results: ``RESULTS.md``, ``results.json`` and PNG charts (matplotlib, no display)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.suite import Results

ACCURACY_CHART = "accuracy.png"
GROWTH_CHART = "growth.png"
HISTORICAL_CHART = "historical.png"
# The bound: per-event cost at the largest store within this factor of the smallest.
GROWTH_BOUND = 1.5


def write(results: Results, out: Path) -> list[Path]:
    """Write every file into ``out`` (created if missing); returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "RESULTS.md", out / "results.json"]
    charts = _charts(results, out)
    written.extend(charts)
    (out / "RESULTS.md").write_text(markdown(results, [c.name for c in charts]), encoding="utf-8")
    (out / "results.json").write_text(
        json.dumps(asdict(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return written


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryRow:
    """One part of a run as the closing summary shows it."""

    part: str
    figures: str
    command: str


def summary(results: Results) -> list[SummaryRow]:
    """One row per part asked for: its headline figures (or why there are none) and its command."""
    headline = {
        "accuracy": _accuracy_headline,
        "growth": _growth_headline,
        "scale": _scale_headline,
        "webhooks": _webhooks_headline,
        "historical": _historical_headline,
    }
    rows = []
    for part in results.parts:
        if part in results.failures:
            figures = f"FAILED: {results.failures[part]}"
        else:
            figures = headline[part](results) or "no figures (see RESULTS.md)"
        rows.append(SummaryRow(part=part, figures=figures, command=results.commands.get(part, "")))
    return rows


def summary_table(results: Results) -> str:
    """The summary as aligned plain text for a terminal."""
    rows = [("part", "headline figures", "reproduce with")] + [(r.part, r.figures, r.command) for r in summary(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(
        f"{part:<{widths[0]}}  {figures:<{widths[1]}}  {command}".rstrip() for part, figures, command in rows
    )


def _accuracy_headline(results: Results) -> str:
    if not results.accuracy:
        return ""
    largest = max(r.persons for r in results.accuracy)
    rows = [r for r in results.accuracy if r.persons == largest]
    named = {"Stitch, automatic merges": "Stitch", "exact identifiers (CRM duplicate control)": "exact ids"}
    parts = [
        f"{named.get(r.matcher, r.matcher.split(' (')[0])} F1 {r.f1:.3f}"
        + (f" (P {r.precision:.3f}, R {r.recall:.3f})" if r is rows[0] else "")
        for r in rows
        if r.matcher != "Stitch, merges + suggestions"
    ]
    return f"{largest:,} persons, {rows[0].events:,} events: " + "; ".join(parts)


def _growth_headline(results: Results) -> str:
    if not results.growth:
        return ""
    first, last = results.growth[0], results.growth[-1]
    ratio = last.us_per_event / first.us_per_event if first.us_per_event else 0.0
    return (
        f"{first.us_per_event:,.0f} → {last.us_per_event:,.0f} µs/event from {first.persons:,} to "
        f"{last.persons:,} persons ({ratio:.2f}×)"
    )


def _scale_headline(results: Results) -> str:
    if not results.scale_rows:
        return ""
    rates = ", ".join(f"{r['workers']:.0f} → {r['events_per_s']:.0f}" for r in results.scale_rows)
    same = all(r["same_grouping"] for r in results.scale_rows)
    return f"events/s by workers {rates}; same grouping: {'yes' if same else 'NO'}"


def _webhooks_headline(results: Results) -> str:
    return "; ".join(
        f"{p['rate']:.0f} req/s: p50 {p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms, {p['errors']:.0f} errors"
        for p in results.webhook_phases
    )


def _historical_headline(results: Results) -> str:
    measured = [h for h in results.historical if h.get("seconds") is not None]
    if not measured:
        return results.historical_note
    pairs = "; ".join(
        f"{h['matcher'].split(' (')[0].split(',')[0]} F1 {h['pairwise_f1']:.3f} / {h['clustered_f1']:.3f}"
        for h in measured
    )
    return f"{measured[0]['records']:,} records, pairwise / clustered: {pairs}"


def _f(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(results: Results, charts: list[str]) -> str:
    m = results.machine
    lines = [
        "# Stitch benchmark results",
        "",
        f"Command: `{results.command}` (from the repository root; {results.seconds / 60:.1f} min, started {results.started}).",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']} memory, Python {m['python']}, SQLite {m['sqlite']}, "
        f"{m['os']}; Splink {m['splink']}.",
        "",
    ]
    lines.extend(f"Note: {n}" for n in results.notes)
    if results.parts:
        lines += ["## Summary", "", "| part | headline figures | reproduce with |", "|---|---|---|"]
        lines += [f"| {r.part} | {r.figures} | `{r.command}` |" for r in summary(results)]
        lines.append("")
    if results.accuracy:
        lines += [
            "## Accuracy on generator traffic",
            "",
            "Pairwise precision, recall and F1 over pairs of events from different channel accounts "
            "(`bench/accuracy.py`), seed 23 (not used for tuning). **Stitch resolves online, one event at a "
            "time, seeing only the past; Splink sees the whole batch at once** (every event, earlier and later, "
            "when it scores a pair) and is trained on it (u by random sampling, m by EM). Wall time: Stitch is "
            "the replay into SQLite (parse, resolve, store, leads); the exact matcher reads the replay file; "
            "Splink is training, prediction and clustering on already parsed records.",
            "",
            "| persons | events | matcher | precision | recall | F1 | wall s | note |",
            "|---:|---:|---|---:|---:|---:|---:|---|",
        ]
        for r in results.accuracy:
            lines.append(
                f"| {r.persons:,} | {r.events:,} | {r.matcher} | {_f(r.precision)} | {_f(r.recall)} | {_f(r.f1)} "
                f"| {r.seconds:.1f} | {r.note} |"
            )
        lines.append("")
    if results.growth:
        base = results.growth[0].us_per_event
        lines += [
            "## Replay cost as the store grows (SQLite)",
            "",
            results.growth_note,
            "Each row: the same next batch of generated events (times right after the stored traffic) replayed "
            "by `stitch replay` in a fresh process on top of the store; peak memory is that process's RSS.",
            "",
            "| persons stored | batch events | events/s | µs per event | × smallest | peak RSS MiB | store MiB | bytes per person | fill s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in results.growth:
            lines.append(
                f"| {p.persons:,} | {p.batch_events:,} | {p.events_per_s:,.0f} | {p.us_per_event:,.0f} "
                f"| {p.us_per_event / base if base else 0:.2f} | {p.peak_rss_mib:.0f} | {p.store_mib:,.0f} "
                f"| {p.bytes_per_person:,.0f} | {p.fill_seconds:.0f} |"
            )
        last = results.growth[-1]
        ratio = last.us_per_event / base if base else 0.0
        verdict = "within" if ratio <= GROWTH_BOUND else "NOT within"
        lines += [
            "",
            f"Per-event cost at {last.persons:,} persons is {ratio:.2f}× that at {results.growth[0].persons:,}: "
            f"{verdict} the {GROWTH_BOUND}× bound.",
            "",
        ]
    lines += ["## Redis, 1/2/4 workers", "", results.scale or "not run.", ""]
    lines += ["## Live webhooks (latency from a second process on loopback)", "", results.webhooks or "not run.", ""]
    lines += ["## Outside data: historical_50k (Splink's public benchmark)", ""]
    if results.historical:
        lines += [
            "Read at run time from `../shared/data/historical_figures_with_errors_50k.parquet` (not shipped). "
            "Stitch: `core.names` comparison of first name + surname, date of birth and birth place in Splink's "
            "level style, blocking, connected components (`bench/historical.py`); its level weights were set by "
            "hand after looking at this file's level counts once, so read it as tuned, not blind. Splink, this "
            "run: its tutorial model (also postcode and occupation), pairs at match probability ≥ 0.95. "
            "Pairwise = predicted pairs before clustering; clustered = pairs inside connected components.",
            "",
            "| matcher | records | pairwise P | pairwise R | pairwise F1 | clustered P | clustered R | clustered F1 | wall s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for h in results.historical:
            seconds = h.get("seconds")
            lines.append(
                f"| {h['matcher']} | {h['records']:,} | {_f(h['pairwise_precision'], 3)} | {_f(h['pairwise_recall'], 3)} "
                f"| {_f(h['pairwise_f1'], 3)} | {_f(h.get('clustered_precision'), 3)} | {_f(h.get('clustered_recall'), 3)} "
                f"| {_f(h['clustered_f1'], 3)} | {'–' if seconds is None else f'{seconds:.1f}'} |"
            )
        lines.append("")
    if results.historical_note:
        lines += [results.historical_note, ""]
    if charts:
        lines += ["## Charts", ""] + [f"![{c}]({c})" for c in charts] + [""]
    return "\n".join(lines)


def _charts(results: Results, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    if results.accuracy:
        fig, ax = plt.subplots(figsize=(10, 4.5))
        labels = [f"{r.matcher}\n{r.persons:,} persons" for r in results.accuracy]
        xs = range(len(results.accuracy))
        width = 0.27
        for offset, (key, name) in enumerate((("precision", "precision"), ("recall", "recall"), ("f1", "F1"))):
            ax.bar(
                [x + (offset - 1) * width for x in xs], [getattr(r, key) for r in results.accuracy], width, label=name
            )
        ax.set_xticks(list(xs), labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title("Generator traffic: pairwise accuracy by matcher")
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out / ACCURACY_CHART))
    if results.growth:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([p.persons for p in results.growth], [p.us_per_event for p in results.growth], marker="o")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("persons already stored")
        ax.set_ylabel("µs per event (next batch)")
        ax.set_title("SQLite: per-event replay cost as the store grows")
        fig.tight_layout()
        paths.append(_save(fig, out / GROWTH_CHART))
    if results.historical:
        fig, ax = plt.subplots(figsize=(7, 4))
        rows: list[dict[str, Any]] = results.historical
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [h["pairwise_f1"] for h in rows], 0.4, label="pairwise F1")
        ax.bar([x + 0.2 for x in xs], [h["clustered_f1"] for h in rows], 0.4, label="clustered F1")
        ax.set_xticks(list(xs), [h["matcher"] for h in rows], rotation=20, ha="right", fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title("historical_50k")
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out / HISTORICAL_CHART))
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
