"""docker-compose.yml's topology, checked as a file and run here as plain processes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from scale_helpers import ROOT, spawn_worker

from store.redis import RedisStore

pytestmark = pytest.mark.scale
POSTS = 5  # under the form's per-address rate limit


def test_compose_file_runs_redis_with_aof_one_web_and_two_workers() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"redis", "web", "worker"}
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    assert services["web"]["command"][:2] == ["stitch", "serve"]
    assert services["worker"]["command"] == ["stitch", "worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("web", "worker"):
        assert services[name]["environment"]["STITCH_STORE"] == "redis://redis:6379/0"
        assert "redis" in services[name]["depends_on"]
    assert (ROOT / "Dockerfile").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_web_and_two_workers_as_plain_processes(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:6379/12"  # this test's own DB; only the store's prefix is dropped
    store = RedisStore.from_url(url)
    await store.open()
    await store.drop_everything()
    port = _free_port()
    env = dict(os.environ, STITCH_STORE=url, PYTHONPATH=str(ROOT))
    web = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):  # start-up is slow on a busy machine
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            for i in range(POSTS):
                body = {"name": "Лидия Зуева", "phone": "8 (914) 555-00-11", "message": f"Вопрос {i}"}
                async with http.post(f"http://127.0.0.1:{port}/forms/contact", json=body) as r:
                    assert r.status == 201, await r.text()
        # The web process only stored and enqueued; two worker processes resolve.
        assert await store.event_counts() == {"pending": POSTS}
        workers = [spawn_worker(url, "w1"), spawn_worker(url, "w2")]
        deadline = time.monotonic() + 120
        while (await store.event_counts()).get("done", 0) < POSTS:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        counts = await store.counts()
        assert (counts["persons"], counts["messages"]) == (1, POSTS), counts
        feed = await store.client.xlen(store.key("feed"))
        assert feed == POSTS
    finally:
        web.terminate()
        web.wait()
        for w in workers:
            w.wait(timeout=30)
        await store.drop_everything()
        await store.close()
