"""WhatsAppConnector through the real twilio Client against FakeTwilio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from connectors.base import OutboundReply, SendStatus, WebhookRequest
from connectors.retry import with_retries
from connectors.whatsapp.fake import FakeTwilio
from connectors.whatsapp.twilio import WINDOW, StatusUpdate, WhatsAppConnector, window_open
from core.errors import AuthError, ChannelUnavailable, ParseError, ProviderError
from core.values import Channel, Envelope

SID = "AC" + "1" * 32
TOKEN = "twilio-auth-token"
FROM = "+14155238886"
PUBLIC = "https://stitch.example.com"
CUSTOMER = "+79123456789"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    server = FakeTwilio(SID, TOKEN)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def conn(fake: FakeTwilio) -> AsyncIterator[WhatsAppConnector]:
    connector = WhatsAppConnector(
        account_sid=SID, auth_token=TOKEN, from_number=FROM, public_url=PUBLIC, api_base=fake.base_url
    )
    yield connector
    await connector.close()


def reply(text: str = "Добрый день! Заказ готов.") -> OutboundReply:
    return OutboundReply(reply_id="r1", channel=Channel.WHATSAPP, chat_id=CUSTOMER, user_id=CUSTOMER, text=text)


class RecordingSleep:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.pauses.append(delay)


async def test_send_reaches_twilio_with_to_from_body(fake: FakeTwilio, conn: WhatsAppConnector) -> None:
    result = await conn.send(reply())
    [sent] = fake.messages
    assert (sent.to, sent.from_, sent.body) == ("whatsapp:" + CUSTOMER, "whatsapp:" + FROM, reply().text)
    assert sent.status_callback == PUBLIC + "/webhooks/whatsapp/status"
    assert result.provider_message_id == sent.sid
    assert result.provider_message_id.startswith("SM")
    assert result.status is SendStatus.QUEUED
    assert result.sent_at.tzinfo is not None


async def test_wrong_credentials_are_a_provider_error(fake: FakeTwilio) -> None:
    connector = WhatsAppConnector(
        account_sid=SID, auth_token="wrong", from_number=FROM, public_url=PUBLIC, api_base=fake.base_url
    )
    try:
        with pytest.raises(ProviderError) as info:
            await connector.send(reply())
        assert info.value.status == 401
        assert not info.value.retryable
    finally:
        await connector.close()
    assert fake.messages == []


async def test_closed_window_is_channel_unavailable_and_not_retried(fake: FakeTwilio, conn: WhatsAppConnector) -> None:
    fake.close_window(CUSTOMER)
    sleep = RecordingSleep()
    with pytest.raises(ChannelUnavailable, match="24-hour window"):
        await with_retries(lambda: conn.send(reply()), attempts=4, base_delay=1, max_delay=5, sleep=sleep)
    assert sleep.pauses == []
    assert fake.messages == []


async def test_server_error_then_success_with_retries(fake: FakeTwilio, conn: WhatsAppConnector) -> None:
    fake.fail_next(500)
    fake.fail_next(429)
    sleep = RecordingSleep()
    result = await with_retries(lambda: conn.send(reply()), attempts=3, base_delay=1, max_delay=5, sleep=sleep)
    assert len(sleep.pauses) == 2
    assert all(0 <= p <= 5 for p in sleep.pauses)
    assert [m.sid for m in fake.messages] == [result.provider_message_id]


async def test_retries_give_up_with_the_last_error(fake: FakeTwilio, conn: WhatsAppConnector) -> None:
    fake.fail_next(503, times=3)
    with pytest.raises(ProviderError) as info:
        await with_retries(lambda: conn.send(reply()), attempts=3, base_delay=1, max_delay=5, sleep=RecordingSleep())
    assert info.value.status == 503
    assert fake.messages == []


def _signed(fields: dict[str, str], path: str, signature: str | None) -> WebhookRequest:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    return WebhookRequest(path=path, headers=headers, body=b"", form=fields)


async def test_signature_ok_forged_and_missing(fake: FakeTwilio, conn: WhatsAppConnector) -> None:
    fields = fake.inbound_fields(wa_id="79123456789", body="Здравствуйте", profile_name="Ivan")
    path = "/webhooks/whatsapp?attempt=1"
    good = RequestValidator(TOKEN).compute_signature(PUBLIC + path, fields)
    conn.verify(_signed(fields, path, good))

    with pytest.raises(AuthError):
        conn.verify(_signed({**fields, "Body": "tampered"}, path, good))
    with pytest.raises(AuthError):
        conn.verify(_signed(fields, path, RequestValidator("other-token").compute_signature(PUBLIC + path, fields)))
    with pytest.raises(AuthError):
        conn.verify(_signed(fields, "/webhooks/whatsapp", good))  # query is part of what is signed
    with pytest.raises(AuthError):
        conn.verify(_signed(fields, path, None))


async def test_signed_posts_through_a_local_endpoint(fake: FakeTwilio, conn: WhatsAppConnector) -> None:
    """The fake signs for the public URL while posting to the local one, like Twilio behind a proxy."""
    envelopes: list[Envelope] = []
    statuses: list[StatusUpdate] = []

    async def endpoint(request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        hook = WebhookRequest(
            path=request.path_qs,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=b"",
            form=form,
        )
        try:
            conn.verify(hook)
        except AuthError:
            return web.Response(status=403)
        if request.path.endswith("/status"):
            statuses.append(conn.status_update(hook))
        else:
            envelopes.append(conn.envelope(hook, datetime.now(UTC)))
        return web.Response(text="<Response/>", content_type="text/xml")

    app = web.Application()
    app.router.add_post("/webhooks/whatsapp", endpoint)
    app.router.add_post("/webhooks/whatsapp/status", endpoint)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    local = f"http://{host}:{port}"
    try:
        fields = fake.inbound_fields(wa_id="79123456789", body="Нужна доставка", profile_name="Ivan")
        ok = await fake.post_inbound(local + "/webhooks/whatsapp", PUBLIC + "/webhooks/whatsapp", fields)
        assert (ok.status, ok.body, ok.content_type) == (200, "<Response/>", "text/xml")
        forged = await fake.post_inbound(
            local + "/webhooks/whatsapp", PUBLIC + "/webhooks/whatsapp", fields, auth_token="forged"
        )
        assert forged.status == 403
        status = await fake.post_status(
            local + "/webhooks/whatsapp/status",
            PUBLIC + "/webhooks/whatsapp/status",
            message_sid="SM123",
            status="undelivered",
            error_code="63016",
        )
        assert status.status == 200
    finally:
        await runner.cleanup()
    [env] = envelopes
    assert env.id == "whatsapp:" + fields["MessageSid"]
    assert env.payload["From"] == "whatsapp:+79123456789"
    assert env.payload["WaId"] == "79123456789"
    assert statuses == [("SM123", SendStatus.FAILED, "63016")]


def test_envelope_from_raw_body_and_missing_sid(conn: WhatsAppConnector) -> None:
    now = datetime.now(UTC)
    raw = _signed({}, "/webhooks/whatsapp", "x")
    body = WebhookRequest(path=raw.path, headers=raw.headers, body=b"MessageSid=SM1&From=whatsapp%3A%2B7912&Body=hi")
    assert conn.envelope(body, now).id == "whatsapp:SM1"
    with pytest.raises(ParseError):
        conn.envelope(_signed({"From": "whatsapp:+7912"}, "/webhooks/whatsapp", "x"), now)


def test_status_update_maps_statuses(conn: WhatsAppConnector) -> None:
    def status(raw: str) -> SendStatus:
        return conn.status_update(_signed({"MessageSid": "SM1", "MessageStatus": raw}, "/", "x")).status

    assert status("sent") is SendStatus.SENT
    assert status("delivered") is SendStatus.DELIVERED
    assert status("read") is SendStatus.READ
    assert status("failed") is SendStatus.FAILED
    assert conn.status_update(_signed({"MessageSid": "SM1", "MessageStatus": "sent"}, "/", "x")).error_code is None
    with pytest.raises(ParseError):
        status("exploded")


def test_window_open() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert window_open(now - timedelta(hours=23, minutes=59), now)
    assert not window_open(now - WINDOW, now)
    assert not window_open(now - timedelta(days=3), now)
    assert not window_open(None, now)
