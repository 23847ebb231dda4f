"""The benchmark suite behind ``python -m bench``: every figure, one command, one results folder.

Sections (each can be left out with its ``--no-…`` flag):

- ``accuracy``: generator traffic at several sizes; Stitch's automatic merges, merges + suggestions,
  the exact-identifier matcher and Splink, each with pairwise P/R/F1 and wall time;
- ``growth``: replay cost of the next batch of events as the SQLite store grows (``bench.growth``);
- ``scale``: Redis with 1/2/4 workers through ``bench.scale`` (the Redis of ``--redis``);
- ``webhooks``: live webhook latency p50/p99 at fixed rates (``bench.webhooks``);
- ``historical``: Splink's public ``historical_50k`` file, Stitch's comparison and Splink side by side.

Results: ``RESULTS.md`` (tables, machine, command), ``results.json`` and PNG charts in ``--out``,
by default ``bench/out/`` (ignored by git, so a run never changes the checkout); the run ends with a
summary on stdout, one row per part: its headline figures and the command that reproduces it.
Working files (generated traffic, stores) go to a temporary folder that is removed afterwards.
A part that fails is reported on its row and makes the exit status 1; the other parts still run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import growth, historical, linkage
from bench.accuracy import (
    Scores,
    load_events,
    load_suggestions,
    load_truth,
    pairwise_scores,
    read_replay_file,
    with_suggestions,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "bench" / "out"
PARTS = ("accuracy", "growth", "scale", "webhooks", "historical")
# Seed of the accuracy runs: not the one the resolver was tuned on (README: 11 is the tuning seed).
ACCURACY_SEED = 23


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Sizes and switches of one run; ``quick()`` and ``default()`` are the two published plans."""

    accuracy_sizes: tuple[int, ...]
    template_persons: int
    growth_copies: tuple[int, ...]
    batch_events: int
    webhook_rates: tuple[int, ...]
    webhook_seconds: float
    historical_clusters: int | None
    # Arguments of ``python -m bench.scale``: the suite runs that module's own parser on them.
    scale_args: tuple[str, ...] = ()
    is_quick: bool = False
    splink: bool = True
    sections: frozenset[str] = frozenset(PARTS)

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            accuracy_sizes=(500,),
            template_persons=500,
            growth_copies=(1, 4),
            batch_events=500,
            webhook_rates=(50,),
            webhook_seconds=2.0,
            historical_clusters=1000,
            scale_args=("--quick",),
            is_quick=True,
        )

    @classmethod
    def default(cls) -> Plan:
        return cls(
            accuracy_sizes=(2000, 10_000, 30_000),
            template_persons=10_000,
            growth_copies=(1, 10, 100),
            batch_events=5000,
            webhook_rates=(100, 250, 500),
            webhook_seconds=10.0,
            historical_clusters=None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MatcherRow:
    persons: int
    events: int
    matcher: str
    precision: float
    recall: float
    f1: float
    seconds: float
    note: str = ""


@dataclass(slots=True, kw_only=True)
class Results:
    """Everything one run measured; written as JSON and rendered as Markdown."""

    command: str
    machine: dict[str, str]
    started: str
    accuracy: list[MatcherRow] = field(default_factory=list)
    growth: list[growth.GrowthPoint] = field(default_factory=list)
    growth_note: str = ""
    scale: str = ""
    scale_rows: list[dict[str, float]] = field(default_factory=list)
    webhooks: str = ""
    webhook_phases: list[dict[str, Any]] = field(default_factory=list)  # a Phase each, its routes included
    historical: list[dict[str, Any]] = field(default_factory=list)
    historical_note: str = ""
    notes: list[str] = field(default_factory=list)
    # The parts asked for, in order; part → the command that reproduces it alone; part → why it failed.
    parts: list[str] = field(default_factory=list)
    commands: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


# --- machine -----------------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    """nproc, memory, CPU model, Python and SQLite versions: what the figures depend on."""
    import sqlite3

    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            kib = int(info.readline().split()[1])
            memory = f"{kib / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        memory = "unknown"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
        "splink": _splink_version(),
    }


def _splink_version() -> str:
    if not linkage.available():
        return "not installed"
    import splink

    return str(splink.__version__)


# --- accuracy on generator data ----------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, capture_output=True, check=False)


def accuracy(workdir: Path, persons: int, *, splink: bool) -> list[MatcherRow]:
    """Generate, replay through Stitch, export, and score every matcher on the same events."""
    out, truth_path, db = (
        workdir / f"acc-{persons}.jsonl",
        workdir / f"acc-{persons}-truth.jsonl",
        workdir / f"acc-{persons}.db",
    )
    subprocess.run(
        [sys.executable, "-m", "bench.generate", "--persons", str(persons), "--seed", str(ACCURACY_SEED),
         "--out", str(out), "--truth", str(truth_path)],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    run = growth.replay(db, [out], cwd=REPO)
    stitch_seconds = float(run.summary["elapsed_s"])
    events_file, suggestions_file = workdir / f"acc-{persons}-events.jsonl", workdir / f"acc-{persons}-sugg.jsonl"
    for what, path in (("events", events_file), ("suggestions", suggestions_file)):
        _cli("export", "--store", f"sqlite:///{db}", "--what", what, "--out", str(path)).check_returncode()
    truth, _ = load_truth(str(truth_path))
    started = time.perf_counter()
    view = read_replay_file(str(out))
    exact_seconds = time.perf_counter() - started
    predicted = load_events(str(events_file))
    merged = with_suggestions(predicted, load_suggestions(str(suggestions_file)))
    n = len(truth)

    def row(matcher: str, scores: Scores, seconds: float, note: str = "") -> MatcherRow:
        return MatcherRow(
            persons=persons, events=n, matcher=matcher, precision=scores.precision, recall=scores.recall,
            f1=scores.f1, seconds=seconds, note=note,
        )  # fmt: skip

    rows = [
        row("Stitch, automatic merges", pairwise_scores(truth, predicted, view.profile_of), stitch_seconds,
            "online, one event at a time"),
        row("Stitch, merges + suggestions", pairwise_scores(truth, merged, view.profile_of), stitch_seconds,
            "as if a reviewer accepted every suggestion"),
        row("exact identifiers (CRM duplicate control)", pairwise_scores(truth, view.exact_person_of, view.profile_of),
            exact_seconds),
    ]  # fmt: skip
    if splink and linkage.available():
        with open(out, encoding="utf-8") as lines:
            records = linkage.event_records(lines)
        result = linkage.events(records)
        clusters = linkage.clusters_for(truth, result)
        rows.append(row(f"Splink {result.version} (DuckDB)", pairwise_scores(truth, clusters, view.profile_of),
                        result.seconds, "whole batch at once"))  # fmt: skip
    return rows


# --- historical_50k --------------------------------------------------------------------------------------
def historical_rows(path: Path, clusters: int | None, *, splink: bool) -> list[dict[str, Any]]:
    records = historical.load_historical(path, clusters=clusters)
    truth = {r.unique_id: r.cluster for r in records}
    ours = historical.run_stitch(records)
    rows: list[dict[str, Any]] = [
        _hist_row("Stitch match-weight model", ours.pairwise, ours.clustered, ours.seconds, len(records))
    ]
    if splink and linkage.available():
        result = linkage.historical(str(path), clusters=clusters)
        rows.append(
            _hist_row(
                f"Splink {result.version} (DuckDB), this run",
                historical.edge_scores(truth, result.edges),
                historical.cluster_scores(truth, linkage.clusters_for(truth, result)),
                result.seconds,
                len(records),
            )
        )
    if clusters is None:
        # Published on the full file (../shared/data/README.md); not measured here.
        rows.append({"matcher": "Splink, published", "records": len(records), "pairwise_precision": 0.985,
                     "pairwise_recall": 0.563, "pairwise_f1": 0.716, "clustered_f1": 0.829, "seconds": None})  # fmt: skip
    return rows


def _hist_row(name: str, pairwise: Scores, clustered: Scores, seconds: float, records: int) -> dict[str, Any]:
    return {
        "matcher": name,
        "records": records,
        "pairwise_precision": pairwise.precision,
        "pairwise_recall": pairwise.recall,
        "pairwise_f1": pairwise.f1,
        "clustered_precision": clustered.precision,
        "clustered_recall": clustered.recall,
        "clustered_f1": clustered.f1,
        "seconds": seconds,
    }


# --- Redis workers and webhooks ---------------------------------------------------------------------------
def scale_rows(args: Sequence[str]) -> list[dict[str, float]]:
    """``python -m bench.scale ARGS`` in this process: its own parser, so the suite cannot pass it
    an option it does not know."""
    from bench import scale

    return asyncio.run(scale.measure(scale.parse(args)))


def commands(plan: Plan, data: Path | None = None) -> dict[str, str]:
    """The command that reproduces each part of ``plan`` alone, as the summary shows it."""
    suite = [
        "python",
        "-m",
        "bench",
        *(["--quick"] if plan.is_quick else []),
        *([] if plan.splink else ["--no-splink"]),
    ]
    found = {part: shlex.join([*suite, "--only", part]) for part in PARTS}
    if data is not None and data != historical.default_path():
        found["historical"] = shlex.join([*suite, "--only", "historical", "--data", str(data)])
    found["scale"] = shlex.join(["python", "-m", "bench.scale", *plan.scale_args])
    rates = ",".join(str(r) for r in plan.webhook_rates)
    found["webhooks"] = shlex.join(
        ["python", "-m", "bench.webhooks", "--rates", rates, "--seconds", f"{plan.webhook_seconds:g}"]
    )
    return found


# --- the run -------------------------------------------------------------------------------------------------
def run(plan: Plan, out: Path, *, command: str, data: Path, workdir: Path | None = None) -> Results:
    results = Results(command=command, machine=machine(), started=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    results.parts = [p for p in PARTS if p in plan.sections]
    results.commands = commands(plan, data)
    started = time.perf_counter()
    if plan.splink and not linkage.available():
        results.notes.append("Splink is not installed (`pip install '.[compare]'`): its rows are left out.")

    def attempt(part: str, step: Callable[[], None]) -> None:
        # Any failure of one part is recorded on its row, so the parts already measured are still written.
        try:
            step()
        except Exception as e:
            reason = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            results.failures[part] = reason
            _progress(f"{part} failed: {reason}")

    with tempfile.TemporaryDirectory(prefix="stitch-bench-", dir=workdir) as tmp:
        work = Path(tmp)
        if "accuracy" in plan.sections:

            def measure_accuracy() -> None:
                for size in plan.accuracy_sizes:
                    _progress(f"accuracy: {size} persons")
                    results.accuracy.extend(accuracy(work, size, splink=plan.splink))

            attempt("accuracy", measure_accuracy)
        if "growth" in plan.sections:

            def measure_growth() -> None:
                _progress(f"growth: template of {plan.template_persons} persons, copies {plan.growth_copies}")
                template = growth.build_template(work, plan.template_persons, cwd=REPO)
                results.growth = growth.measure(work, template, plan.growth_copies, plan.batch_events, cwd=REPO)
                results.growth_note = (
                    f"Template: {template.persons} persons ({template.events} events) replayed through the resolver "
                    f"in {template.replay_seconds:.1f} s; larger stores are SQL copies of its rows (see `bench/growth.py`)."
                )

            attempt("growth", measure_growth)
    if "scale" in plan.sections:

        def measure_scale() -> None:
            from bench import scale

            _progress(f"scale: Redis workers ({results.commands['scale']})")
            results.scale_rows = scale_rows(plan.scale_args)
            results.scale = f"`{results.commands['scale']}`:\n\n```\n{scale.render(results.scale_rows)}\n```"

        attempt("scale", measure_scale)
    if "webhooks" in plan.sections:

        def measure_webhooks() -> None:
            from bench import webhooks

            _progress("webhooks")
            phases = asyncio.run(webhooks.run(list(plan.webhook_rates), plan.webhook_seconds))
            results.webhook_phases = [dataclasses.asdict(p) for p in phases]
            results.webhooks = webhooks.render(phases)

        attempt("webhooks", measure_webhooks)
    if "historical" in plan.sections:
        if data.exists():

            def measure_historical() -> None:
                _progress("historical_50k")
                results.historical = historical_rows(data, plan.historical_clusters, splink=plan.splink)
                if plan.historical_clusters is not None:
                    results.historical_note = (
                        f"First {plan.historical_clusters} true persons of the file only (quick mode)."
                    )

            attempt("historical", measure_historical)
        else:
            # Short: it is also the summary's cell, and one long cell widens every row of that table.
            results.historical_note = f"not run: {data} not found (--data FILE; the README says where to get it)."
    results.seconds = time.perf_counter() - started
    from bench.report import write

    write(results, out)
    return results


def _progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Stitch's benchmark suite.")
    parser.add_argument("--quick", action="store_true", help="every part at small sizes, a few minutes")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="results folder (default bench/out/, ignored by git)")
    parser.add_argument("--data", default=str(historical.default_path()), help="historical_50k parquet file")
    parser.add_argument("--workdir", help="folder for temporary files (default: the system's)")
    parser.add_argument("--redis", help="Redis URL for the scale part (default: bench.scale's)")
    parser.add_argument("--no-splink", action="store_true")
    parser.add_argument("--only", action="append", choices=PARTS, help="run only this part (repeatable)")
    for section in PARTS:
        parser.add_argument(f"--no-{section}", action="store_true", help=f"skip the {section} section")
    return parser


def plan_of(args: argparse.Namespace) -> Plan:
    """The plan the parsed command line asks for."""
    plan = Plan.quick() if args.quick else Plan.default()
    sections = frozenset(args.only) if args.only else plan.sections
    sections -= {s for s in PARTS if getattr(args, f"no_{s}")}
    scale_args = (*plan.scale_args, *(["--redis", args.redis] if args.redis else []))
    return Plan(**{**_plan_fields(plan), "splink": not args.no_splink, "sections": sections, "scale_args": scale_args})


def main(argv: Sequence[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        cli.error(f"--out {out} is a file, not a folder")
    if args.workdir and not Path(args.workdir).is_dir():
        cli.error(f"--workdir {args.workdir} is not a folder")
    plan = plan_of(args)
    if "scale" in plan.sections:
        from bench import scale

        scale.parse(plan.scale_args)  # a bad --redis or scale option fails now, not after the other parts
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    results = run(plan, out, command=command.strip(), data=Path(args.data),
                  workdir=Path(args.workdir) if args.workdir else None)  # fmt: skip
    from bench.report import summary_table

    print(summary_table(results))
    print(f"results: {out / 'RESULTS.md'} ({results.seconds / 60:.1f} min)")
    return 1 if results.failures else 0


def _plan_fields(plan: Plan) -> dict[str, Any]:
    return {name: getattr(plan, name) for name in Plan.__dataclass_fields__}
