"""FakeTwilio: the Messages endpoint of Twilio's REST API, and a signer for inbound webhooks.

The real `twilio.rest.Client` is pointed at it by rewriting scheme and host (see
`connectors.whatsapp.twilio.RebasedTwilioHttpClient`). Answers and errors follow Twilio's JSON.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from connectors.fakes._server import FakeServer
from core.config import Settings

DEMO_BUSINESS_NUMBER = "+14155238886"  # the business's WhatsApp number in the demo (Twilio's sandbox)

SIGNATURE_HEADER = "X-Twilio-Signature"
API_VERSION = "2010-04-01"
WINDOW_CLOSED_CODE = 63016
WINDOW_CLOSED_MESSAGE = (
    "Failed to send freeform message because you are outside the allowed window. "
    "If you are using WhatsApp, please use a Message Template."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SentTwilioMessage:
    """One Messages.json create call as the fake received it."""

    sid: str
    to: str
    from_: str
    body: str
    status_callback: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """What a webhook answered to a post from the fake."""

    status: int
    body: str
    content_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Failure:
    status: int
    code: int
    message: str


@dataclass(slots=True)
class _State:
    messages: list[SentTwilioMessage] = field(default_factory=list)
    auth_failures: int = 0
    closed_windows: set[str] = field(default_factory=set)


class FakeTwilio(FakeServer):
    """Twilio's Messages API for one account; records messages and fails on request."""

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "test-auth-token") -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.state = _State()
        self._failures: deque[_Failure] = deque()

    @property
    def messages(self) -> list[SentTwilioMessage]:
        return self.state.messages

    # --- failure switches -----------------------------------------------------------------------
    def close_window(self, to: str) -> None:
        """Messages to `to` (``whatsapp:+…`` or ``+…``) fail with 63016 until `open_window`."""
        self.state.closed_windows.add(_bare(to))

    def open_window(self, to: str) -> None:
        self.state.closed_windows.discard(_bare(to))

    def fail_next(self, status: int, *, code: int | None = None, message: str = "", times: int = 1) -> None:
        """The next `times` create calls answer `status` with Twilio's error body."""
        failure = _Failure(status=status, code=code or status, message=message or _reason(status))
        self._failures.extend([failure] * times)

    # --- inbound helpers ------------------------------------------------------------------------
    def inbound_fields(
        self,
        *,
        wa_id: str,
        body: str = "",
        profile_name: str = "",
        to: str = "+14155238886",
        message_sid: str | None = None,
        **extra: str,
    ) -> dict[str, str]:
        """Form fields of an inbound WhatsApp message as Twilio posts them."""
        sid = message_sid or _sid("SM")
        fields = {
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ProfileName": profile_name,
            "MessageType": "text",
            "SmsSid": sid,
            "WaId": wa_id.lstrip("+"),
            "SmsStatus": "received",
            "Body": body,
            "To": "whatsapp:" + _bare(to),
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": "whatsapp:+" + wa_id.lstrip("+"),
            "ApiVersion": API_VERSION,
        }
        fields.update(extra)
        return fields

    async def post_inbound(
        self, url: str, public_url: str, fields: dict[str, str], auth_token: str | None = None
    ) -> Delivery:
        """POST `fields` to `url`, signed for `public_url` (the full URL Twilio was configured with).

        Behind a proxy the two differ; Twilio signs the public one.
        """
        return await post_signed(url, public_url, fields, auth_token or self.auth_token)

    async def post_status(
        self,
        url: str,
        public_url: str,
        *,
        message_sid: str,
        status: str,
        error_code: str | None = None,
        to: str = "",
        auth_token: str | None = None,
    ) -> Delivery:
        """POST a delivery status callback (MessageSid, MessageStatus, ErrorCode) like Twilio."""
        fields = {
            "MessageSid": message_sid,
            "SmsSid": message_sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "ChannelPrefix": "whatsapp",
        }
        if to:
            fields["To"] = "whatsapp:" + _bare(to)
        if error_code:
            fields["ErrorCode"] = error_code
        return await post_signed(url, public_url, fields, auth_token or self.auth_token)

    # --- server ---------------------------------------------------------------------------------
    def stitch_settings(self, settings: Settings) -> Settings:
        return replace(
            settings,
            twilio_account_sid=self.account_sid,
            twilio_auth_token=self.auth_token,
            twilio_whatsapp_from=DEMO_BUSINESS_NUMBER,
            twilio_api_base=self.base_url,
        )

    def _routes(self, app: web.Application) -> None:
        app.router.add_post(f"/{API_VERSION}/Accounts/{{sid}}/Messages.json", self._create_message)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            secrets.compare_digest(user, self.account_sid)
            and secrets.compare_digest(password, self.auth_token)
            and request.match_info["sid"] == self.account_sid
        )

    async def _create_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            self.state.auth_failures += 1
            return _error(401, 20003, "Authenticate")
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if self._failures:
            f = self._failures.popleft()
            return _error(f.status, f.code, f.message)
        if _bare(to) in self.state.closed_windows:
            return _error(400, WINDOW_CLOSED_CODE, WINDOW_CLOSED_MESSAGE)
        sid = _sid("SM")
        self.state.messages.append(
            SentTwilioMessage(sid=sid, to=to, from_=from_, body=body, status_callback=form.get("StatusCallback", ""))
        )
        now = format_datetime(datetime.now(UTC), usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return web.json_response(
            {
                "account_sid": self.account_sid,
                "api_version": API_VERSION,
                "body": body,
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": from_,
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {"media": uri + "/Media.json"},
                "to": to,
                "uri": uri + ".json",
            },
            status=201,
        )


async def post_signed(url: str, public_url: str, fields: dict[str, str], auth_token: str) -> Delivery:
    """POST form `fields` to `url` with Twilio's signature computed over `public_url`."""
    signature = RequestValidator(auth_token).compute_signature(public_url, fields)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=fields, headers={SIGNATURE_HEADER: signature}) as r,
    ):
        return Delivery(status=r.status, body=await r.text(), content_type=r.content_type)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def _reason(status: int) -> str:
    return {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Error")


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _bare(number: str) -> str:
    return number.removeprefix("whatsapp:")
