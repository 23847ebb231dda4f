"""Throughput of the Redis store with 1, 2 and 4 `stitch worker` processes.

    python -m bench.scale [--events 4000] [--workers 1,2,4] [--redis redis://127.0.0.1:6379/11]

Each run: fresh keys (only this store's prefix in the given DB is dropped), `bench.synth` events
stored and enqueued, then N worker processes started; the clock runs from the first resolved event
to the last (process start-up excluded). Round trips are counted by each worker's client (reads,
the commit script, lock scripts, stream reads and acks) and divided by the events.
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
from pathlib import Path

from app.ingest import Pipeline
from app.streams import RedisStreamQueue, enqueue_files
from bench.synth import partition, truth, write
from core.config import Settings
from store.redis import RedisStore

ROOT = Path(__file__).resolve().parents[1]


async def run(url: str, events: int, workers: int, path: str) -> dict[str, float]:
    store = RedisStore.from_url(url)
    await store.open()
    try:
        await store.drop_everything()
        settings = Settings()
        await enqueue_files(Pipeline(store, settings), RedisStreamQueue(store, settings.worker), [path])
        env = dict(os.environ, STITCH_STORE=url, PYTHONPATH=str(ROOT))
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
        while True:
            done = (await store.event_counts()).get("done", 0)
            now = time.perf_counter()
            if done and not first:
                first, first_done = now, done
            if done >= events:
                last = now
                break
            await asyncio.sleep(0.05)
        trips = 0
        for p in procs:
            out, _ = p.communicate(timeout=60)
            trips += json.loads(out.decode().strip().splitlines()[-1])["round_trips"]
        same = await partition(store) == truth(events)
        return {
            "workers": workers,
            "events_per_s": (events - first_done) / (last - first),
            "round_trips_per_event": trips / events,
            "same_grouping": float(same),
        }
    finally:
        await store.drop_everything()
        await store.close()


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "events.jsonl")
        write(path, args.events)
        rows = [await run(args.redis, args.events, int(n), path) for n in args.workers.split(",")]
    print(f"{'workers':>8} {'events/s':>10} {'round trips/event':>18} {'same grouping':>14}")
    for r in rows:
        print(
            f"{r['workers']:>8.0f} {r['events_per_s']:>10.0f} {r['round_trips_per_event']:>18.1f}"
            f" {'yes' if r['same_grouping'] else 'NO':>14}"
        )


if __name__ == "__main__":
    asyncio.run(main())
