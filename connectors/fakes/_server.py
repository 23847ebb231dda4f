"""The start/close plumbing every fake shares: one aiohttp app on an ephemeral local port."""

from __future__ import annotations

import secrets

from aiohttp import web

from core.config import Settings


class FakeServer:
    """Base of the fakes: subclasses add routes in `_routes` and keep their own recorded state."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def stitch_settings(self, settings: Settings) -> Settings:
        """`settings` with this channel pointed at the fake (credentials it accepts, its base URL,
        fresh webhook secrets): the channel's part of `stitch serve --demo`."""
        raise NotImplementedError

    async def _on_close(self) -> None:
        """Release waiters before the runner shuts down (long polls would hold it open)."""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on `host:port` (0 picks a free port) and return the base URL."""
        app = web.Application()
        self._routes(app)
        # No access log: paths can carry secrets (Avito) and tokens (Telegram).
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        addr = runner.addresses[0]
        self.base_url = f"http://{addr[0]}:{addr[1]}"
        return self.base_url

    async def close(self) -> None:
        """Stop serving; safe to call twice."""
        if self._runner is None:
            return
        await self._on_close()
        runner, self._runner = self._runner, None
        await runner.cleanup()


def new_secret() -> str:
    """A webhook secret for a demo run."""
    return secrets.token_urlsafe(16)
