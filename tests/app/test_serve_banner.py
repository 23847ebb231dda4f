"""`stitch serve` says where it listens, with the inbox and ops addresses, and stops on Ctrl+C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def banner(tmp_path: Path) -> tuple[str, list[str]]:
    """Start `stitch serve` on a free port, read what it prints until it runs, stop it with Ctrl+C."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "app.cli", "serve", "--store", "sqlite:///s.db", "--port", str(port)]
    with subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as server:
        try:
            assert server.stdout is not None
            lines = []
            for line in server.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith("Running until Ctrl+C"):
                    break
            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=60) == 0
        finally:
            if server.poll() is None:
                server.kill()
    return f"http://127.0.0.1:{port}", lines


def test_serve_prints_where_it_listens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, lines = banner(tmp_path)
    assert lines == [
        f"Stitch listening on {base} (store sqlite:///s.db)",
        f"  inbox: {base}/inbox/",
        f"  ops:   {base}/ops/",
        "  no inbox login yet: stitch user add NAME --role admin --store sqlite:///s.db",
        "Running until Ctrl+C.",
    ]
    # Once a login exists, the hint is gone.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STITCH_PASSWORD", "correct-horse-1")
    assert main(["user", "add", "ada", "--role", "admin", "--store", "sqlite:///s.db"]) == 0
    base, lines = banner(tmp_path)
    assert lines == [
        f"Stitch listening on {base} (store sqlite:///s.db)",
        f"  inbox: {base}/inbox/",
        f"  ops:   {base}/ops/",
        "Running until Ctrl+C.",
    ]


def test_a_taken_port_is_one_line_that_names_the_way_out(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-m", "app.cli", "serve", "--demo", "--port", str(port)]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"stitch: cannot listen on 127.0.0.1:{port}: the port is taken"
        " (is another stitch serve running? --port picks another)"
    )
    assert not list(tmp_path.iterdir())  # nothing was started: no demo store
