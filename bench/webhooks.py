"""Load benchmark of the live webhooks: `python -m bench.webhooks [--rates 100,250,500] [--seconds 10]
[--varied | --replay FILE [--synthetic 500]]`.

Starts `stitch serve` (SQLite, a temporary file) as a subprocess, with Avito's API pointed at a
FakeAvito in this process (chat info is fetched once per chat, then cached) and the contact questions
off. This process then drives signed webhook requests at fixed rates (open loop: requests are started
on schedule whether or not earlier ones have finished, so a slow server shows up as latency, not as a
lower offered rate). Each phase runs a bounded number of requests and stops by itself.

Traffic, one of:
- default: Telegram, Twilio, Avito and web-form requests in rotation, every sender with the same first
  name and every channel the same text: the resolver's worst case (each event is compared with the
  newest `RECENT_LIMIT` messages sharing a blocking key and scores evidence against each of them);
- `--varied`: the same with different names and questions (the small lists of `bench.synth`);
- `--replay FILE`: a replay file's events (`python -m bench.generate`, or any file `stitch replay`
  reads), in file order, each as its channel's real signed webhook request (see `Replay`): a shop's
  traffic, with its mix of channels, repeat customers, namesakes, shared phones and forms refused for
  a bad phone. `--synthetic RATES` then measures the default traffic too, on a fresh server, for a
  side-by-side comparison in one run.

Latency is measured from the scheduled start of a request to the end of its response. Next to it:
the server's CPU time per request (Linux: read from /proc; it includes resolving the events), the
resolver's backlog when the phase ends, how long the resolver then takes to catch up (the next phase
starts only once it has), and this process's own CPU while sending (near 100% it, not the server,
may be what limits the rate).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gzip
import hashlib
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
from twilio.request_validator import RequestValidator

from bench.synth import ASKS, CITIES, FIRST, GOODS, LAST
from connectors.avito.fake import FakeAvito
from connectors.envelope import envelope_from_json
from core.errors import ReplayLineError
from core.values import Channel

TG_TOKEN = "42:BENCH"
TG_SECRET = "bench-telegram-secret"
TW_SID = "AC" + "b" * 32
TW_TOKEN = "bench-twilio-token"
AV_SECRET = "bench-avito-secret"
MAX_TOKEN = "bench-max-token"
MAX_SECRET = "bench-max-secret"
AVITO_CHATS = 50
JSON = {"Content-Type": "application/json"}
# `stitch serve` needs about 5 s to start on an idle two-core machine and several times that while
# the suite's other parts (or anything else) keep the cores busy: a start-up is not what is measured.
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    path: str
    data: bytes
    headers: dict[str, str]
    # A loopback address to send from over a connection of its own ("": the shared session's): the
    # web form limits each client address, and a shop's customers do not share one.
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """The answered requests of one channel's route in a phase, and their latency."""

    name: str
    answered: int
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    rate: int
    sent: int
    ok: int
    limited: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    refused: int = 0  # forms answered 400 (an invalid phone or e-mail), as a real form would be
    cpu_ms: float = float("nan")  # server CPU per answered request, resolution included
    backlog: int = 0  # accepted events not yet resolved when the phase ended
    catch_up_s: float = 0.0  # time the resolver then needed to resolve them
    load_cpu: float = float("nan")  # this process's CPU while sending, in cores (FakeAvito included)
    routes: tuple[Route, ...] = ()

    @property
    def answered(self) -> int:
        return self.ok + self.limited + self.refused

    @property
    def throughput(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


class Source(Protocol):
    def next(self, i: int) -> Request: ...


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _backlog(session: aiohttp.ClientSession, base: str) -> int:
    async with session.get(base + "/readyz") as r:
        body = await r.json()
        return int(body["backlog"])


async def _catch_up(session: aiohttp.ClientSession, base: str, limit_s: float = 300.0) -> tuple[int, float]:
    """The backlog right after a phase, and the seconds until it is resolved."""
    started = time.perf_counter()
    backlog = left = await _backlog(session, base)
    while left and time.perf_counter() - started < limit_s:
        await asyncio.sleep(0.1)
        left = await _backlog(session, base)
    return backlog, time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def loopback_sources() -> bool:
    """Whether this machine sends from any 127.x.y.z (Linux does; macOS only from 127.0.0.1)."""
    try:
        with socket.socket() as s:
            s.bind(("127.1.2.3", 0))
    except OSError:
        return False
    return True


def _signed_form(validator: RequestValidator, public: str, path: str, fields: dict[str, str]) -> Request:
    signature = validator.compute_signature(public + path, fields)
    return Request(
        path=path,
        data=urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )


class Traffic:
    """Signed requests for the four channels, every one a new provider message."""

    def __init__(self, public: str, avito: FakeAvito, *, varied: bool = False) -> None:
        self.public = public
        self.avito = avito
        self.varied = varied
        self.rnd = random.Random(7)
        self.validator = RequestValidator(TW_TOKEN)
        self.n = int(time.time()) * 1000
        self.kinds: list[Callable[[], Request]] = [self.telegram, self.whatsapp, self.avito_message, self.form]

    def _name(self, sender: int, same: tuple[str, str]) -> tuple[str, str]:
        if not self.varied:
            return same
        return FIRST[sender % len(FIRST)], LAST[sender // len(FIRST) % len(LAST)]

    def _text(self, same: str) -> str:
        if not self.varied:
            return same
        ask = self.rnd.choice(ASKS)
        return ask.format(g=self.rnd.choice(GOODS), n=self.rnd.randrange(100, 1000), c=self.rnd.choice(CITIES))

    def next(self, i: int) -> Request:
        self.n += 1
        return self.kinds[i % len(self.kinds)]()

    def telegram(self) -> Request:
        user = 10_000 + self.n % 5000
        first, last = self._name(user, ("Bench", f"User{user}"))
        update = {
            "update_id": self.n,
            "message": {
                "message_id": self.n,
                "date": int(time.time()),
                "chat": {"id": user, "type": "private"},
                "from": {"id": user, "is_bot": False, "first_name": first, "last_name": last},
                "text": self._text("Здравствуйте, сколько стоит доставка?"),
            },
        }
        return Request(
            path="/webhooks/telegram",
            data=json.dumps(update).encode(),
            headers={**JSON, "X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
        )

    def whatsapp(self) -> Request:
        phone = f"7916{self.n % 10_000_000:07d}"
        sid = "SM" + secrets.token_hex(16)
        fields = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": TW_SID,
            "From": f"whatsapp:+{phone}",
            "To": "whatsapp:+14155238886",
            "WaId": phone,
            "ProfileName": self._name(self.n % 10_000_000, ("Bench", ""))[0],
            "Body": self._text("Добрый день, заказ готов?"),
            "NumMedia": "0",
        }
        return _signed_form(self.validator, self.public, "/webhooks/whatsapp", fields)

    def avito_message(self) -> Request:
        chat = f"bench-chat-{self.n % AVITO_CHATS}"
        buyer = 900_000 + self.n % AVITO_CHATS
        body = self.avito.webhook_body(
            chat_id=chat, author_id=buyer, text=self._text("Ещё продаётся?"), message_id=f"m{self.n}"
        )
        return Request(path=f"/webhooks/avito/{AV_SECRET}", data=json.dumps(body).encode(), headers=JSON)

    def form(self) -> Request:
        fields = {
            "name": " ".join(self._name(self.n % 10_000_000, ("Иван", "Петров"))),
            "phone": f"+7926{self.n % 10_000_000:07d}",
            "message": self._text("Перезвоните, пожалуйста"),
        }
        # All from 127.0.0.1: past its burst the per-IP rate limit answers 429, which is counted as
        # an answer (the guard working), reported in its own column.
        return Request(path="/forms/bench", data=json.dumps(fields).encode(), headers=JSON)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Event:
    channel: Channel
    payload: dict[str, Any]
    lookups: dict[str, Any]


class Replay:
    """The events of a replay file as their channels' webhook requests, signed, in file order.

    Every request is a new delivery: the provider's message id (Telegram `update_id`, Twilio
    `MessageSid`, Avito `value.id`, MAX `body.mid`) is a fresh one and the provider's send times are
    now, while senders, names, phones, e-mails and texts stay as in the file, so resolution does the
    file's work. The file's own timestamps are not replayed: requests go at the benchmark's rate. Past
    the last line the file starts again (`passes` counts how often), new ids again.

    An Avito event's chat info (`lookups.chat`) is handed to the FakeAvito the server asks for it. A
    web form is sent from a loopback address of its own per visitor (visitor id, else phone, e-mail or
    name) when `sources` is on: the form limits submissions per client address, and a shop's customers
    do not all share one. A line `stitch replay` would skip is skipped here too (`skipped`).
    """

    def __init__(self, public: str, path: Path, avito: FakeAvito, *, sources: bool = True) -> None:
        self.public = public
        self.path = path
        self.avito = avito
        self.sources = sources
        self.validator = RequestValidator(TW_TOKEN)
        self.n = int(time.time()) * 1000
        self.passes = 0
        self.skipped = 0
        self._events = self._read()
        self._builders: dict[Channel, Callable[[_Event], Request]] = {
            Channel.TELEGRAM: self.telegram,
            Channel.WHATSAPP: self.whatsapp,
            Channel.AVITO: self.avito_message,
            Channel.WEBFORM: self.form,
            Channel.MAX: self.max_update,
        }

    def _open(self) -> IO[str]:
        if self.path.suffix == ".gz":
            return gzip.open(self.path, "rt", encoding="utf-8")
        return self.path.open(encoding="utf-8")

    def _read(self) -> Iterator[_Event]:
        while True:
            found = 0
            with self._open() as lines:
                for number, text in enumerate(lines, 1):
                    if not text.strip():
                        continue
                    try:
                        obj = json.loads(text)
                        envelope = envelope_from_json(obj, line=number)
                    except (ValueError, RecursionError, ReplayLineError):
                        self.skipped += 1
                        continue
                    found += 1
                    # The decoded line itself, not the envelope's view of it: each is changed in place.
                    yield _Event(channel=envelope.channel, payload=obj["payload"], lookups=obj.get("lookups") or {})
            if not found:
                raise ValueError(f"{self.path}: no event a webhook could carry")
            self.passes += 1

    def next(self, i: int) -> Request:
        self.n += 1
        event = next(self._events)
        return self._builders[event.channel](event)

    def telegram(self, event: _Event) -> Request:
        update = event.payload
        update["update_id"] = self.n
        message = update.get("message")
        if isinstance(message, dict):
            message["date"] = int(time.time())
        return Request(
            path="/webhooks/telegram",
            data=json.dumps(update, ensure_ascii=False).encode(),
            headers={**JSON, "X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
        )

    def whatsapp(self, event: _Event) -> Request:
        fields = {k: str(v) for k, v in event.payload.items()}
        sid = f"SM{self.n:032x}"
        for key in ("SmsMessageSid", "SmsSid"):
            if key in fields:
                fields[key] = sid
        fields["MessageSid"] = sid
        return _signed_form(self.validator, self.public, "/webhooks/whatsapp", fields)

    def avito_message(self, event: _Event) -> Request:
        body = event.payload
        inner = body.get("payload")
        value = inner.get("value") if isinstance(inner, dict) else None
        if isinstance(value, dict):
            now = int(time.time())
            body["id"] = f"{self.n:032x}"
            body["timestamp"] = now
            value["id"] = f"{self.n:032x}"
            value["created"] = now
            if "published_at" in value:
                value["published_at"] = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        chat = event.lookups.get("chat")
        if isinstance(chat, dict) and "id" in chat:
            self.avito.put_chat(chat)
        return Request(
            path=f"/webhooks/avito/{AV_SECRET}", data=json.dumps(body, ensure_ascii=False).encode(), headers=JSON
        )

    def max_update(self, event: _Event) -> Request:
        update = event.payload
        message = update.get("message")
        body = message.get("body") if isinstance(message, dict) else None
        if isinstance(message, dict) and isinstance(body, dict):
            now_ms = int(time.time() * 1000)
            body["mid"] = f"mid.{self.n:032x}"
            update["timestamp"] = message["timestamp"] = now_ms
        return Request(
            path="/webhooks/max",
            data=json.dumps(update, ensure_ascii=False).encode(),
            headers={**JSON, "X-Max-Bot-Api-Secret": MAX_SECRET},
        )

    def form(self, event: _Event) -> Request:
        fields = dict(event.payload)
        form_id = str(fields.pop("form_id", "") or "replay")  # the form's id is its URL's
        who = next((str(fields[k]) for k in ("visitor_id", "phone", "email", "name") if fields.get(k)), str(self.n))
        return Request(
            path=f"/forms/{quote(form_id, safe='')}",
            data=json.dumps(fields, ensure_ascii=False).encode(),
            headers=JSON,
            source=_address(who) if self.sources else "",
        )


def _address(who: str) -> str:
    """A loopback address for one visitor, never 127.0.x.x (the benchmark's own)."""
    h = int.from_bytes(hashlib.blake2b(who.encode(), digest_size=3).digest(), "big")
    return f"127.{1 + (h >> 16) % 254}.{(h >> 8) & 255}.{1 + (h & 255) % 254}"


async def post_from(base: str, req: Request) -> int:
    """POST `req` over a new connection from `req.source` (aiohttp binds a whole pool to one address)."""
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    reader, writer = await asyncio.open_connection(host, port, local_addr=(req.source, 0))
    try:
        head = [f"POST {req.path} HTTP/1.1", f"Host: {url.netloc}", f"Content-Length: {len(req.data)}"]
        head += [f"{k}: {v}" for k, v in req.headers.items()]
        writer.write(("\r\n".join([*head, "Connection: close", "", ""])).encode() + req.data)
        status = (await reader.readline()).split()
        await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if len(status) < 2 or not status[1].isdigit():
        raise ConnectionError("no HTTP status line")
    return int(status[1])


async def _measured(
    session: aiohttp.ClientSession, base: str, traffic: Source, rate: int, seconds: float, pid: int
) -> Phase:
    """One phase, then wait for the resolver to catch up; the CPU counted covers both."""
    cpu = _cpu_seconds(pid)
    phase = await _phase(session, base, traffic, rate, seconds)
    backlog, catch_up = await _catch_up(session, base)
    cpu = _cpu_seconds(pid) - cpu
    cpu_ms = cpu * 1000 / phase.answered if phase.answered else float("nan")
    return dataclasses.replace(phase, cpu_ms=cpu_ms, backlog=backlog, catch_up_s=catch_up)


async def _phase(session: aiohttp.ClientSession, base: str, traffic: Source, rate: int, seconds: float) -> Phase:
    total = int(rate * seconds)
    # Prepared before the clock starts: signing is the provider's cost, not the server's.
    requests = [traffic.next(i) for i in range(total)]
    latencies: list[float] = []
    by_route: dict[str, list[float]] = {}
    errors = limited = refused = 0
    interval = 1.0 / rate
    cpu = time.process_time()
    start = time.perf_counter() + 0.05

    async def one(i: int, req: Request) -> None:
        nonlocal errors, limited, refused
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            if req.source:
                status = await post_from(base, req)
            else:
                async with session.post(base + req.path, data=req.data, headers=req.headers) as r:
                    await r.read()
                    status = r.status
        except (aiohttp.ClientError, OSError):
            errors += 1
            return
        form = req.path.startswith("/forms")
        if form and status == 429:
            limited += 1
        elif form and status == 400:
            refused += 1
        elif status >= 300:
            errors += 1
            return
        latency = time.perf_counter() - due
        latencies.append(latency)
        by_route.setdefault(_route(req.path), []).append(latency)

    await asyncio.gather(*(one(i, req) for i, req in enumerate(requests)))
    elapsed = time.perf_counter() - start
    load_cpu = (time.process_time() - cpu) / elapsed if elapsed > 0 else float("nan")
    latencies.sort()
    routes = tuple(
        Route(name=name, answered=len(got), p50_ms=_pct(sorted(got), 0.50), p99_ms=_pct(sorted(got), 0.99))
        for name, got in sorted(by_route.items())
    )

    return Phase(
        rate=rate,
        sent=total,
        ok=len(latencies) - limited - refused,
        limited=limited,
        refused=refused,
        errors=errors,
        seconds=elapsed,
        p50_ms=_pct(latencies, 0.50),
        p99_ms=_pct(latencies, 0.99),
        max_ms=latencies[-1] * 1000 if latencies else float("nan"),
        load_cpu=load_cpu,
        routes=routes,
    )


def _pct(ordered: list[float], p: float) -> float:
    """The p-quantile of sorted latencies in seconds, as milliseconds."""
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else float("nan")


def _route(path: str) -> str:
    """A request's channel route without its variable part (Avito's secret, the form's id)."""
    parts = path.split("/")
    return "web form" if parts[1] == "forms" else parts[2]


async def _wait_ready(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("stitch serve exited during start-up")
        try:
            async with session.get(base + "/readyz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"stitch serve did not become ready within {READY_TIMEOUT_S:g} s")


def server_env(public: str, store: str, avito: FakeAvito) -> dict[str, str]:
    """The server's settings: every channel on, signed with this module's secrets, no call to a provider."""
    return {
        "STITCH_STORE": store,
        "STITCH_PUBLIC_URL": public,
        "STITCH_TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "STITCH_TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "STITCH_TELEGRAM_API_BASE": "http://127.0.0.1:9",  # never called: the contact question is off
        "STITCH_TELEGRAM_ASK_CONTACT": "",
        "STITCH_TWILIO_ACCOUNT_SID": TW_SID,
        "STITCH_TWILIO_AUTH_TOKEN": TW_TOKEN,
        "STITCH_TWILIO_WHATSAPP_FROM": "+14155238886",
        "STITCH_AVITO_CLIENT_ID": avito.client_id,
        "STITCH_AVITO_CLIENT_SECRET": avito.client_secret,
        "STITCH_AVITO_WEBHOOK_SECRET": AV_SECRET,
        "STITCH_AVITO_API_BASE": avito.base_url,
        "STITCH_MAX_BOT_TOKEN": MAX_TOKEN,
        "STITCH_MAX_WEBHOOK_SECRET": MAX_SECRET,
        "STITCH_MAX_API_BASE": "http://127.0.0.1:9",  # never called, as for Telegram
        "STITCH_MAX_ASK_CONTACT": "",
    }


async def run(
    rates: list[int], seconds: float, *, varied: bool = False, replay: Path | None = None, profile: Path | None = None
) -> list[Phase]:
    """The phases at `rates` on a fresh server; with `replay`, that file's traffic; with `profile`, the
    server runs under cProfile and writes its statistics there when it stops."""
    avito = FakeAvito()
    await avito.start()
    for i in range(AVITO_CHATS):
        avito.add_chat(f"bench-chat-{i}", buyer_id=900_000 + i, buyer_name=f"Покупатель {i}")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="stitch-bench-") as tmp:
        env = {
            **os.environ,
            **server_env(base, f"sqlite:///{Path(tmp) / 'bench.db'}", avito),
            "STITCH_PORT": str(port),
        }
        profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
        proc = subprocess.Popen(
            [sys.executable, *profiler, "-m", "app.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        phases: list[Phase] = []
        try:
            connector = aiohttp.TCPConnector(limit=256)
            async with aiohttp.ClientSession(connector=connector) as session:
                await _wait_ready(session, base, proc)
                traffic: Source
                if replay is not None:
                    traffic = source = Replay(base, replay, avito, sources=loopback_sources())
                else:
                    traffic = Traffic(base, avito, varied=varied)
                # Warm-up: caches, SQLite pages, token fetch.
                await _phase(session, base, traffic, 50, 1.0)
                await _catch_up(session, base)
                for rate in rates:
                    phases.append(await _measured(session, base, traffic, rate, seconds, proc.pid))
                if replay is not None and (source.passes or source.skipped):
                    note = f"{replay}: read to its end {source.passes} times, {source.skipped} lines skipped"
                    print(note, file=sys.stderr)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            await avito.close()
    return phases


def render_routes(phases: list[Phase]) -> str:
    """p50 / p99 ms by route and phase: a form opens a connection of its own, Avito's first message in
    a chat waits for its chat info."""
    names = sorted({r.name for p in phases for r in p.routes})
    lines = [
        "| offered req/s | " + " | ".join(f"{n} p50 / p99 ms" for n in names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for p in phases:
        found = {r.name: r for r in p.routes}
        cells = [f"{found[n].p50_ms:.1f} / {found[n].p99_ms:.1f}" if n in found else "" for n in names]
        lines.append(f"| {p.rate} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(phases: list[Phase]) -> str:
    lines = [
        "| offered req/s | requests | stored | form 429 | form 400 | errors | answered req/s | p50 ms | p99 ms"
        " | max ms | server CPU ms/req | backlog at end | caught up in s | load generator CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in phases:
        lines.append(
            f"| {p.rate} | {p.sent} | {p.ok} | {p.limited} | {p.refused} | {p.errors} | {p.throughput:.0f} |"
            f" {p.p50_ms:.1f} | {p.p99_ms:.1f} | {p.max_ms:.1f} | {p.cpu_ms:.2f} | {p.backlog} |"
            f" {p.catch_up_s:.1f} | {p.load_cpu:.0%} |"
        )
    return "\n".join(lines)


def _rates(text: str) -> list[int]:
    return [int(r) for r in text.split(",") if r.strip()]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--rates", default="100,250,500")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--varied", action="store_true", help="varied names and questions instead of the worst case")
    parser.add_argument("--replay", type=Path, metavar="FILE", help="a replay file's events as the traffic")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="run the server under cProfile (about twice as slow) and write its statistics to FILE",
    )
    parser.add_argument(
        "--synthetic",
        metavar="RATES",
        default="",
        help="with --replay: also the worst case (or --varied) at these rates, on a fresh server",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.replay is None:
        print(render(asyncio.run(run(_rates(args.rates), args.seconds, varied=args.varied, profile=args.profile))))
        return 0
    print(f"Replay of {args.replay}:")
    phases = asyncio.run(run(_rates(args.rates), args.seconds, replay=args.replay, profile=args.profile))
    print(render(phases))
    print("\nBy route:")
    print(render_routes(phases))
    if args.synthetic:
        kind = "Varied names and questions" if args.varied else "Worst case"
        print(f"\n{kind}, fresh server:")
        print(render(asyncio.run(run(_rates(args.synthetic), args.seconds, varied=args.varied))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
