"""Run every fake provider locally for a demo: `python -m connectors.fakes [--host H]`.

Prints the STITCH_*_API_BASE settings that point Stitch at them, and the credentials they accept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from connectors.avito.fake import FakeAvito
from connectors.max.fake import FakeMax
from connectors.telegram.fake import FakeTelegram
from connectors.whatsapp.fake import FakeTwilio


async def _serve(host: str) -> None:
    telegram, twilio, avito, max_bot = FakeTelegram(), FakeTwilio(), FakeAvito(), FakeMax()
    try:
        bases = [
            await telegram.start(host),
            await twilio.start(host),
            await avito.start(host),
            await max_bot.start(host),
        ]
        print(f"STITCH_TELEGRAM_API_BASE={bases[0]}")
        print(f"STITCH_TELEGRAM_BOT_TOKEN={telegram.token}")
        print(f"STITCH_TWILIO_API_BASE={bases[1]}")
        print(f"STITCH_TWILIO_ACCOUNT_SID={twilio.account_sid}")
        print(f"STITCH_TWILIO_AUTH_TOKEN={twilio.auth_token}")
        print(f"STITCH_AVITO_API_BASE={bases[2]}")
        print(f"STITCH_AVITO_CLIENT_ID={avito.client_id}")
        print(f"STITCH_AVITO_CLIENT_SECRET={avito.client_secret}")
        print(f"STITCH_MAX_API_BASE={bases[3]}")
        print(f"STITCH_MAX_BOT_TOKEN={max_bot.token}", flush=True)
        await asyncio.Event().wait()
    finally:
        await asyncio.gather(telegram.close(), twilio.close(), avito.close(), max_bot.close())


def main() -> None:
    parser = argparse.ArgumentParser(description="Local fake Telegram, Twilio, Avito and MAX APIs.")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host))


if __name__ == "__main__":
    main()
