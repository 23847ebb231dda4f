"""The outbox: managers' replies, stored before they are sent, sent through the customer's channel.

Life of a reply::

    send() ── choose profile ── store QUEUED ──► deliver(): attempts+1 stored ─► connector.send
                                                   │  (429/5xx: backoff, retry_after wins)
                                                   ├─ ok ───────► SENT + provider id + timeline (OUT)
                                                   └─ gave up ──► FAILED + error (403: profile unreachable)
    Twilio status callback ─► DELIVERED / READ / FAILED, by provider message id (forward only)

Crash safety. The reply is in the store before any provider call, and every call first stores
`attempts + 1`, so after a crash a QUEUED item says which of two cases it is in:

- `attempts == 0`: no provider ever saw it. Re-sending cannot duplicate it.
- `attempts > 0` and no provider message id: the provider may or may not have accepted it (we
  died between its answer and our write). Telegram, Twilio and Avito offer no idempotency key for
  sends, so no choice is both lossless and duplicate-free here. Stitch re-sends (at-least-once):
  a customer seeing a reply twice is better than a manager's answer silently vanishing. The window
  is the few milliseconds between the provider's answer and one local write, and the re-send is
  logged as possibly duplicate.

`recover()` runs this at start-up for items older than RECOVER_AGE, so a reply still being sent by
a live worker is left alone.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from connectors.base import BaseConnector, OutboundReply, SendResult, SendStatus
from connectors.retry import DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY, with_retries
from connectors.whatsapp.twilio import WINDOW, window_open
from core.errors import ChannelUnavailable, ConnectorError, FieldErrors, NotFound
from core.records import Direction, OutboxItem, OutboxStatus, Profile, StoredMessage
from core.values import Channel
from store.base import BaseStore

log = logging.getLogger("stitch.outbox")

RECOVER_AGE = timedelta(seconds=5)  # younger queued replies may still be in a live worker's hands
RECOVER_BATCH = 200
MAX_TEXT = 4096  # Telegram's limit, the strictest that is not split for us (Avito splits at 1000)
WINDOW_CLOSED = "outside WhatsApp's 24-hour window"

# Forward-only order of delivery states; FAILED is terminal and handled apart.
_RANK = {OutboxStatus.QUEUED: 0, OutboxStatus.SENT: 1, OutboxStatus.DELIVERED: 2, OutboxStatus.READ: 3}
_FROM_SEND = {
    # A provider that accepted the message has it: "queued at Twilio" is "sent" for us.
    SendStatus.QUEUED: OutboxStatus.SENT,
    SendStatus.SENT: OutboxStatus.SENT,
    SendStatus.DELIVERED: OutboxStatus.DELIVERED,
    SendStatus.READ: OutboxStatus.READ,
    SendStatus.FAILED: OutboxStatus.FAILED,
}


def _now() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """Sends replies through the connectors that are configured, keeping the outbox in the store."""

    def __init__(
        self,
        store: BaseStore,
        connectors: Mapping[Channel, BaseConnector],
        *,
        attempts: int = 5,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.connectors = connectors
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.clock = clock
        # Called inside the unit that records a sent reply (the CRM push queue commits with it).
        self.sent_hooks: list[Callable[[OutboxItem, StoredMessage], Awaitable[None]]] = []
        # Told about every state change of a reply, after it is committed (the inbox's live feed).
        self.listeners: list[Callable[[OutboxItem], Awaitable[None]]] = []

    # -- choosing where to answer ----------------------------------------------------------------
    async def choose(self, person_id: str, channel: Channel | None = None) -> Profile:
        """The profile to answer on: on `channel` if given, else where the customer wrote last.

        Skips profiles that are unreachable, on channels without a connector and, for WhatsApp,
        outside the 24-hour window. Raises ChannelUnavailable naming why each profile was skipped.
        """
        root = await self.store.root_of(person_id)
        if await self.store.get_person(root) is None:
            raise NotFound("person", person_id)
        profiles = sorted(await self.store.profiles_of(root), key=lambda p: p.last_seen, reverse=True)
        now = self.clock()
        reasons: list[str] = []
        for profile in profiles:
            if channel is not None and profile.channel is not channel:
                continue
            reason = self._why_not(profile, now)
            if reason is None:
                return profile
            reasons.append(f"{profile.channel}: {reason}")
        if not reasons:
            reasons.append(f"the customer has not written on {channel}" if channel else "the person has no profiles")
        raise ChannelUnavailable(str(channel or "any channel"), "; ".join(reasons))

    def why_not(self, profile: Profile) -> str | None:
        """Why a reply cannot go to this profile now, or None when it can (the inbox's channel selector)."""
        return self._why_not(profile, self.clock())

    async def _tell(self, item: OutboxItem) -> None:
        for listener in self.listeners:
            try:
                await listener(item)
            except Exception:  # a live page must never fail a reply
                log.exception("outbox listener failed", extra={"outbox_id": item.id})

    def _why_not(self, profile: Profile, now: datetime) -> str | None:
        if profile.channel is Channel.WEBFORM:
            # Shown after the channel's title: "The web form: no reply goes back through it; …".
            return "no reply goes back through it; call or e-mail the customer"
        if profile.channel not in self.connectors:
            return "channel not configured"
        if profile.unreachable:
            return "the customer cannot be reached (blocked the bot or is not on the channel)"
        if profile.channel is Channel.WHATSAPP and not window_open(profile.last_seen, now):
            hours = (now - profile.last_seen) / timedelta(hours=1)
            return (
                f"{WINDOW_CLOSED} (last message {hours:.0f} h ago, window {WINDOW / timedelta(hours=1):.0f} h);"
                " only an approved template can be sent"
            )
        return None

    # -- sending ---------------------------------------------------------------------------------
    async def send(self, person_id: str, text: str, channel: Channel | None = None, *, actor: str) -> OutboxItem:
        """Store a reply to the person and send it; returns the item as it ended (sent or failed).

        Raises FieldErrors for an empty or too long text, NotFound for an unknown person and
        ChannelUnavailable when no profile can be answered (nothing is stored then).
        """
        text = text.strip()
        if not text:
            raise FieldErrors({"text": "write something to send"})
        if len(text) > MAX_TEXT:
            raise FieldErrors({"text": f"longer than {MAX_TEXT} characters"})
        profile = await self.choose(person_id, channel)
        now = self.clock()
        item = OutboxItem(
            id=f"o_{secrets.token_hex(8)}",
            person_id=await self.store.root_of(person_id),
            profile_key=profile.key,
            channel=profile.channel,
            text=text,
            status=OutboxStatus.QUEUED,
            created_at=now,
            updated_at=now,
            actor=actor,
        )
        # Stored (committed) before the provider hears of it: a crash from here on loses nothing.
        async with self.store.atomic():
            await self.store.add_outbox(item)
        return await self.deliver(item)

    async def deliver(self, item: OutboxItem) -> OutboxItem:
        """Send a queued item (retrying 429/5xx) and record the outcome."""
        connector = self.connectors.get(item.channel)
        profile = (await self.store.get_profiles([item.profile_key])).get(item.profile_key)
        if connector is None or profile is None:
            reason = "channel not configured" if connector is None else "profile no longer exists"
            return await self._fail(item, reason)
        reply = OutboundReply(
            reply_id=item.id, channel=item.channel, chat_id=profile.chat_id, user_id=profile.user_id, text=item.text
        )
        current = item

        async def attempt() -> SendResult:
            nonlocal current
            current = replace(current, attempts=current.attempts + 1, updated_at=self.clock())
            # Written before the call: a crash during it leaves "outcome unknown", not "never sent".
            async with self.store.atomic():
                await self.store.put_outbox(current)
            return await connector.send(reply)

        try:
            result = await with_retries(
                attempt,
                attempts=self.attempts,
                base_delay=self.base_delay,
                max_delay=self.max_delay,
                sleep=self.sleep,
            )
        except ChannelUnavailable as e:
            if _unreachable(e):
                await self._mark_unreachable(profile)
            return await self._fail(current, e.reason)
        except ConnectorError as e:
            return await self._fail(current, e.reason)
        return await self._sent(current, profile, result)

    async def _sent(self, item: OutboxItem, profile: Profile, result: SendResult) -> OutboxItem:
        provider_id = result.provider_message_id or item.id
        done = replace(
            item,
            status=_FROM_SEND[result.status],
            provider_message_id=provider_id,
            error="",
            updated_at=self.clock(),
        )
        async with self.store.atomic():
            await self.store.put_outbox(done)
            lead = await self.store.open_lead_of(item.person_id)
            # The timeline shows the reply next to the customer's messages.
            message = StoredMessage(
                event_id=f"out:{item.id}",
                channel=item.channel,
                provider_message_id=provider_id,
                profile_key=profile.key,
                lead_id=lead.lead_id if lead else "",
                sent_at=result.sent_at,
                direction=Direction.OUT,
                text=item.text,
                meta={"outbox_id": item.id, "actor": item.actor},
            )
            await self.store.add_message(message)
            for hook in self.sent_hooks:
                await hook(done, message)
        log.info("reply sent", extra={"outbox_id": item.id, "channel": str(item.channel), "attempts": item.attempts})
        await self._tell(done)
        return done

    async def _fail(self, item: OutboxItem, reason: str) -> OutboxItem:
        failed = replace(item, status=OutboxStatus.FAILED, error=reason, updated_at=self.clock())
        async with self.store.atomic():
            await self.store.put_outbox(failed)
        log.warning(
            "reply failed",
            extra={"outbox_id": item.id, "channel": str(item.channel), "attempts": item.attempts, "reason": reason},
        )
        await self._tell(failed)
        return failed

    async def _mark_unreachable(self, profile: Profile) -> None:
        async with self.store.atomic():
            # Re-read inside the unit: the resolver may have updated the profile meanwhile.
            fresh = (await self.store.get_profiles([profile.key])).get(profile.key, profile)
            await self.store.put_profile(replace(fresh, unreachable=True))

    # -- delivery reports ------------------------------------------------------------------------
    async def on_status(
        self, channel: Channel, provider_message_id: str, status: SendStatus, error_code: str | None = None
    ) -> OutboxItem | None:
        """Apply a provider's delivery report; None when it names no reply of ours.

        Reports arrive out of order (read before delivered): states only move forward.
        """
        async with self.store.atomic():
            item = await self.store.outbox_by_provider_id(channel, provider_message_id)
            if item is None:
                return None
            new = _FROM_SEND[status]
            if item.status is OutboxStatus.FAILED:
                return item
            if new is not OutboxStatus.FAILED and _RANK[new] <= _RANK[item.status]:
                return item
            error = f"provider error {error_code}" if new is OutboxStatus.FAILED and error_code else item.error
            if new is OutboxStatus.FAILED and not error:
                error = "not delivered"
            updated = replace(item, status=new, error=error, updated_at=self.clock())
            await self.store.put_outbox(updated)
        await self._tell(updated)
        return updated

    # -- start-up recovery -----------------------------------------------------------------------
    async def recover(self, *, min_age: timedelta = RECOVER_AGE) -> int:
        """Send replies a crash left queued (see the module docstring); returns how many."""
        done = 0
        seen: set[str] = set()
        cutoff = self.clock() - min_age
        while batch := [i for i in await self.store.outbox_queued(cutoff, RECOVER_BATCH) if i.id not in seen]:
            for item in batch:
                seen.add(item.id)
                if item.provider_message_id:
                    # The provider has it; only our status write was lost.
                    async with self.store.atomic():
                        await self.store.put_outbox(replace(item, status=OutboxStatus.SENT, updated_at=self.clock()))
                    continue
                if item.attempts:
                    log.warning(
                        "re-sending a reply whose first send had an unknown outcome", extra={"outbox_id": item.id}
                    )
                await self.deliver(item)
                done += 1
        return done


def _unreachable(error: ChannelUnavailable) -> bool:
    """The customer cannot be reached on this profile at all (not merely outside a time window)."""
    return "24-hour window" not in error.reason
