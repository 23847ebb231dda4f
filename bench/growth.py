"""Replay cost as the SQLite store grows: the next batch of events on top of N persons already stored.

How the store is pre-filled (the fastest honest way we found):

1. a *template*: the generator's traffic for T persons, replayed through the real resolver
   (``stitch replay``) into an SQLite file;
2. *copies*: the template's rows are copied K-1 more times into the same file by SQL
   (``INSERT … SELECT``), every id (event, message, profile, identifier, person, lead, merge,
   suggestion) suffixed with ``~k`` so it is new, and every timestamp moved on by k × the template's
   time span, so the copies follow each other in time like months of traffic. These are exactly the
   rows the resolver wrote, in the same tables and indexes; only the resolver's CPU time is skipped.
   The copied identifiers do not collide with new traffic, and the new batch's time window holds the
   last copy's recent messages, just as at every other size. The blocking index of recent messages
   is then pruned as the resolver's housekeeping would have left it (the last 15 days);
3. the *next batch*: the same generated events (another seed) with times placed right after the
   last copy, replayed through the resolver in a fresh process (``stitch replay``), whose wall time
   per event, events/s and peak RSS (``os.wait4``) are reported with the store's size per person.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.config import TIME_WINDOW_S
from resolver.blocking import FULL_NAME_SPAN
from resolver.service import RECENT_MARGIN

# The template's traffic starts here; copies and the batch follow.
TEMPLATE_START = datetime(2020, 1, 1, tzinfo=UTC)
TEMPLATE_SEED = 41
BATCH_SEED = 97
# The generator writes about this many events per person; used to size the batch.
EVENTS_PER_PERSON = 3.0
# A gap after each copy so the next one does not overlap its returning customers' late visits.
COPY_GAP = timedelta(days=1)
# Columns holding ids or keys of other rows: suffixed per copy so they are new and consistent.
ID_COLUMNS = frozenset(
    {
        "event_id",
        "provider_message_id",
        "profile_key",
        "lead_id",
        "key",
        "user_id",
        "account",
        "chat_id",
        "person_id",
        "ident",
        "a",
        "b",
        "merged_into",
        "merged_by",
        "merge_id",
        "into_id",
        "from_id",
        "undone_by",
        "undoes",
        "suggestion_id",
        "id",
    }
)
# REAL columns that are not timestamps.
NOT_TIME_COLUMNS = frozenset({"score"})
# Tables that are not traffic.
SKIP_TABLES = frozenset({"meta", "sqlite_sequence"})
SUFFIX = "~"
# How far back the resolver keeps its blocking index of recent messages, with the default window.
RECENT_KEEP = max(timedelta(seconds=TIME_WINDOW_S), FULL_NAME_SPAN) + RECENT_MARGIN
# Marks the line on which the replay child reports its peak RSS in KiB.
PEAK_TAG = "bench-peak-rss-kib:"


@dataclass(frozen=True, slots=True, kw_only=True)
class Template:
    path: Path
    persons: int  # resolved persons (not merged away) in the template
    events: int
    start: float  # epoch seconds of the first event
    span_s: float  # time from the first event to the next copy's first event
    replay_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class GrowthPoint:
    """One measured store size."""

    persons: int
    copies: int
    batch_events: int
    seconds: float
    events_per_s: float
    us_per_event: float
    peak_rss_mib: float
    store_mib: float
    bytes_per_person: float
    fill_seconds: float


def _python() -> list[str]:
    return [sys.executable]


def generate(persons: int, seed: int, out: Path, truth: Path, *, start: datetime, cwd: Path) -> None:
    subprocess.run(
        [
            *_python(),
            "-m",
            "bench.generate",
            "--persons",
            str(persons),
            "--seed",
            str(seed),
            "--out",
            str(out),
            "--truth",
            str(truth),
            "--start",
            start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ],
        check=True,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayRun:
    summary: dict[str, float]
    wall_s: float
    peak_rss_mib: float


def replay(store: Path, files: Sequence[Path], *, cwd: Path) -> ReplayRun:
    """``stitch replay`` in a fresh process; its own summary and its own peak RSS.

    The peak comes from the child's ``VmHWM`` (``python -m bench.growth replay …`` prints it): Linux
    carries a parent's peak RSS across fork and exec into ``ru_maxrss``, so ``os.wait4`` or
    ``getrusage`` would report the benchmark driver's size, not the replay's.
    """
    started = time.perf_counter()
    command = [*_python(), "-m", "bench.growth", "replay", "--store", f"sqlite:///{store}", "--json", "--no-progress"]
    done = subprocess.run([*command, *map(str, files)], cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - started
    # Exit status 1 means some lines were skipped (the generator's junk input): still a summary.
    if done.returncode not in (0, 1):
        raise RuntimeError(f"stitch replay failed with status {done.returncode}: {done.stderr.decode()[-500:]}")
    summary = json.loads(done.stdout.decode().strip().splitlines()[-1])
    peak_kib = 0
    for line in done.stderr.decode(errors="replace").splitlines():
        if line.startswith(PEAK_TAG):
            peak_kib = int(line.removeprefix(PEAK_TAG).strip())
    return ReplayRun(summary=summary, wall_s=wall, peak_rss_mib=peak_kib / 1024)


def _peak_rss_kib() -> int:
    """This process's own high-water RSS (``VmHWM``), which exec resets, unlike ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _replay_child(argv: list[str]) -> int:
    from app.cli import main as cli_main

    code = cli_main(["replay", *argv])
    print(f"{PEAK_TAG} {_peak_rss_kib()}", file=sys.stderr)
    return int(code or 0)


def _checkpoint(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def build_template(workdir: Path, persons: int, *, cwd: Path) -> Template:
    out, truth, db = workdir / "template.jsonl", workdir / "template-truth.jsonl", workdir / "template.db"
    generate(persons, TEMPLATE_SEED, out, truth, start=TEMPLATE_START, cwd=cwd)
    run = replay(db, [out], cwd=cwd)
    _checkpoint(db)
    with sqlite3.connect(db) as conn:
        first, last = conn.execute("SELECT min(received_at), max(received_at) FROM events").fetchone()
        alive = conn.execute("SELECT count(*) FROM persons WHERE merged_into IS NULL").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.close()
    return Template(
        path=db,
        persons=int(alive),
        events=int(events),
        start=float(first),
        span_s=float(last) - float(first) + COPY_GAP.total_seconds(),
        replay_seconds=float(run.summary["elapsed_s"]),
    )


def _select_list(conn: sqlite3.Connection, table: str, copy: int, shift: float) -> tuple[list[str], list[str]]:
    names: list[str] = []
    exprs: list[str] = []
    for _, name, kind, _, _, pk in conn.execute(f"PRAGMA t.table_info({table})"):
        if name == "seq" and pk:
            continue  # AUTOINCREMENT keys are assigned afresh
        names.append(name)
        if name in ID_COLUMNS:
            # NULL and '' mean "none": they stay so.
            exprs.append(f"CASE WHEN {name} IS NULL OR {name} = '' THEN {name} ELSE {name} || '{SUFFIX}{copy}' END")
        elif kind.upper() == "REAL" and name not in NOT_TIME_COLUMNS:
            exprs.append(f"{name} + {shift}")
        else:
            exprs.append(name)
    return names, exprs


def add_copies(target: Path, template: Template, first_copy: int, last_copy: int) -> float:
    """Append copies ``first_copy..last_copy`` (inclusive) of the template into ``target``; seconds taken."""
    started = time.perf_counter()
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("ATTACH DATABASE ? AS t", (str(template.path),))
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM t.sqlite_master WHERE type='table'")
            if row[0] not in SKIP_TABLES
        ]
        for copy in range(first_copy, last_copy + 1):
            shift = copy * template.span_s
            conn.execute("BEGIN")
            for table in tables:
                names, exprs = _select_list(conn, table, copy, shift)
                conn.execute(f"INSERT INTO main.{table} ({', '.join(names)}) SELECT {', '.join(exprs)} FROM t.{table}")
            conn.execute("COMMIT")
        conn.execute("DETACH DATABASE t")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - started


def prune_recent(target: Path, before: datetime) -> None:
    """Leave the blocking index as the resolver's housekeeping keeps it (see resolver/service.py)."""
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute("DELETE FROM recent WHERE at < ?", (before.timestamp(),))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def measure(
    workdir: Path, template: Template, copies: Sequence[int], batch_events: int, *, cwd: Path
) -> list[GrowthPoint]:
    """Grow one store through ``copies`` (ascending) and measure the next batch at each size on a copy of it."""
    grown = workdir / "grown.db"
    shutil.copyfile(template.path, grown)
    have = 1
    points: list[GrowthPoint] = []
    batch_persons = max(1, round(batch_events / EVENTS_PER_PERSON))
    last = max(copies)
    for count in sorted(copies):
        fill = add_copies(grown, template, have, count - 1) if count > have else 0.0
        have = max(have, count)
        start = datetime.fromtimestamp(template.start + count * template.span_s, tz=UTC)
        prune_recent(grown, start - RECENT_KEEP)
        batch = workdir / f"batch-{count}.jsonl"
        generate(batch_persons, BATCH_SEED, batch, workdir / f"batch-{count}-truth.jsonl", start=start, cwd=cwd)
        # The largest size is measured in place: copying gigabytes would only cost time.
        target = grown if count == last else workdir / f"measure-{count}.db"
        if target != grown:
            shutil.copyfile(grown, target)
        run = replay(target, [batch], cwd=cwd)
        lines = int(run.summary["lines"])
        seconds = float(run.summary["elapsed_s"])
        persons = template.persons * count
        size = _store_bytes(target)
        points.append(
            GrowthPoint(
                persons=persons,
                copies=count,
                batch_events=lines,
                seconds=seconds,
                events_per_s=lines / seconds if seconds else 0.0,
                us_per_event=seconds / lines * 1e6 if lines else 0.0,
                peak_rss_mib=run.peak_rss_mib,
                store_mib=size / 2**20,
                bytes_per_person=size / persons if persons else 0.0,
                fill_seconds=fill,
            )
        )
        target.unlink()
        for extra in (Path(f"{target}-wal"), Path(f"{target}-shm")):
            extra.unlink(missing_ok=True)
    return points


if __name__ == "__main__":
    if sys.argv[1:2] == ["replay"]:
        sys.exit(_replay_child(sys.argv[2:]))
    sys.exit("usage: python -m bench.growth replay --store URL FILE... (used by python -m bench)")
