"""Throughput of the Redis store with 1, 2 and 4 `stitch worker` processes.

    python -m bench.scale [--quick] [--events 4000] [--workers 1,2,4] [--redis redis://127.0.0.1:6379/11]

``--quick`` is the suite's small run (``python -m bench --quick``): 400 events, the same 1, 2 and 4 workers.

Each run: fresh keys (only this store's prefix in the given DB is dropped), `bench.synth` events
stored and enqueued, then N worker processes started; the clock runs from the first resolved event
to the last (process start-up excluded). Round trips are counted by each worker's client (reads,
the commit script, lock scripts, stream reads and acks) and divided by the events; so are the
WriteConflicts re-run, the lock tries that found a key held by another process and the time spent
waiting for it. CPU per event is the workers' own (from their first read) and Redis's (INFO cpu);
"cores busy" is the whole machine's, other work included, over the workers' run: when it is near the
core count, more workers cannot add throughput, and the ceiling is cores / (worker + Redis CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.ingest import Pipeline
from app.streams import RedisStreamQueue, enqueue_files
from bench.synth import partition, truth, write
from core.config import Settings
from core.errors import StitchError
from store.redis import RedisStore

ROOT = Path(__file__).resolve().parents[1]
EVENTS = 4000
QUICK_EVENTS = 400
WORKERS = "1,2,4"
REDIS_URL = "redis://127.0.0.1:6379/11"
# Longest wait for the last event once no worker is left: a crashed worker must end the run, not hang it.
STOPPED_GRACE_S = 5.0


class WorkersStopped(StitchError):
    """Every worker process ended before all events were resolved."""

    def __init__(self, *, done: int, events: int, statuses: list[int | None]) -> None:
        super().__init__(f"workers ended with {done} of {events} events resolved (exit statuses {statuses})")
        self.done, self.events, self.statuses = done, events, statuses


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """One invocation: how many events, which worker counts, which Redis."""

    events: int
    workers: tuple[int, ...]
    redis: str


async def run(url: str, events: int, workers: int, path: str) -> dict[str, float]:
    store = RedisStore.from_url(url)
    await store.open()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await store.drop_everything()
        settings = Settings()
        await enqueue_files(Pipeline(store, settings), RedisStreamQueue(store, settings.worker), [path])
        env = dict(os.environ, STITCH_STORE=url, PYTHONPATH=str(ROOT))
        redis_cpu = await _redis_cpu_s(store)
        busy, wall = _machine_busy_s(), time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "app.cli", "worker", "--name", f"bench{i}", "--exit-when-idle"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            for i in range(workers)
        ]
        first = last = 0.0
        stopped_at: float | None = None
        while True:
            done = (await store.event_counts()).get("done", 0)
            now = time.perf_counter()
            if done and not first:
                first, first_done = now, done
            if done >= events:
                last = now
                break
            if all(p.poll() is not None for p in procs):
                stopped_at = stopped_at or now
                if now - stopped_at > STOPPED_GRACE_S:
                    raise WorkersStopped(done=done, events=events, statuses=[p.returncode for p in procs])
            await asyncio.sleep(0.05)
        redis_cpu = await _redis_cpu_s(store) - redis_cpu
        busy, wall = _machine_busy_s() - busy, time.perf_counter() - wall
        totals = dict.fromkeys(("round_trips", "conflicts", "lock_retries", "cpu_s", "lock_waited_s"), 0.0)
        for p in procs:
            out, _ = p.communicate(timeout=60)
            report = json.loads(out.decode().strip().splitlines()[-1])
            for k in totals:
                totals[k] += report[k]
        same = await partition(store) == truth(events)
        return {
            "workers": workers,
            "events_per_s": (events - first_done) / (last - first),
            "round_trips_per_event": totals["round_trips"] / events,
            "conflicts_per_event": totals["conflicts"] / events,
            "lock_retries_per_event": totals["lock_retries"] / events,
            # CPU per event: the workers' (from their first read, start-up left out), and Redis's.
            "worker_cpu_ms": totals["cpu_s"] / events * 1000,
            "redis_cpu_ms": redis_cpu / events * 1000,
            # Cores busy over the run, everything on the machine counted (other work included).
            "machine_cores_busy": busy / wall,
            # Time an event waited for another process's locks (in Redis), per event.
            "lock_wait_ms": totals["lock_waited_s"] / events * 1000,
            "same_grouping": float(same),
        }
    finally:
        for p in procs:  # only left running when the run was interrupted
            if p.poll() is None:
                p.kill()
                p.wait()
        await store.drop_everything()
        await store.close()


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (Linux /proc/stat), or 0 where unknown."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


async def _redis_cpu_s(store: RedisStore) -> float:
    info = await store.client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS} events unless --events is given")
    parser.add_argument("--events", type=int, help=f"events per run (default {EVENTS})")
    parser.add_argument("--workers", default=WORKERS, help="worker counts, comma-separated")
    parser.add_argument("--redis", default=REDIS_URL, help="Redis URL (only this store's keys are dropped)")
    return parser


def parse(argv: Sequence[str] | None = None) -> Options:
    """The options of ``argv``; a bad value exits with one line from argparse."""
    p = parser()
    args = p.parse_args(argv)
    events = args.events if args.events is not None else (QUICK_EVENTS if args.quick else EVENTS)
    if events < 1:
        p.error("--events must be at least 1")
    try:
        workers = tuple(int(n) for n in args.workers.split(","))
    except ValueError:
        p.error(f"--workers must be numbers separated by commas, not {args.workers!r}")
    if not workers or min(workers) < 1:
        p.error("--workers must be at least 1 each")
    return Options(events=events, workers=workers, redis=args.redis)


async def measure(options: Options) -> list[dict[str, float]]:
    """One row per worker count, on the same generated events."""
    with tempfile.TemporaryDirectory(prefix="stitch-scale-") as tmp:
        path = str(Path(tmp) / "events.jsonl")
        write(path, options.events)
        return [await run(options.redis, options.events, n, path) for n in options.workers]


def render(rows: list[dict[str, float]]) -> str:
    lines = [
        f"{'workers':>8} {'events/s':>10} {'round trips/event':>18} {'conflicts/event':>16}"
        f" {'lock retries/event':>19} {'lock wait ms/event':>19} {'CPU ms/event: workers':>22} {'Redis':>6}"
        f" {'cores busy':>11} {'same grouping':>14}"
    ]
    for r in rows:
        lines.append(
            f"{r['workers']:>8.0f} {r['events_per_s']:>10.0f} {r['round_trips_per_event']:>18.1f}"
            f" {r['conflicts_per_event']:>16.3f} {r['lock_retries_per_event']:>19.2f} {r['lock_wait_ms']:>19.2f}"
            f" {r['worker_cpu_ms']:>22.2f} {r['redis_cpu_ms']:>6.2f} {r['machine_cores_busy']:>11.2f}"
            f" {'yes' if r['same_grouping'] else 'NO':>14}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    try:
        rows = asyncio.run(measure(options))
    except StitchError as e:
        print(f"bench.scale: {e}", file=sys.stderr)
        return 1
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
