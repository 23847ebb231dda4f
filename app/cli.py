"""The `stitch` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import replace

from core.config import Settings
from core.errors import ConfigError, StitchError, StoreUnavailable
from core.loggers import setup_logging
from store import open_store
from store.base import BaseStore


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="sqlite:///PATH (default sqlite:///stitch.db) or redis://HOST:PORT/DB")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stitch", description="Chat-channel aggregator with identity resolution")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server: webhooks, forms, inbox, ops")
    _store_option(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--demo", action="store_true", help="start local provider fakes and play a sample story")

    rep = sub.add_parser("replay", help="ingest recorded channel events (JSON Lines, '-' for stdin, .gz ok)")
    _store_option(rep)
    rep.add_argument("files", nargs="+", metavar="FILE")
    rep.add_argument("--json", action="store_true", help="print the summary as JSON")
    rep.add_argument("--no-progress", action="store_true")
    rep.add_argument(
        "--enqueue", action="store_true", help="Redis store: store events and leave resolving to `stitch worker`s"
    )

    work = sub.add_parser("worker", help="resolve events from the Redis ingest stream (any number, any machine)")
    _store_option(work)
    work.add_argument("--name", help="consumer name; reuse it after a restart to resume own entries first")
    work.add_argument("--concurrency", type=int, help="events resolved at a time (STITCH_WORKER_CONCURRENCY)")
    work.add_argument("--exit-when-idle", action="store_true", help="stop once the stream has nothing left")

    exp = sub.add_parser("export", help="write what the resolver decided")
    _store_option(exp)
    exp.add_argument("--what", required=True, choices=["events", "persons", "suggestions", "merges"])
    exp.add_argument("--format", default="jsonl", choices=["jsonl", "csv"])
    exp.add_argument("--out", help="file to write (default stdout)")
    return parser


def settings_for(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "store", None):
        settings = replace(settings, store_url=args.store)
    if getattr(args, "host", None):
        settings = replace(settings, host=args.host)
    if getattr(args, "port", None):
        settings = replace(settings, port=args.port)
    return settings


async def _opened(settings: Settings) -> BaseStore:
    store = open_store(
        settings.store_url, lock_lease_s=settings.worker.lock_lease_s, lock_wait_s=settings.worker.lock_wait_s
    )
    await store.open()
    return store


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from app.ingest import Pipeline
    from app.replay import replay

    store = await _opened(settings)
    try:
        if args.enqueue:
            from app.streams import RedisStreamQueue, enqueue_files
            from store.redis import RedisStore

            if not isinstance(store, RedisStore):
                raise StoreUnavailable(settings.store_url, "--enqueue needs a redis:// store")
            queue = RedisStreamQueue(store, settings.worker)
            summary = await enqueue_files(Pipeline(store, settings), queue, args.files)
        else:
            summary = await replay(Pipeline(store, settings), args.files, progress=False if args.no_progress else None)
    finally:
        await store.close()
    print(json.dumps(summary.as_dict()) if args.json else summary.render())
    return 0 if summary.skipped == 0 else 1


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    from app.export import What, export

    store = await _opened(settings)
    try:
        if args.out:
            with open(args.out, "w", encoding="utf-8", newline="") as out:
                await export(store, What(args.what), out, fmt=args.format)
        else:
            await export(store, What(args.what), sys.stdout, fmt=args.format)
    finally:
        await store.close()
    return 0


async def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    from app.ingest import Pipeline
    from app.streams import RedisStreamQueue, StreamWorker
    from store.redis import RedisStore

    if args.concurrency:
        settings = replace(settings, worker=replace(settings.worker, concurrency=args.concurrency))
    store = await _opened(settings)
    try:
        if not isinstance(store, RedisStore):
            raise StoreUnavailable(settings.store_url, "stitch worker needs a redis:// store")
        queue = RedisStreamQueue(store, settings.worker)
        pipeline = Pipeline(store, settings)
        pipeline.observers.append(queue.feed_writer())
        worker = StreamWorker(pipeline, queue, name=args.name)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        processed = await worker.run(stop=stop, exit_when_idle=args.exit_when_idle)
        print(json.dumps({"worker": worker.name, "processed": processed, "round_trips": store.round_trips}))
    finally:
        await store.close()
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from app.web import create_app

    setup_logging()
    if args.demo:
        from app.demo import run_demo

        return run_demo(settings)
    # Fail fast on a bad store URL, before binding the port.
    asyncio.run(_check_store(settings))
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)
    return 0


async def _check_store(settings: Settings) -> None:
    store = await _opened(settings)
    await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_for(args)
        if args.command == "serve":
            return _serve(args, settings)
        if args.command == "replay":
            return asyncio.run(_replay(args, settings))
        if args.command == "worker":
            setup_logging()
            return asyncio.run(_worker(args, settings))
        if args.command == "export":
            return asyncio.run(_export(args, settings))
    except (ConfigError, StoreUnavailable) as e:
        print(f"stitch: {e}", file=sys.stderr)
        return 2
    except StitchError as e:
        print(f"stitch: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
