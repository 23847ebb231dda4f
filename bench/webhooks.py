"""Load benchmark of the live webhooks: `python -m bench.webhooks [--rates 100,250,500] [--seconds 10] [--varied]`.

Starts `stitch serve` (SQLite, a temporary file) as a subprocess, with Avito's API pointed at a
FakeAvito in this process (chat info is fetched once per chat, then cached) and the Telegram
contact question off. This process then drives signed Telegram, Twilio, Avito and web-form
requests in rotation at fixed rates (open loop: requests are started on schedule whether or not
earlier ones have finished, so a slow server shows up as latency, not as a lower offered rate).
Each phase runs a bounded number of requests and stops by itself.

By default every sender has the same first name and every channel the same text: the resolver's
worst case (each event is compared with the newest `RECENT_LIMIT` messages sharing a blocking key
and scores evidence against each of them). `--varied` gives senders different names and questions
(the lists of `bench.synth`), closer to a real shop's traffic.

Latency is measured from the scheduled start of a request to the end of its response. Next to it:
the server's CPU time per request (Linux: read from /proc; it includes resolving the events), the
resolver's backlog when the phase ends, and how long the resolver then takes to catch up (the next
phase starts only once it has).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

from bench.synth import ASKS, CITIES, FIRST, GOODS, LAST
from connectors.avito.fake import FakeAvito

TG_TOKEN = "42:BENCH"
TG_SECRET = "bench-telegram-secret"
TW_SID = "AC" + "b" * 32
TW_TOKEN = "bench-twilio-token"
AV_SECRET = "bench-avito-secret"
AVITO_CHATS = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    path: str
    data: bytes
    headers: dict[str, str]


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
    cpu_ms: float = float("nan")  # server CPU per answered request, resolution included
    backlog: int = 0  # accepted events not yet resolved when the phase ended
    catch_up_s: float = 0.0  # time the resolver then needed to resolve them

    @property
    def throughput(self) -> float:
        return (self.ok + self.limited) / self.seconds if self.seconds else 0.0


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
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
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
        path = "/webhooks/whatsapp"
        signature = self.validator.compute_signature(self.public + path, fields)
        return Request(
            path=path,
            data=urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        )

    def avito_message(self) -> Request:
        chat = f"bench-chat-{self.n % AVITO_CHATS}"
        buyer = 900_000 + self.n % AVITO_CHATS
        body = self.avito.webhook_body(
            chat_id=chat, author_id=buyer, text=self._text("Ещё продаётся?"), message_id=f"m{self.n}"
        )
        return Request(
            path=f"/webhooks/avito/{AV_SECRET}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )

    def form(self) -> Request:
        fields = {
            "name": " ".join(self._name(self.n % 10_000_000, ("Иван", "Петров"))),
            "phone": f"+7926{self.n % 10_000_000:07d}",
            "message": self._text("Перезвоните, пожалуйста"),
        }
        return Request(
            path="/forms/bench",
            data=json.dumps(fields).encode(),
            # All from 127.0.0.1: past its burst the per-IP rate limit answers 429, which is counted
            # as an answer (the guard working), reported in its own column.
            headers={"Content-Type": "application/json"},
        )


async def _measured(
    session: aiohttp.ClientSession, base: str, traffic: Traffic, rate: int, seconds: float, pid: int
) -> Phase:
    """One phase, then wait for the resolver to catch up; the CPU counted covers both."""
    cpu = _cpu_seconds(pid)
    phase = await _phase(session, base, traffic, rate, seconds)
    backlog, catch_up = await _catch_up(session, base)
    cpu = _cpu_seconds(pid) - cpu
    answered = phase.ok + phase.limited
    cpu_ms = cpu * 1000 / answered if answered else float("nan")
    return dataclasses.replace(phase, cpu_ms=cpu_ms, backlog=backlog, catch_up_s=catch_up)


async def _phase(session: aiohttp.ClientSession, base: str, traffic: Traffic, rate: int, seconds: float) -> Phase:
    total = int(rate * seconds)
    # Prepared before the clock starts: signing is the provider's cost, not the server's.
    requests = [traffic.next(i) for i in range(total)]
    latencies: list[float] = []
    errors = 0
    limited = 0
    interval = 1.0 / rate
    start = time.perf_counter() + 0.05

    async def one(i: int, req: Request) -> None:
        nonlocal errors, limited
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            async with session.post(base + req.path, data=req.data, headers=req.headers) as r:
                await r.read()
                if r.status == 429 and req.path.startswith("/forms"):
                    limited += 1
                elif r.status >= 300:
                    errors += 1
                    return
        except aiohttp.ClientError:
            errors += 1
            return
        latencies.append(time.perf_counter() - due)

    await asyncio.gather(*(one(i, req) for i, req in enumerate(requests)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return Phase(
        rate=rate,
        sent=total,
        ok=len(latencies) - limited,
        limited=limited,
        errors=errors,
        seconds=elapsed,
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
        max_ms=latencies[-1] * 1000 if latencies else float("nan"),
    )


async def _wait_ready(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError("stitch serve exited during start-up")
        try:
            async with session.get(base + "/readyz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("stitch serve did not become ready")


async def run(rates: list[int], seconds: float, *, varied: bool = False) -> list[Phase]:
    avito = FakeAvito()
    await avito.start()
    for i in range(AVITO_CHATS):
        avito.add_chat(f"bench-chat-{i}", buyer_id=900_000 + i, buyer_name=f"Покупатель {i}")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="stitch-bench-") as tmp:
        env = {
            **os.environ,
            "STITCH_STORE": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "STITCH_PORT": str(port),
            "STITCH_PUBLIC_URL": base,
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
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        phases: list[Phase] = []
        try:
            connector = aiohttp.TCPConnector(limit=256)
            async with aiohttp.ClientSession(connector=connector) as session:
                await _wait_ready(session, base, proc)
                traffic = Traffic(base, avito, varied=varied)
                # Warm-up: caches, SQLite pages, token fetch.
                await _phase(session, base, traffic, 50, 1.0)
                await _catch_up(session, base)
                for rate in rates:
                    phases.append(await _measured(session, base, traffic, rate, seconds, proc.pid))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            await avito.close()
    return phases


def render(phases: list[Phase]) -> str:
    lines = [
        "| offered req/s | requests | stored | form 429 | errors | answered req/s | p50 ms | p99 ms | max ms"
        " | server CPU ms/req | backlog at end | caught up in s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in phases:
        lines.append(
            f"| {p.rate} | {p.sent} | {p.ok} | {p.limited} | {p.errors} | {p.throughput:.0f} | {p.p50_ms:.1f} | {p.p99_ms:.1f} |"
            f" {p.max_ms:.1f} | {p.cpu_ms:.2f} | {p.backlog} | {p.catch_up_s:.1f} |"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--rates", default="100,250,500")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--varied", action="store_true", help="varied names and questions instead of the worst case")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    phases = asyncio.run(run(rates, args.seconds, varied=args.varied))
    print(render(phases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
