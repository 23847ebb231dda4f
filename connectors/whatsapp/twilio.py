"""WhatsAppConnector: Twilio webhooks in (signed form posts), `messages.create_async` out.

Point it at a local fake with `api_base`: `RebasedTwilioHttpClient` rewrites the scheme and host of
every URL the real twilio `Client` builds.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, NamedTuple
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from connectors.base import BaseConnector, DeliveryReport, OutboundReply, SendResult, SendStatus, WebhookRequest
from connectors.whatsapp.parse import event_id
from core.config import Settings
from core.errors import AuthError, ChannelUnavailable, ParseError, ProviderError
from core.values import Channel, Envelope

logger = logging.getLogger("stitch.connectors.whatsapp")

TWILIO_API = "https://api.twilio.com"
SIGNATURE_HEADER = "x-twilio-signature"  # WebhookRequest header keys are lower-cased
STATUS_PATH = "/webhooks/whatsapp/status"
PREFIX = "whatsapp:"
WINDOW = timedelta(hours=24)  # WhatsApp allows free-form replies this long after the customer's message
WINDOW_CLOSED = 63016  # Twilio: free-form message outside the 24-hour window, a template is needed
# Twilio errors meaning this customer cannot be reached on WhatsApp at all, whatever we retry.
UNREACHABLE = {
    63003: "the number is not on WhatsApp",
    63024: "invalid message recipient",
    21211: "invalid 'To' number",
    21610: "the customer unsubscribed",
}
NETWORK_STATUS = 503  # a transport failure counts as a retryable 5xx

_STATUSES = {
    "accepted": SendStatus.QUEUED,
    "scheduled": SendStatus.QUEUED,
    "queued": SendStatus.QUEUED,
    "sending": SendStatus.QUEUED,
    "sent": SendStatus.SENT,
    "delivered": SendStatus.DELIVERED,
    "read": SendStatus.READ,
    "failed": SendStatus.FAILED,
    "undelivered": SendStatus.FAILED,
    "canceled": SendStatus.FAILED,
}


class StatusUpdate(NamedTuple):
    """A delivery status callback: which message, where it got to, Twilio's error code if any."""

    message_sid: str
    status: SendStatus
    error_code: str | None


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """True while a free-form reply is allowed: within WINDOW of the customer's last message."""
    if last_inbound_at is None:
        return False
    return now - last_inbound_at < WINDOW


class RebasedTwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """Twilio's aiohttp client, sending every request to `base_url` instead of twilio.com.

    Create it inside the running event loop (it opens an aiohttp session) and close it.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base = urlsplit(base_url.rstrip("/"))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        parts = urlsplit(url)
        rebased = urlunsplit(
            (self._base.scheme, self._base.netloc, self._base.path + parts.path, parts.query, parts.fragment)
        )
        if auth is not None:
            # The parent wraps credentials in aiohttp.BasicAuth, deprecated since aiohttp 3.14:
            # send the same header ourselves.
            headers = {**(headers or {}), "Authorization": aiohttp.encode_basic_auth(auth[0], auth[1])}
        response: Response = await super().request(
            method,
            rebased,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        return response


class WhatsAppConnector(BaseConnector):
    """One WhatsApp business number on one Twilio account.

    Pass a ready twilio `Client` (whose async http client this connector then does not close), or
    let the connector build one on first use inside the running loop from the credentials and
    `api_base`; `close()` releases what it built.
    """

    channel: ClassVar[Channel] = Channel.WHATSAPP

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        public_url: str,
        api_base: str = TWILIO_API,
        region: str = "RU",
        client: Client | None = None,
    ) -> None:
        self._account_sid = account_sid
        self._validator = RequestValidator(auth_token)
        self._auth_token = auth_token
        self._from = _wa(from_number)
        self._public_url = public_url.rstrip("/")
        self._api_base = api_base
        self._region = region
        self._client = client
        self._http: RebasedTwilioHttpClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WhatsAppConnector:
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            from_number=settings.twilio_whatsapp_from,
            public_url=settings.public_url,
            api_base=settings.twilio_api_base,
            region=settings.default_region,
        )

    def client(self) -> Client:
        """The twilio Client; built on first call, which must happen inside the running loop."""
        if self._client is None:
            self._http = RebasedTwilioHttpClient(self._api_base)
            self._client = Client(self._account_sid, self._auth_token, http_client=self._http)
        return self._client

    # --- inbound --------------------------------------------------------------------------------
    def verify(self, request: WebhookRequest) -> None:
        """Check X-Twilio-Signature over the public URL Twilio was configured with, plus the form.

        The local URL differs behind a proxy, so the signature is computed over `public_url` +
        the received path and query.
        """
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise AuthError(self.channel, "missing signature")
        if not self._public_url:
            raise AuthError(self.channel, "public URL not configured; signatures cannot be checked")
        if not self._validator.validate(self._public_url + request.path, dict(_form(request)), signature):
            raise AuthError(self.channel, "signature mismatch")

    def envelope(self, request: WebhookRequest, received_at: datetime) -> Envelope:
        form = _form(request)
        sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
        if not sid:
            raise ParseError(self.channel, "MessageSid", "missing")
        if not form.get("From"):
            raise ParseError(self.channel, "From", "missing")
        payload = dict(form)
        return Envelope(
            id=event_id(payload, received_at), channel=self.channel, received_at=received_at, payload=payload
        )

    def delivery_report(self, request: WebhookRequest) -> DeliveryReport | None:
        """A status callback (posted to STATUS_PATH, or to the inbound URL when configured there)."""
        form = _form(request)
        if urlsplit(request.path).path != STATUS_PATH and ("MessageStatus" not in form or "Body" in form):
            return None
        try:
            update = self.status_update(request)
        except ParseError as e:
            if e.field != "MessageStatus":
                raise
            # A status Twilio added after this code was written: nothing to do.
            return DeliveryReport(provider_message_id=form.get("MessageSid", ""), status=None)
        return DeliveryReport(
            provider_message_id=update.message_sid, status=update.status, error_code=update.error_code
        )

    def status_update(self, request: WebhookRequest) -> StatusUpdate:
        """Decode a (verified) status callback posted to STATUS_PATH."""
        form = _form(request)
        sid = form.get("MessageSid") or form.get("SmsSid")
        if not sid:
            raise ParseError(self.channel, "MessageSid", "missing")
        raw = form.get("MessageStatus") or form.get("SmsStatus") or ""
        status = _STATUSES.get(raw.lower())
        if status is None:
            raise ParseError(self.channel, "MessageStatus", f"unknown status {raw!r}")
        return StatusUpdate(message_sid=sid, status=status, error_code=form.get("ErrorCode") or None)

    # --- outbound -------------------------------------------------------------------------------
    async def send(self, reply: OutboundReply) -> SendResult:
        """One create call; retrying is the caller's policy (`connectors.retry.with_retries`)."""
        kwargs: dict[str, Any] = {"from_": self._from, "to": _wa(reply.user_id), "body": reply.text}
        if self._public_url:
            kwargs["status_callback"] = self._public_url + STATUS_PATH
        try:
            message = await self.client().messages.create_async(**kwargs)
        except TwilioRestException as e:
            raise self._error(e) from e
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ProviderError(self.channel, "network error", status=NETWORK_STATUS) from e
        return SendResult(
            provider_message_id=str(message.sid),
            status=_STATUSES.get(str(message.status or "").lower(), SendStatus.QUEUED),
            sent_at=_when(message.date_created),
        )

    def _error(self, e: TwilioRestException) -> Exception:
        code = int(e.code) if e.code is not None else None
        status = int(e.status)
        if code == WINDOW_CLOSED:
            return ChannelUnavailable(self.channel, "outside the 24-hour window")
        if code in UNREACHABLE:
            return ChannelUnavailable(self.channel, UNREACHABLE[code])
        # Twilio's JSON error carries no Retry-After; the caller's backoff decides the pause.
        return ProviderError(self.channel, f"twilio error {code or status}", status=status)

    async def close(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.close()


def _form(request: WebhookRequest) -> dict[str, str]:
    """Form fields, decoded by the web layer or, failing that, from the raw body."""
    if request.form:
        return dict(request.form)
    try:
        text = request.body.decode()
    except UnicodeDecodeError as e:
        raise ParseError(Channel.WHATSAPP, "body", "not UTF-8 form data") from e
    return dict(parse_qsl(text, keep_blank_values=True))


def _wa(number: str) -> str:
    """`whatsapp:+E164` from `+E164`, `E164` digits or an already prefixed address."""
    bare = number.removeprefix(PREFIX)
    return PREFIX + (bare if bare.startswith("+") else "+" + bare)


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)
