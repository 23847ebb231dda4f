"""Bad input on the command line: one line naming the problem, a non-zero exit, no traceback."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import REDIS_URL, unique_prefix

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "payloads" / "contract_samples.jsonl"


def stitch(cwd: Path, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("STITCH_STORE", None)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


def one_line(code: int, err: str, *words: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stitch: "), err
    for word in words:
        assert word in lines[0]


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 's.db'}"
    code, _, err = stitch(tmp_path, "replay", "--no-progress", "--store", url, str(SAMPLES))
    assert code == 0, err
    return url


def replay_file(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "missing.jsonl", ["missing.jsonl", "no such file"]),
        (lambda d: d, ["folder"]),
        (lambda d: replay_file(d, "ls.jsonl", Path(sys.executable).read_bytes()[:4096]), ["binary"]),
        (lambda d: replay_file(d, "events.jsonl.gz", SAMPLES.read_bytes()), ["not gzip"]),
        (lambda d: replay_file(d, "cut.jsonl.gz", gzip.compress(SAMPLES.read_bytes())[:40]), ["gzip"]),
    ],
    ids=["missing", "folder", "binary", "gz-not-gzip", "gz-cut"],
)
def test_replay_refuses_a_file_it_cannot_read(tmp_path: Path, store: str, make: object, words: list[str]) -> None:
    assert callable(make)
    target = make(tmp_path)
    _, before, _ = stitch(tmp_path, "export", "--store", store, "--what", "persons")
    code, _, err = stitch(tmp_path, "replay", "--no-progress", "--store", store, str(target))
    one_line(code, err, *words)
    _, after, _ = stitch(tmp_path, "export", "--store", store, "--what", "persons")
    assert after == before and before  # what was stored is still there


def test_replay_of_a_missing_file_creates_no_store(tmp_path: Path) -> None:
    code, _, err = stitch(tmp_path, "replay", "--store", "sqlite:///new.db", "nothing.jsonl")
    one_line(code, err, "nothing.jsonl")
    assert not (tmp_path / "new.db").exists()


def test_export_into_a_missing_folder(tmp_path: Path, store: str) -> None:
    code, out, err = stitch(tmp_path, "export", "--store", store, "--what", "persons", "--out", "no/such/x.jsonl")
    one_line(code, err, "--out", "does not exist")
    assert out == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "--what", "persons"],
        ["graph", "stats"],
        ["graph", "explain", "telegram:1", "telegram:2"],
    ],
    ids=["export", "graph-stats", "graph-explain"],
)
def test_reading_commands_never_create_a_store(tmp_path: Path, argv: list[str]) -> None:
    code, _, err = stitch(tmp_path, *argv, "--store", "sqlite:///typo.db")
    assert code == 1
    one_line(code, err, "typo.db", "no such store")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_empty_store_option_is_refused(tmp_path: Path) -> None:
    code, _, err = stitch(tmp_path, "export", "--store", "", "--what", "persons")
    one_line(code, err, "--store", "empty")
    assert not (tmp_path / "stitch.db").exists()


def test_a_redis_database_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    code, _, err = stitch(tmp_path, "export", "--store", "redis://127.0.0.1:6379/abc", "--what", "persons")
    one_line(code, err, "'abc'", "not a number")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("demo", [[], ["--demo"]], ids=["serve", "demo"])
def test_serve_on_a_taken_port(tmp_path: Path, taken_port: int, demo: list[str]) -> None:
    code, _, err = stitch(tmp_path, "serve", *demo, "--store", "sqlite:///s.db", "--port", str(taken_port))
    one_line(code, err, f"127.0.0.1:{taken_port}", "taken")


@pytest.mark.parametrize("port", ["70000", "0", "-1"])
def test_serve_on_a_port_out_of_range(tmp_path: Path, port: str) -> None:
    code, _, err = stitch(tmp_path, "serve", "--store", "sqlite:///s.db", "--port", port)
    one_line(code, err, "--port", port)
    assert not (tmp_path / "s.db").exists()


def cut_off_gzip(tmp_path: Path, lines: int) -> Path:
    """A gzip file whose first part reads, then ends mid-stream (a copy interrupted half-way)."""
    first = json.loads(SAMPLES.read_text(encoding="utf-8").splitlines()[0])
    body = "".join(
        json.dumps({**first, "id": f"cut-{n}-{os.urandom(48).hex()}", "payload": {**first["payload"], "update_id": n}})
        + "\n"
        for n in range(lines)
    )
    packed = gzip.compress(body.encode())
    return replay_file(tmp_path, "cut.jsonl.gz", packed[: len(packed) * 2 // 3])


@pytest.mark.parametrize("enqueue", [False, True], ids=["in-process", "enqueue"])
def test_a_file_cut_off_half_way_ends_the_replay_with_one_line(tmp_path: Path, enqueue: bool) -> None:
    prefix = unique_prefix()
    url = f"{REDIS_URL}?prefix={prefix}" if enqueue else f"sqlite:///{tmp_path / 's.db'}"
    path = cut_off_gzip(tmp_path, 400)
    code, _, err = stitch(
        tmp_path, "replay", "--no-progress", *(["--enqueue"] if enqueue else []), "--store", url, str(path)
    )
    one_line(code, err, "cut.jsonl.gz", "after line", "cannot read further")
    if not enqueue:  # what was read before the cut is resolved and stored
        _, events, _ = stitch(tmp_path, "export", "--store", url, "--what", "events")
        assert events.count("\n") > 100
    if enqueue:  # what was read before the cut is stored and handed to the workers
        client = redis.Redis.from_url(REDIS_URL)
        try:
            assert client.xlen(f"{{{prefix}}}:q:ingest") > 100
        finally:
            client.delete(*client.keys(f"{{{prefix}}}:*"))
            client.close()


def test_replay_skips_a_line_nested_too_deep_and_goes_on(tmp_path: Path, store: str) -> None:
    good = SAMPLES.read_text(encoding="utf-8").splitlines()[0]
    target = replay_file(tmp_path, "deep.jsonl", ("[" * 5000 + "]" * 5000 + "\n" + good + "\n").encode())
    code, _, err = stitch(tmp_path, "replay", "--no-progress", "--store", store, str(target))
    assert code == 1 and "Traceback" not in err
    assert "deep.jsonl:1: not JSON: nested too deep" in err
