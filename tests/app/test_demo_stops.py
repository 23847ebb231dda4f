"""`stitch serve` (with and without --demo) stops at once, cleanly, on SIGINT and on SIGTERM.

Started the way a shell starts a background job (`stitch serve --demo &` in a script): SIGINT
ignored from the start, so Python never turns it into KeyboardInterrupt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.app.test_serve_banner import free_port

ROOT = Path(__file__).resolve().parents[2]
UP_WITHIN_S = 60.0  # a cold start on a busy machine
STOPS_WITHIN_S = 10.0


def as_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def wait_until_up(server: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + UP_WITHIN_S
    while time.monotonic() < deadline:
        assert server.poll() is None, "stitch serve exited before answering"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise AssertionError("stitch serve did not answer /healthz")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
@pytest.mark.parametrize("demo", [True, False], ids=["demo", "plain"])
def test_serve_stops_on_a_signal_even_when_started_in_the_background(
    tmp_path: Path, sig: signal.Signals, demo: bool
) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("STITCH_STORE", None)  # the demo plays into its own store in the temporary directory
    argv = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--demo"] if demo else ["--store", "sqlite:///s.db"]
    with subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_background_job,
    ) as server:
        try:
            wait_until_up(server, port)
            # The demo is still playing its story here: a stop must not wait for it to end.
            server.send_signal(sig)
            out, err = server.communicate(timeout=STOPS_WITHIN_S)
        finally:
            if server.poll() is None:
                server.kill()
                server.communicate()
    assert server.returncode == 0, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert out.rstrip().endswith("Stitch demo stopped." if demo else "Stitch stopped."), out[-500:]
