"""Settings, read from the environment in one place and cast once.

A missing or malformed key fails at start-up with the key's name (ConfigError). Nothing else in
Stitch reads `os.environ`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import ConfigError

DEFAULT_STORE = "sqlite:///stitch.db"
DEMO_STORE = "sqlite:///stitch-demo.db"  # `stitch serve --demo` never plays into real customers' store

# Resolver defaults; bench/accuracy.py measured them (README, "Accuracy"). Match probabilities of
# the match-weight model (resolver/model.py): prior plus the weights of the levels a pair reached.
MERGE_PROBABILITY = 0.98  # a link at or above this merges automatically
REVIEW_PROBABILITY = 0.5  # at or above this (and below MERGE_PROBABILITY) it goes to the review queue
# Thresholds that were hand-set scores before the model decided; set, they fail with their successor's name.
REPLACED = {"STITCH_MERGE_SCORE": "STITCH_MERGE_PROBABILITY", "STITCH_REVIEW_SCORE": "STITCH_REVIEW_PROBABILITY"}
TIME_WINDOW_S = 30 * 60  # how far apart two messages may be to count as the same burst
MAX_PROFILES = 12  # a person this large grows only through review

ASK_CONTACT = (
    "Thank you for your message! So that we can recognise you on any channel and call back if needed, "
    "could you share your phone number? Just tap the button below."
)
CONTACT_BUTTON = "Share my phone number"
MAX_API = "https://platform-api.max.ru"  # MAX's Bot API (VK's messenger)
OUTBOX_ATTEMPTS = 5  # provider calls per reply before it is marked failed (429/5xx only are retried)
BITRIX24_RATE = 2.0  # requests/s Bitrix24 drains (cloud plans; Enterprise: 5)
BITRIX24_BURST = 50  # bucket size before 503 QUERY_LIMIT_EXCEEDED (cloud; Enterprise: 250)
BITRIX24_FIRST_RESPONSE_MIN = 15  # a new lead's to-do deadline: answer within this many minutes
BITRIX24_JOB_ATTEMPTS = 5  # a push the portal refuses (not an outage) is marked failed after this many
MAX_ATTEMPTS = 3  # resolutions of one event that may raise before it is parked as failed
RETENTION_SWEEP_S = 3600.0  # how often `stitch serve` erases texts past STITCH_RETENTION_DAYS
READY_MAX_BACKLOG = 1000  # accepted events not yet resolved above which /readyz says "not keeping up"

# The inbox.
MERGE_ROLES = ("supervisor", "admin")  # CRMs require delete rights to merge: not every manager
FIRST_RESPONSE_S = 15 * 60  # a new customer message should be answered within this
SESSION_HOURS = 12  # a login lasts one working day
JUNK_REASONS = (
    "existing client — additional data",
    "spam",
    "wrong number or contact",
    "duplicate",
    "not our product",
)
ROLES = ("manager", "supervisor", "ops", "admin")
MAX_PORT = 65535


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as e:
        raise ConfigError(key, f"expected a whole number, got {raw!r}") from e


def port_number(value: int, key: str) -> int:
    """A TCP port to listen on; 0 or above 65535 would fail later, deep inside the socket call."""
    if not 1 <= value <= MAX_PORT:
        raise ConfigError(key, f"expected a port from 1 to {MAX_PORT}, got {value}")
    return value


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as e:
        raise ConfigError(key, f"expected a number, got {raw!r}") from e


def _positive(value: float, key: str) -> float:
    if value <= 0:
        raise ConfigError(key, f"expected a number above 0, got {value!r}")
    return value


def _probability(env: Mapping[str, str], key: str, default: float) -> float:
    value = _float(env, key, default)
    if not 0.0 < value < 1.0:
        raise ConfigError(key, f"expected a match probability between 0 and 1 (such as 0.999), got {value!r}")
    return value


def _resolver(e: Mapping[str, str]) -> ResolverSettings:
    for old, new in REPLACED.items():
        if e.get(old):
            raise ConfigError(old, f"replaced by {new}, a match probability between 0 and 1 (README, Configuration)")
    merge = _probability(e, "STITCH_MERGE_PROBABILITY", MERGE_PROBABILITY)
    review = _probability(e, "STITCH_REVIEW_PROBABILITY", REVIEW_PROBABILITY)
    if review > merge:
        raise ConfigError("STITCH_REVIEW_PROBABILITY", f"{review} is above STITCH_MERGE_PROBABILITY {merge}")
    return ResolverSettings(
        merge_probability=merge,
        review_probability=review,
        time_window_s=_int(e, "STITCH_TIME_WINDOW_S", TIME_WINDOW_S),
        max_profiles=_int(e, "STITCH_MAX_PROFILES", MAX_PROFILES),
        model_path=e.get("STITCH_MODEL", ""),
        model_fallback=_bool(e, "STITCH_MODEL_FALLBACK", False),
    )


def _days(env: Mapping[str, str], key: str) -> int:
    days = _int(env, key, 0)
    if days < 0:
        raise ConfigError(key, f"expected a number of days (0 or unset: keep forever), got {days}")
    return days


def _list(env: Mapping[str, str], key: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in env.get(key, "").split(",") if p.strip())


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = (env.get(key) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(key, f"expected true or false, got {raw!r}")


def _roles(env: Mapping[str, str], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    roles = _list(env, key) or default
    for role in roles:
        if role not in ROLES:
            raise ConfigError(key, f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return roles


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxSettings:
    """What the managers' inbox reads: who may merge, deadlines, junk reasons, lead practice."""

    merge_roles: tuple[str, ...] = MERGE_ROLES
    first_response_s: int = FIRST_RESPONSE_S
    session_hours: int = SESSION_HOURS
    junk_reasons: tuple[str, ...] = JUNK_REASONS
    # Legacy lead practice: a returning customer's inquiry joins the converted lead's contact, or the
    # junk lead itself, instead of opening a repeat lead.
    legacy_leads: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolverSettings:
    """Thresholds the resolver reads; defaults are the measured ones (see bench/)."""

    merge_probability: float = MERGE_PROBABILITY
    review_probability: float = REVIEW_PROBABILITY
    time_window_s: int = TIME_WINDOW_S
    max_profiles: int = MAX_PROFILES
    # A model file to score with instead of the store's own (or the shipped one, if the store has none).
    model_path: str = ""
    # A model file that is missing, corrupt or of another version: fall back to the shipped model
    # (with a warning) instead of refusing to start.
    model_fallback: bool = False

    @property
    def merge_score(self) -> float:
        """The merge threshold as a match weight in bits, the unit evidence links are stored in."""
        return math.log2(self.merge_probability / (1.0 - self.merge_probability))


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """Scale-out with the Redis store: resolution locks and the ingest stream's workers."""

    concurrency: int = 4  # events one worker process resolves at a time (overlaps Redis round trips)
    claim_idle_s: float = 60.0  # an entry unacknowledged this long belongs to a dead worker: reclaim it
    max_deliveries: int = 5  # deliveries before an entry goes to the dead-letter stream
    lock_lease_s: float = 30.0  # far above one event's time; a dead worker's locks expire after it
    lock_wait_s: float = 60.0  # longer than a lease, so a dead holder never fails a live waiter
    # The graph's writer lease: a standby takes over at most this long after the writer died.
    lease_s: float = 5.0
    stream_maxlen: int = 1_000_000  # approximate cap of the ingest stream (acknowledged entries go first)
    feed_maxlen: int = 10_000  # approximate cap of the live-update feed


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    store_url: str = DEFAULT_STORE
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    default_region: str = "RU"
    telegram_bot_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_base: str = "https://api.telegram.org"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_whatsapp_from: str = ""
    twilio_api_base: str = "https://api.twilio.com"
    avito_client_id: str = ""
    avito_client_secret: str = ""
    avito_webhook_secret: str = ""
    avito_api_base: str = "https://api.avito.ru"
    max_bot_token: str = field(default="", repr=False)
    max_webhook_secret: str = field(default="", repr=False)
    max_api_base: str = MAX_API
    max_ask_contact: str = ASK_CONTACT  # empty: never ask MAX customers for their phone
    max_contact_button: str = CONTACT_BUTTON
    form_origins: tuple[str, ...] = ()
    metrics_token: str = ""
    bitrix24_webhook_url: str = ""
    telegram_ask_contact: str = ASK_CONTACT  # empty: never ask Telegram customers for their phone
    telegram_contact_button: str = CONTACT_BUTTON
    outbox_attempts: int = OUTBOX_ATTEMPTS
    bitrix24_rate: float = BITRIX24_RATE
    bitrix24_burst: int = BITRIX24_BURST
    bitrix24_first_response_min: int = BITRIX24_FIRST_RESPONSE_MIN
    bitrix24_job_attempts: int = BITRIX24_JOB_ATTEMPTS
    ops_token: str = ""  # empty: the /ops pages answer loopback clients only
    ops_alarm_profiles: int = 0  # a person larger than this raises the ops alarm; 0: resolver.max_profiles
    ready_max_backlog: int = READY_MAX_BACKLOG
    max_attempts: int = MAX_ATTEMPTS
    retention_days: int = 0  # message texts and raw payloads older than this are erased; 0: kept
    retention_sweep_s: float = RETENTION_SWEEP_S
    resolver: ResolverSettings = field(default_factory=ResolverSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    inbox: InboxSettings = field(default_factory=InboxSettings)
    password: str = field(default="", repr=False)  # STITCH_PASSWORD: `stitch user add` without a prompt

    @property
    def alarm_profiles(self) -> int:
        """The person size above which ops is alarmed (its own setting, else the resolver's cap)."""
        return self.ops_alarm_profiles or self.resolver.max_profiles

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        return cls(
            store_url=e.get("STITCH_STORE") or DEFAULT_STORE,
            host=e.get("STITCH_HOST") or "127.0.0.1",
            port=port_number(_int(e, "STITCH_PORT", 8080), "STITCH_PORT"),
            public_url=(e.get("STITCH_PUBLIC_URL") or "").rstrip("/"),
            default_region=(e.get("STITCH_DEFAULT_REGION") or "RU").upper(),
            telegram_bot_token=e.get("STITCH_TELEGRAM_BOT_TOKEN", ""),
            telegram_webhook_secret=e.get("STITCH_TELEGRAM_WEBHOOK_SECRET", ""),
            telegram_api_base=e.get("STITCH_TELEGRAM_API_BASE") or "https://api.telegram.org",
            twilio_account_sid=e.get("STITCH_TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=e.get("STITCH_TWILIO_AUTH_TOKEN", ""),
            twilio_whatsapp_from=e.get("STITCH_TWILIO_WHATSAPP_FROM", ""),
            twilio_api_base=e.get("STITCH_TWILIO_API_BASE") or "https://api.twilio.com",
            avito_client_id=e.get("STITCH_AVITO_CLIENT_ID", ""),
            avito_client_secret=e.get("STITCH_AVITO_CLIENT_SECRET", ""),
            avito_webhook_secret=e.get("STITCH_AVITO_WEBHOOK_SECRET", ""),
            avito_api_base=e.get("STITCH_AVITO_API_BASE") or "https://api.avito.ru",
            max_bot_token=e.get("STITCH_MAX_BOT_TOKEN", ""),
            max_webhook_secret=e.get("STITCH_MAX_WEBHOOK_SECRET", ""),
            max_api_base=(e.get("STITCH_MAX_API_BASE") or MAX_API).rstrip("/"),
            max_ask_contact=e.get("STITCH_MAX_ASK_CONTACT", ASK_CONTACT).strip(),
            max_contact_button=e.get("STITCH_MAX_CONTACT_BUTTON") or CONTACT_BUTTON,
            form_origins=_list(e, "STITCH_FORM_ORIGINS"),
            metrics_token=e.get("STITCH_METRICS_TOKEN", ""),
            bitrix24_webhook_url=e.get("STITCH_BITRIX24_WEBHOOK_URL", ""),
            # Unset means the default text; set to empty it turns the question off.
            telegram_ask_contact=e.get("STITCH_TELEGRAM_ASK_CONTACT", ASK_CONTACT).strip(),
            telegram_contact_button=e.get("STITCH_TELEGRAM_CONTACT_BUTTON") or CONTACT_BUTTON,
            outbox_attempts=max(1, _int(e, "STITCH_OUTBOX_ATTEMPTS", OUTBOX_ATTEMPTS)),
            bitrix24_rate=_positive(_float(e, "STITCH_BITRIX24_RATE", BITRIX24_RATE), "STITCH_BITRIX24_RATE"),
            bitrix24_burst=int(_positive(_int(e, "STITCH_BITRIX24_BURST", BITRIX24_BURST), "STITCH_BITRIX24_BURST")),
            bitrix24_first_response_min=_int(e, "STITCH_BITRIX24_FIRST_RESPONSE_MIN", BITRIX24_FIRST_RESPONSE_MIN),
            bitrix24_job_attempts=max(1, _int(e, "STITCH_BITRIX24_JOB_ATTEMPTS", BITRIX24_JOB_ATTEMPTS)),
            ops_token=e.get("STITCH_OPS_TOKEN", ""),
            ops_alarm_profiles=max(0, _int(e, "STITCH_OPS_ALARM_PROFILES", 0)),
            ready_max_backlog=max(1, _int(e, "STITCH_READY_MAX_BACKLOG", READY_MAX_BACKLOG)),
            max_attempts=int(_positive(_int(e, "STITCH_MAX_ATTEMPTS", MAX_ATTEMPTS), "STITCH_MAX_ATTEMPTS")),
            retention_days=_days(e, "STITCH_RETENTION_DAYS"),
            retention_sweep_s=_positive(
                _float(e, "STITCH_RETENTION_SWEEP_S", RETENTION_SWEEP_S), "STITCH_RETENTION_SWEEP_S"
            ),
            resolver=_resolver(e),
            worker=WorkerSettings(
                concurrency=_int(e, "STITCH_WORKER_CONCURRENCY", 4),
                claim_idle_s=_float(e, "STITCH_CLAIM_IDLE_S", 60.0),
                max_deliveries=_int(e, "STITCH_MAX_DELIVERIES", 5),
                lock_lease_s=_float(e, "STITCH_LOCK_LEASE_S", 30.0),
                lock_wait_s=_float(e, "STITCH_LOCK_WAIT_S", 60.0),
                lease_s=_positive(_float(e, "STITCH_WORKER_LEASE_S", 5.0), "STITCH_WORKER_LEASE_S"),
                stream_maxlen=_int(e, "STITCH_STREAM_MAXLEN", 1_000_000),
                feed_maxlen=_int(e, "STITCH_FEED_MAXLEN", 10_000),
            ),
            inbox=InboxSettings(
                merge_roles=_roles(e, "STITCH_MERGE_ROLES", MERGE_ROLES),
                first_response_s=max(1, _int(e, "STITCH_FIRST_RESPONSE_S", FIRST_RESPONSE_S)),
                session_hours=max(1, _int(e, "STITCH_SESSION_HOURS", SESSION_HOURS)),
                # Reasons may contain commas: they are separated by semicolons.
                junk_reasons=tuple(r.strip() for r in e.get("STITCH_JUNK_REASONS", "").split(";") if r.strip())
                or JUNK_REASONS,
                legacy_leads=_bool(e, "STITCH_LEGACY_LEADS", False),
            ),
            password=e.get("STITCH_PASSWORD", ""),
        )
