"""`stitch replay`: ingest recorded channel events from JSON Lines files (contract: replay-and-export.md)."""

from __future__ import annotations

import codecs
import gzip
import io
import itertools
import json
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from app.ingest import Outcome, Pipeline
from connectors.envelope import envelope_from_json
from core.errors import InputError, ReplayFileError, ReplayLineError

# Events per transaction: amortizes the commit; each event still has its own savepoint.
BATCH = 500
PROGRESS_EVERY = 2000
SNIFF_BYTES = 8192  # how much of a file is looked at to tell text from binary
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(slots=True, kw_only=True)
class ReplaySummary:
    lines: int = 0
    ingested: int = 0
    duplicates: int = 0
    ignored: int = 0
    skipped: int = 0
    persons_created: int = 0
    merges: int = 0
    suggestions: int = 0
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.lines / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "lines": self.lines,
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "ignored": self.ignored,
            "skipped": self.skipped,
            "persons_created": self.persons_created,
            "merges_auto": self.merges,
            "merge_suggestions": self.suggestions,
            "elapsed_s": round(self.elapsed_s, 3),
            "events_per_s": round(self.events_per_s, 1),
        }

    def render(self) -> str:
        d = self.as_dict()
        return "\n".join(f"{k:>18}: {v}" for k, v in d.items())


def open_input(name: str) -> IO[str]:
    if name == "-":
        raw: IO[bytes] = sys.stdin.buffer
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw) if _peek_gzip(raw) else raw, encoding="utf-8")
    if name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(name, "rb"), encoding="utf-8")
    return open(name, encoding="utf-8")


def check_input(name: str) -> None:
    """Refuse a file that cannot be JSON Lines at all, before anything is opened or stored.

    A bad line inside a good file is skipped and reported; a missing file, a folder, a binary file
    or a `.gz` that is not gzip would only give a reason per line, or a traceback.
    """
    if name == "-":
        return
    path = Path(name)
    if not path.exists():
        raise ReplayFileError(name, "no such file")
    if path.is_dir():
        raise ReplayFileError(name, "is a folder, not a JSON Lines file")
    try:
        with open(name, "rb") as raw:
            head = raw.read(SNIFF_BYTES)
        if name.endswith(".gz"):
            if head[:2] != GZIP_MAGIC:
                raise ReplayFileError(name, "named .gz but not gzip-compressed")
            with gzip.open(name, "rb") as packed:
                head = packed.read(SNIFF_BYTES)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ReplayFileError(name, f"damaged gzip file ({e})") from e
    except OSError as e:
        raise ReplayFileError(name, f"cannot read: {e.strerror or e}") from e
    if _binary(head):
        raise ReplayFileError(name, "binary file, not JSON Lines text (UTF-8)")


def _binary(head: bytes) -> bool:
    if b"\0" in head:
        return True
    try:
        # Not final: the sniffed block may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return True
    return False


def _peek_gzip(raw: IO[bytes]) -> bool:
    peek = getattr(raw, "peek", None)
    return bool(peek and peek(2)[:2] == b"\x1f\x8b")


def read_lines(name: str, stream: IO[str]) -> Iterator[tuple[int, str]]:
    """Numbered non-blank lines of one file; a file that turns unreadable half-way (a cut-off .gz,
    bytes that are not UTF-8) ends the run with its name and the last line read."""
    number = 0
    try:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield number, line
    except UnicodeDecodeError as e:
        raise ReplayFileError(name, f"after line {number}: not UTF-8 text") from e
    except (EOFError, zlib.error, OSError) as e:
        raise ReplayFileError(name, f"after line {number}: cannot read further ({e})") from e


async def replay(
    pipeline: Pipeline, names: list[str], *, err: TextIO | None = None, progress: bool | None = None
) -> ReplaySummary:
    err = err or sys.stderr
    summary = ReplaySummary()
    show = err.isatty() if progress is None else progress
    started = time.perf_counter()
    store = pipeline.store
    for name in names:
        with open_input(name) as stream:
            lines = read_lines(name, stream)
            # Each chunk is one transaction (the commit is amortized); each event inside it still
            # has its own savepoint, so a bad event never takes its neighbours down.
            while True:
                chunk: list[tuple[int, str]] = []
                unreadable: ReplayFileError | None = None
                try:
                    chunk.extend(itertools.islice(lines, BATCH))
                except ReplayFileError as e:  # the lines read before a cut still count
                    unreadable = e
                async with store.atomic():
                    for number, line in chunk:
                        summary.lines += 1
                        await _one(pipeline, name, number, line, summary, err)
                        if show and summary.lines % PROGRESS_EVERY == 0:
                            rate = summary.lines / (time.perf_counter() - started)
                            err.write(f"\r{summary.lines} events, {rate:.0f}/s")
                            err.flush()
                if unreadable:
                    raise unreadable
                if len(chunk) < BATCH:
                    break
    if show:
        err.write("\n")
    summary.elapsed_s = time.perf_counter() - started
    return summary


async def _one(pipeline: Pipeline, name: str, number: int, line: str, summary: ReplaySummary, err: TextIO) -> None:
    try:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ReplayLineError(number, f"not JSON: {e.msg}") from e
        except RecursionError as e:
            raise ReplayLineError(number, "not JSON: nested too deep") from e
        envelope = envelope_from_json(obj, line=number)
        result = await pipeline.ingest_or_park(envelope)
    except InputError as e:
        summary.skipped += 1
        reason = e.reason if isinstance(e, ReplayLineError) else str(e)
        text = f"{name}:{number}: {reason}"
        summary.errors.append(text)
        err.write(text + "\n")
        return
    if result.outcome is Outcome.PARKED:
        # Stored as failed, not lost: `stitch events retry` resolves it once the cause is fixed.
        summary.skipped += 1
        text = f"{name}:{number}: resolution failed {pipeline.max_attempts} times, parked: {result.reason}"
        summary.errors.append(text)
        err.write(text + "\n")
    elif result.outcome is Outcome.DUPLICATE:
        summary.duplicates += 1
    elif result.outcome is Outcome.IGNORED:
        summary.ignored += 1
        summary.ingested += 1
    else:
        summary.ingested += 1
        summary.persons_created += int(result.new_person)
        summary.merges += len(result.merges)
        summary.suggestions += len(result.suggestions)
