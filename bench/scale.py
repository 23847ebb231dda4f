"""Throughput of the Redis store with 1, 2 and 4 `stitch worker` processes (one writer, the rest standby).

    python -m bench.scale [--quick] [--events 4000] [--workers 1,2,4] [--failover]
                          [--redis redis://127.0.0.1:6379/11]

``--quick`` is the suite's small run (``python -m bench --quick``): 400 events, the same 1, 2 and 4 workers.

Each run has a key prefix of its own (`bench-<random>`, dropped afterwards), so two runs on one Redis
DB never meet. `bench.synth` events are stored and enqueued by `stitch replay --enqueue`, then N
worker processes started: one takes the graph's writer lease and resolves, the others stand by.
"events/s" runs from the first resolved event to the last (process start-up excluded); "end to end"
from starting the workers to the last resolved event.

``--failover`` adds one run with two workers in which the active one is killed with SIGKILL when a
third of the events are resolved: "takeover" is the time from the kill to the standby's first
resolved event (at most the lease, STITCH_WORKER_LEASE_S, plus one look at it), and the run checks
that every event ends resolved once with the same grouping. Round trips are counted by each worker's client (reads,
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
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
# A failover run kills the active worker once this share of the events is resolved.
FAILOVER_AT = 1 / 3


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
    failover: bool = False


def _with_prefix(url: str, prefix: str) -> str:
    """The store URL naming this run's own key prefix (`?prefix=`, understood by every Redis URL form)."""
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


def _env(url: str) -> dict[str, str]:
    return dict(os.environ, STITCH_STORE=url, PYTHONPATH=str(ROOT))


def _enqueue(url: str, path: str) -> None:
    """`stitch replay --enqueue`, as an operator would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "replay", "--enqueue", "--no-progress", "--json", path],
        cwd=ROOT,
        env=_env(url),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BenchFailed(f"stitch replay --enqueue failed: {done.stderr.strip().splitlines()[-1:]}")


def _spawn(url: str, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--name", name, "--exit-when-idle"],
        cwd=ROOT,
        env=_env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


class BenchFailed(StitchError):
    """A step of the run failed (the enqueue, or the failover lost or doubled events)."""


async def run(url: str, events: int, workers: int, path: str) -> dict[str, float]:
    url = _with_prefix(url, f"bench-{secrets.token_hex(4)}")
    store = RedisStore.from_url(url)
    await store.open()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        _enqueue(url, path)
        redis_cpu = await _redis_cpu_s(store)
        busy, wall = _machine_busy_s(), time.perf_counter()
        procs = [_spawn(url, f"bench{i}") for i in range(workers)]
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
        totals = dict.fromkeys(("round_trips", "conflicts", "lock_retries", "cpu_s", "lock_waited_s", "terms"), 0.0)
        for p in procs:
            out, _ = p.communicate(timeout=60)
            report = json.loads(out.decode().strip().splitlines()[-1])
            for k in totals:
                totals[k] += report[k]
        same = await partition(store) == truth(events)
        return {
            "workers": workers,
            "events_per_s": (events - first_done) / (last - first) if last > first else 0.0,
            "end_to_end_per_s": events / wall,
            # Times any worker took the writer lease (1: one writer did all the work).
            "writer_terms": totals["terms"],
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


async def failover(url: str, events: int, path: str) -> dict[str, float]:
    """Two workers; SIGKILL the active one a third of the way; the standby takes over and finishes."""
    url = _with_prefix(url, f"bench-{secrets.token_hex(4)}")
    store = RedisStore.from_url(url)
    await store.open()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        _enqueue(url, path)
        procs = {name: _spawn(url, name) for name in ("active", "standby")}
        started = time.perf_counter()
        while (done_at_kill := await _done(store)) < events * FAILOVER_AT:
            if all(p.poll() is not None for p in procs.values()):
                raise WorkersStopped(done=done_at_kill, events=events, statuses=[p.returncode for p in procs.values()])
            await asyncio.sleep(0.01)
        holder = str(await store.client.get(store.key("lease")))
        victim = holder.split(":", 1)[0]
        procs[victim].kill()
        killed = time.perf_counter()
        procs[victim].wait()
        # The victim may have committed a few more events before the signal landed: the standby's
        # first is the first resolved after the count stops moving with the victim gone.
        done_at_kill = await _done(store)
        while (done := await _done(store)) <= done_at_kill and done < events:
            if all(p.poll() is not None for p in procs.values()):
                raise WorkersStopped(done=done, events=events, statuses=[p.returncode for p in procs.values()])
            await asyncio.sleep(0.01)
        took_over = time.perf_counter()
        heir = next(p for name, p in procs.items() if name != victim)
        heir.communicate(timeout=600)
        finished = time.perf_counter()
        counts, event_counts = await store.counts(), await store.event_counts()
        if event_counts != {"done": events} or counts.get("messages") != events:
            raise BenchFailed(f"failover lost or doubled events: {event_counts}, {counts.get('messages')} messages")
        return {
            "events": events,
            "killed_at": done_at_kill,
            "takeover_s": took_over - killed,
            "lease_s": Settings.from_env().worker.lease_s,
            "events_per_s": events / (finished - started),
            "same_grouping": float(await partition(store) == truth(events)),
        }
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        await store.drop_everything()
        await store.close()


async def _done(store: RedisStore) -> int:
    return (await store.event_counts()).get("done", 0)


async def _redis_cpu_s(store: RedisStore) -> float:
    info = await store.client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS} events unless --events is given")
    parser.add_argument("--events", type=int, help=f"events per run (default {EVENTS})")
    parser.add_argument("--workers", default=WORKERS, help="worker counts, comma-separated")
    parser.add_argument("--redis", default=REDIS_URL, help="Redis URL (each run uses and drops its own key prefix)")
    parser.add_argument("--failover", action="store_true", help="also kill -9 the active worker mid-run")
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
    return Options(events=events, workers=workers, redis=args.redis, failover=args.failover)


async def measure(options: Options) -> list[dict[str, float]]:
    """One row per worker count, on the same generated events."""
    with tempfile.TemporaryDirectory(prefix="stitch-scale-") as tmp:
        path = str(Path(tmp) / "events.jsonl")
        write(path, options.events)
        return [await run(options.redis, options.events, n, path) for n in options.workers]


async def measure_failover(options: Options) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="stitch-scale-") as tmp:
        path = str(Path(tmp) / "events.jsonl")
        write(path, options.events)
        return await failover(options.redis, options.events, path)


def render_failover(r: dict[str, float]) -> str:
    return (
        f"failover: active worker killed (SIGKILL) at {r['killed_at']:.0f} of {r['events']:.0f} events; "
        f"standby resolving again after {r['takeover_s']:.1f} s (lease {r['lease_s']:g} s); "
        f"{r['events_per_s']:.0f} events/s over the whole run; nothing lost or doubled; "
        f"same grouping: {'yes' if r['same_grouping'] else 'NO'}"
    )


def render(rows: list[dict[str, float]]) -> str:
    lines = [
        f"{'workers':>8} {'events/s':>10} {'end to end':>11} {'round trips/event':>18} {'conflicts/event':>16}"
        f" {'lock retries/event':>19} {'lock wait ms/event':>19} {'CPU ms/event: workers':>22} {'Redis':>6}"
        f" {'cores busy':>11} {'same grouping':>14}"
    ]
    for r in rows:
        lines.append(
            f"{r['workers']:>8.0f} {r['events_per_s']:>10.0f} {r['end_to_end_per_s']:>11.0f}"
            f" {r['round_trips_per_event']:>18.1f}"
            f" {r['conflicts_per_event']:>16.3f} {r['lock_retries_per_event']:>19.2f} {r['lock_wait_ms']:>19.2f}"
            f" {r['worker_cpu_ms']:>22.2f} {r['redis_cpu_ms']:>6.2f} {r['machine_cores_busy']:>11.2f}"
            f" {'yes' if r['same_grouping'] else 'NO':>14}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    try:
        rows = asyncio.run(measure(options))
        print(render(rows))
        if options.failover:
            print(render_failover(asyncio.run(measure_failover(options))))
    except StitchError as e:
        print(f"bench.scale: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
