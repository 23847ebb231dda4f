"""The `stitch` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import getpass
import json
import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TextIO

from core.config import DEFAULT_STORE, DEMO_STORE, Settings, port_number
from core.errors import ConfigError, ListenError, StitchError, StoreUnavailable
from core.loggers import setup_logging
from store import open_store
from store.base import BaseStore


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        help="sqlite:///PATH (default sqlite:///stitch.db), redis://HOST:PORT/DB or redis+cluster://HOST:PORT,...",
    )


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

    work = sub.add_parser(
        "worker", help="resolve events from the Redis ingest stream: one writer per graph, the others stand by"
    )
    _store_option(work)
    work.add_argument("--name", help="consumer name; reuse it after a restart to resume own entries first")
    work.add_argument("--concurrency", type=int, help="events resolved at a time (STITCH_WORKER_CONCURRENCY)")
    work.add_argument("--exit-when-idle", action="store_true", help="stop once the stream has nothing left")

    exp = sub.add_parser("export", help="write what the resolver decided")
    _store_option(exp)
    exp.add_argument("--what", required=True, choices=["events", "persons", "suggestions", "merges"])
    exp.add_argument("--format", default="jsonl", choices=["jsonl", "csv"])
    exp.add_argument("--out", help="file to write (default stdout)")

    tg = sub.add_parser("telegram", help="Telegram bot administration")
    tg_sub = tg.add_subparsers(dest="action", required=True)
    hook = tg_sub.add_parser("set-webhook", help="point the bot at STITCH_PUBLIC_URL/webhooks/telegram")
    hook.add_argument("--url", help="webhook URL (default: STITCH_PUBLIC_URL + /webhooks/telegram)")
    hook.add_argument("--delete", action="store_true", help="remove the webhook (back to long polling)")

    av = sub.add_parser("avito", help="Avito messenger administration")
    av_sub = av.add_subparsers(dest="action", required=True)
    subscribe = av_sub.add_parser("subscribe", help="register STITCH_PUBLIC_URL/webhooks/avito/<secret>")
    subscribe.add_argument("--url", help="webhook URL (default: built from the public URL and the secret)")

    mx = sub.add_parser("max", help="MAX bot administration")
    mx_sub = mx.add_subparsers(dest="action", required=True)
    mx_subscribe = mx_sub.add_parser("subscribe", help="have MAX post updates to URL (POST /subscriptions)")
    mx_subscribe.add_argument("url", nargs="?", help="webhook URL (default: STITCH_PUBLIC_URL + /webhooks/max)")
    mx_unsubscribe = mx_sub.add_parser("unsubscribe", help="remove the subscription (back to long polling)")
    mx_unsubscribe.add_argument("url", nargs="?", help="webhook URL (default: STITCH_PUBLIC_URL + /webhooks/max)")

    bx = sub.add_parser("bitrix24", help="the Bitrix24 CRM push (STITCH_BITRIX24_WEBHOOK_URL)")
    bx_sub = bx.add_subparsers(dest="action", required=True)
    bx_sub.add_parser("check", help="verify the webhook, its scopes and the CRM mode")
    bx_sync = bx_sub.add_parser("sync", help="push every person and lead again (idempotent) and drain the queue")
    _store_option(bx_sync)
    bx_jobs = bx_sub.add_parser("jobs", help="queue counts, failed pushes and merges waiting for review")
    _store_option(bx_jobs)
    users = sub.add_parser("user", help="inbox users")
    users_sub = users.add_subparsers(dest="action", required=True)
    add = users_sub.add_parser("add", help="add a user; the password comes from STITCH_PASSWORD or stdin")
    _store_option(add)
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["manager", "supervisor", "ops", "admin"])

    person = sub.add_parser("person", help="one person's data (GDPR, 152-FZ): export or erase")
    person_sub = person.add_subparsers(dest="action", required=True)
    p_export = person_sub.add_parser("export", help="everything held about a person, as one JSON document")
    p_forget = person_sub.add_parser("forget", help="erase a person; an audit entry without personal data stays")
    for p in (p_export, p_forget):
        _store_option(p)
        p.add_argument("person_id", metavar="PERSON_ID", help="any id of the person, merged-away ids too")
    p_export.add_argument("--out", help="file to write (default stdout)")
    p_forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p_forget.add_argument("--actor", help="who asks for the erasure, for the audit (default: the OS user)")

    retention = sub.add_parser("retention", help="keep chats only as long as needed (STITCH_RETENTION_DAYS)")
    retention_sub = retention.add_subparsers(dest="action", required=True)
    r_sweep = retention_sub.add_parser("sweep", help="erase message texts and raw payloads older than the retention")
    _store_option(r_sweep)
    r_sweep.add_argument("--days", type=int, help="retention in days (default STITCH_RETENTION_DAYS)")
    r_sweep.add_argument("--vacuum", action="store_true", help="SQLite: also rewrite the file without free pages")

    from app.ops.commands import add_graph_parser

    add_graph_parser(sub, _store_option)
    from app.parked import add_events_parser

    add_events_parser(sub, _store_option)

    model = sub.add_parser("model", help="the match-weight model the resolver scores with")
    model_sub = model.add_subparsers(dest="action", required=True)
    train = model_sub.add_parser("train", help="re-estimate m, u and the prior from stored messages or a replay file")
    _store_option(train)
    train.add_argument("--replay", nargs="+", metavar="FILE", help="train on these replay files instead of the store")
    train.add_argument("--out", help="write the model to this file instead of keeping it with the store")
    show = model_sub.add_parser("show", help="each comparison's levels with m, u and weight")
    _store_option(show)
    show.add_argument("--model", metavar="PATH", help="a model file instead of the store's model")
    return parser


def settings_for(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    store = getattr(args, "store", None)
    if store is not None:
        if not store.strip():
            raise ConfigError("--store", "is empty; expected sqlite:///PATH or redis://HOST:PORT/DB")
        settings = replace(settings, store_url=store)
    elif getattr(args, "demo", False) and settings.store_url == DEFAULT_STORE:
        settings = replace(settings, store_url=DEMO_STORE)
    if getattr(args, "host", None):
        settings = replace(settings, host=args.host)
    if getattr(args, "port", None) is not None:
        settings = replace(settings, port=port_number(args.port, "--port"))
    return settings


async def _opened(settings: Settings, *, existing: bool = False) -> BaseStore:
    """Open the store; `existing` for commands that only read it, so a typo never creates one."""
    store = open_store(
        settings.store_url,
        lock_lease_s=settings.worker.lock_lease_s,
        lock_wait_s=settings.worker.lock_wait_s,
        existing=existing,
    )
    await store.open()
    return store


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from app.ingest import Pipeline
    from app.replay import check_input, replay

    for name in args.files:
        check_input(name)  # before the store is opened: a wrong file name creates nothing
    store = await _opened(settings)
    try:
        if args.enqueue:
            from app.streams import RedisStreamQueue, enqueue_files
            from store.redis import RedisStore

            if not isinstance(store, RedisStore):
                raise StoreUnavailable(
                    settings.store_url, "--enqueue needs a Redis store (redis:// or redis+cluster://)"
                )
            queue = RedisStreamQueue(store, settings.worker)
            summary = await enqueue_files(Pipeline(store, settings), queue, args.files)
        else:
            pipeline = Pipeline(store, settings)
            await pipeline.resolver.load_model()  # a model that cannot be used stops here, in one line
            summary = await replay(pipeline, args.files, progress=False if args.no_progress else None)
    finally:
        await store.close()
    print(json.dumps(summary.as_dict()) if args.json else summary.render())
    return 0 if summary.skipped == 0 else 1


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from app.export import What, export

    if args.out:
        folder = Path(args.out).resolve().parent
        if not folder.is_dir():
            raise ConfigError("--out", f"folder {folder} does not exist")
        if Path(args.out).is_dir():
            raise ConfigError("--out", f"{args.out} is a folder; name a file")
    store = await _opened(settings, existing=True)
    try:
        if args.out:
            with _output(args.out) as out:
                await export(store, What(args.what), out, fmt=args.format)
        else:
            await export(store, What(args.what), sys.stdout, fmt=args.format)
    finally:
        await store.close()
    return 0


@contextlib.contextmanager
def _output(name: str) -> Iterator[TextIO]:
    try:
        out = open(name, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed below)
    except OSError as e:
        raise ConfigError("--out", f"cannot write {name}: {e.strerror or e}") from e
    with out:
        yield out


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
            raise StoreUnavailable(
                settings.store_url, "stitch worker needs a Redis store (redis:// or redis+cluster://)"
            )
        queue = RedisStreamQueue(store, settings.worker)
        pipeline = Pipeline(store, settings)
        await pipeline.resolver.load_model()
        pipeline.observers.append(queue.feed_writer())
        worker = StreamWorker(pipeline, queue, name=args.name)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        cpu = time.process_time()
        processed = await worker.run(stop=stop, exit_when_idle=args.exit_when_idle)
        report: dict[str, object] = {"worker": worker.name, "processed": processed, "round_trips": store.round_trips}
        report |= {
            "terms": worker.lease.terms,  # times this worker became the graph's writer
            "standby_looks": worker.standby_looks,
            "conflicts": worker.conflicts,
            "lock_retries": store.lock_retries,
            "cpu_s": time.process_time() - cpu,
        }
        report |= {"lock_waited_s": store.lock_waited_s, "lock_waited_local_s": store.lock_waited_local_s}
        print(json.dumps(report))
    finally:
        await store.close()
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    setup_logging()
    # Before anything starts: a taken port is one line, not start-up logs followed by a traceback.
    _check_port(settings)
    if args.demo:
        from app.demo import run_demo

        with listening(settings):
            result: int = run_demo(settings)
        return result
    # Fail fast on a bad store URL or model, or a refused Bitrix24 webhook, before binding the port.
    has_users = asyncio.run(_check_store(settings))
    if settings.bitrix24_webhook_url:
        from app.bitrix24 import preflight

        asyncio.run(preflight(settings))
    with listening(settings):
        asyncio.run(_serve_until_stopped(settings, has_users))
    print("Stitch stopped.", flush=True)
    return 0


async def _serve_until_stopped(settings: Settings, has_users: bool) -> None:
    """Serve until SIGINT or SIGTERM, then drain pending work and close the store (app clean-up)."""
    from aiohttp import web

    from app.shutdown import stop_on_signals
    from app.web import create_app, settle_heap

    app = create_app(settings)
    app.on_startup.append(settle_heap)  # after every start-up context: what they built lives on
    # access_log=None: the app logs one JSON line per request itself, naming the route, not the path.
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    stop = asyncio.Event()
    with stop_on_signals(stop.set):
        try:
            await runner.setup()
            await web.TCPSite(runner, settings.host, settings.port).start()
            _announce(settings, has_users)
            await stop.wait()
        finally:
            await runner.cleanup()


def _announce(settings: Settings, has_users: bool) -> None:
    """What `stitch serve` prints once it listens."""
    base = f"http://{settings.host}:{settings.port}"
    print(f"Stitch listening on {base} (store {settings.store_url})")
    print(f"  inbox: {base}/inbox/")
    print(f"  ops:   {base}/ops/")
    if not has_users:  # the inbox's login would refuse every name
        print(f"  no inbox login yet: stitch user add NAME --role admin --store {settings.store_url}")
    print("Running until Ctrl+C.", flush=True)


@contextlib.contextmanager
def listening(settings: Settings) -> Iterator[None]:
    """Turn a refused bind (port taken, address not here, host unknown) into one ListenError."""
    try:
        yield
    except OSError as e:
        reason = _BIND_ERRORS.get(e.errno or 0)
        if isinstance(e, socket.gaierror):
            reason = "unknown host"
        if reason is None:
            raise
        raise ListenError(settings.host, settings.port, reason) from e


def _check_port(settings: Settings) -> None:
    with listening(settings):
        family, kind, proto, _, address = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: TIME_WAIT is fine
            probe.bind(address)
            probe.listen()


_BIND_ERRORS = {
    errno.EADDRINUSE: "the port is taken (is another stitch serve running? --port picks another)",
    errno.EADDRNOTAVAIL: "this machine has no such address",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
}


async def _graph(args: argparse.Namespace, settings: Settings) -> int:
    from app.ops.commands import run_graph

    store = await _opened(settings, existing=True)
    try:
        return await run_graph(args, store, settings)
    finally:
        await store.close()


async def _events(args: argparse.Namespace, settings: Settings) -> int:
    from app.parked import run_events

    store = await _opened(settings)
    try:
        return await run_events(args, store, settings)
    finally:
        await store.close()


async def _model(args: argparse.Namespace, settings: Settings) -> int:
    """`stitch model train|show`: a SQLite store keeps its model beside the database, Redis inside."""
    from resolver import model as fs
    from resolver import training

    if args.action == "show" and args.model:
        print(training.describe(fs.load(args.model), where=args.model))
        return 0
    sqlite_path = settings.store_url.removeprefix("sqlite:///") if settings.store_url.startswith("sqlite:///") else ""
    if sqlite_path and not os.path.exists(sqlite_path) and not (args.action == "train" and args.replay):
        raise StoreUnavailable(settings.store_url, "no such database")
    store = await _opened(settings)
    try:
        if args.action == "show":
            shown, where = await training.load_for(store)
            print(training.describe(shown, where=where))
            return 0
        if args.replay:
            source = args.replay[0] if len(args.replay) == 1 else f"{len(args.replay)} replay files"
            sightings = training.sightings_from_replay(args.replay, region=settings.default_region)
        else:
            source = settings.store_url
            sightings = await training.sightings_from_store(store)
        trained = training.train(sightings.items, where=source)
        if args.out:
            fs.save(trained.model, args.out)
            where = args.out
        else:
            where = await training.save_for(store, trained.model)
    finally:
        await store.close()
    skipped = f", {sightings.skipped} unreadable lines skipped" if sightings.skipped else ""
    print(f"model {trained.model.version}: {trained.sightings} messages, {trained.pairs} candidate pairs{skipped}")
    print(f"saved to {where}")
    return 0


def _require(value: str, key: str) -> str:
    if not value:
        raise ConfigError(key, "required for this command")
    return value


async def _telegram(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.telegram.bot import TelegramConnector

    _require(settings.telegram_bot_token, "STITCH_TELEGRAM_BOT_TOKEN")
    connector = TelegramConnector.from_settings(settings)
    try:
        if args.delete:
            await connector.delete_webhook()
            print("telegram: webhook removed; `stitch serve` without STITCH_PUBLIC_URL long-polls")
            return 0
        secret = _require(settings.telegram_webhook_secret, "STITCH_TELEGRAM_WEBHOOK_SECRET")
        url = args.url or _require(settings.public_url, "STITCH_PUBLIC_URL") + "/webhooks/telegram"
        await connector.set_webhook(url, secret)
    finally:
        await connector.close()
    print(f"telegram: webhook set to {url}")
    return 0


async def _avito(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.avito.connector import AvitoConnector

    _require(settings.avito_client_id, "STITCH_AVITO_CLIENT_ID")
    _require(settings.avito_client_secret, "STITCH_AVITO_CLIENT_SECRET")
    secret = _require(settings.avito_webhook_secret, "STITCH_AVITO_WEBHOOK_SECRET")
    url = args.url or f"{_require(settings.public_url, 'STITCH_PUBLIC_URL')}/webhooks/avito/{secret}"
    connector = AvitoConnector.from_settings(settings)
    try:
        # Avito probes the URL with `{}` first: `stitch serve` must already be reachable there.
        await connector.subscribe(url)
    finally:
        await connector.close()
    print("avito: webhook subscribed (URL ends in the configured secret, not printed)")
    return 0


async def _max(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.max.connector import MaxConnector

    _require(settings.max_bot_token, "STITCH_MAX_BOT_TOKEN")
    url = args.url or _require(settings.public_url, "STITCH_PUBLIC_URL") + "/webhooks/max"
    if not url.startswith(("https://", "http://")):
        raise ConfigError("url", f"expected an http(s) URL, got {url!r:.80}")
    connector = MaxConnector.from_settings(settings)
    try:
        if args.action == "unsubscribe":
            await connector.unsubscribe(url)
            print(f"max: subscription to {url} removed; `stitch serve` without STITCH_PUBLIC_URL long-polls")
            return 0
        secret = _require(settings.max_webhook_secret, "STITCH_MAX_WEBHOOK_SECRET")
        await connector.subscribe(url, secret)
    finally:
        await connector.close()
    print(f"max: updates go to {url} (with the secret header)")
    return 0


async def _user(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from app.inbox.auth import add_user
    from core.inbox import Role

    password = settings.password
    if not password:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    store = await _opened(settings)
    try:
        user = await add_user(store, args.name, Role(args.role), password)
    finally:
        await store.close()
    print(f"user {user.name} added ({user.role})")
    return 0


async def _person(args: argparse.Namespace, settings: Settings) -> int:
    from app import personal

    if args.action == "forget" and not args.yes:
        if not sys.stdin.isatty():
            print("stitch: person forget needs --yes when not run on a terminal", file=sys.stderr)
            return 1
        answer = input(f"Erase everything Stitch holds about {args.person_id}? This cannot be undone. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("stitch: nothing erased", file=sys.stderr)
            return 1
    store = await _opened(settings)
    try:
        now = datetime.now(UTC)
        if args.action == "export":
            doc = await personal.export_person(store, args.person_id, at=now, region=settings.default_region)
            text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
            if args.out:
                with open(args.out, "w", encoding="utf-8") as out:
                    out.write(text)
            else:
                sys.stdout.write(text)
            return 0
        actor = args.actor or f"cli:{getpass.getuser()}"
        if settings.bitrix24_webhook_url:
            from app.bitrix24 import build_client, crm_eraser

            async with build_client(settings) as client:
                summary = await personal.forget(
                    store, args.person_id, actor=actor, at=now, region=settings.default_region, crm=crm_eraser(client)
                )
        else:
            summary = await personal.forget(store, args.person_id, actor=actor, at=now, region=settings.default_region)
    finally:
        await store.close()
    print(summary.render())
    return 0


async def _retention(args: argparse.Namespace, settings: Settings) -> int:
    from app.retention import sweep

    days = settings.retention_days if args.days is None else args.days
    if days <= 0:
        raise ConfigError("STITCH_RETENTION_DAYS", "set it (or --days) to a number of days above 0")
    store = await _opened(settings)
    try:
        done = await sweep(store, days, vacuum=args.vacuum)
    finally:
        await store.close()
    print(done.render())
    return 0


async def _check_store(settings: Settings) -> bool:
    """Whether the store is usable (else StitchError); answers whether it has inbox users."""
    from resolver.training import resolver_model

    store = await _opened(settings)
    try:
        await resolver_model(store, settings.resolver)  # a model that cannot be used: one line, no port bound
        return bool(await store.users())
    finally:
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
        if args.command == "telegram":
            return asyncio.run(_telegram(args, settings))
        if args.command == "avito":
            return asyncio.run(_avito(args, settings))
        if args.command == "max":
            return asyncio.run(_max(args, settings))
        if args.command == "bitrix24":
            from app.bitrix24 import command

            _require(settings.bitrix24_webhook_url, "STITCH_BITRIX24_WEBHOOK_URL")
            return asyncio.run(command(args.action, settings))
        if args.command == "user":
            return asyncio.run(_user(args, settings))
        if args.command == "person":
            return asyncio.run(_person(args, settings))
        if args.command == "retention":
            return asyncio.run(_retention(args, settings))
        if args.command == "graph":
            return asyncio.run(_graph(args, settings))
        if args.command == "events":
            return asyncio.run(_events(args, settings))
        if args.command == "model":
            return asyncio.run(_model(args, settings))
    except (ConfigError, StoreUnavailable) as e:
        print(f"stitch: {e}", file=sys.stderr)
        return 2
    except StitchError as e:
        print(f"stitch: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `stitch export | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
