"""Phone and e-mail normalization: the exact-link keys."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# Values people type when a form insists on a field; they must never link two customers.
_GENERIC_EMAIL_LOCALS = frozenset(
    {
        "test",
        "example",
        "noreply",
        "no-reply",
        "none",
        "null",
        "asd",
        "qwe",
        "qwerty",
        "aaa",
        "x",
        "xxx",
        "mail",
        "email",
        "info",
        "admin",
        "user",
        "nomail",
        "123",
        "1234",
        "12345",
        "123456",
    }
)
_GENERIC_EMAIL_DOMAINS = frozenset({"example.com", "example.org", "example.net", "test.com", "test.ru", "mail.test"})


# Regions tried, in order, for a number typed without a country code that is not valid in the
# default region (a visitor from abroad writing their number the way they dial it at home).
FALLBACK_REGIONS = ("US", "GB", "DE", "PL", "KZ", "BY", "UA")


def _parse_valid(raw: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


@lru_cache(maxsize=65536)
def normalize_phone(raw: str, region: str = "RU") -> str | None:
    """E.164 for a valid, non-generic number; None otherwise (never raises)."""
    cleaned = raw.strip().removeprefix("whatsapp:").strip()
    if not cleaned or len(cleaned) > 40:
        return None
    if cleaned.startswith("00"):  # the international prefix most of Europe dials ("0048 ...")
        cleaned = "+" + cleaned[2:]
    digits = re.sub(r"\D", "", cleaned)
    # A bare international number without "+" ("79123456789" from Telegram's contact or WaId).
    if not cleaned.startswith("+") and len(digits) >= 11 and not digits.startswith("8"):
        cleaned = "+" + digits
    number = _parse_valid(cleaned, region)
    if number is None and not cleaned.startswith("+"):
        # Typed without a country code and not valid here: a foreign customer's local format.
        number = next((n for r in FALLBACK_REGIONS if r != region and (n := _parse_valid(cleaned, r))), None)
    if number is None:
        return None
    if _is_placeholder(str(number.national_number)):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_generic_phone(e164: str) -> bool:
    """Placeholder numbers: one digit repeated, or a plain run like 1234567."""
    return _is_placeholder(str(phonenumbers.parse(e164).national_number))


def _is_placeholder(national: str) -> bool:
    return len(set(national)) <= 2 or national in "01234567890123456789" or national in "98765432109876543210"


@lru_cache(maxsize=65536)
def normalize_email(raw: str) -> str | None:
    """The lower-cased match key of a valid, non-generic address; None otherwise."""
    raw = raw.strip()
    if not raw or len(raw) > 254 or "@" not in raw:
        return None
    try:
        normalized = validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None
    local, _, domain = normalized.rpartition("@")
    if local in _GENERIC_EMAIL_LOCALS or domain in _GENERIC_EMAIL_DOMAINS:
        return None
    if len(local) == 1 and len(domain.partition(".")[0]) == 1:
        return None  # "a@a.ru": a keyboard stroke, not an address
    return normalized


# Fewer digits than this in a whole text cannot hold a phone number; skips the costly matcher.
MIN_PHONE_DIGITS = 7


def phones_in_text(text: str, region: str = "RU") -> list[str]:
    """Valid phone numbers written inside a message, in E.164."""
    found: list[str] = []
    if sum(ch.isdigit() for ch in text) < MIN_PHONE_DIGITS:
        return found
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        if _is_placeholder(str(match.number.national_number)):
            continue
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in found:
            found.append(e164)
    return found


_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def emails_in_text(text: str) -> list[str]:
    found: list[str] = []
    if "@" not in text:
        return found
    for raw in _EMAIL_RE.findall(text):
        email = normalize_email(raw)
        if email and email not in found:
            found.append(email)
    return found


def mask_phone(e164: str) -> str:
    """+79123456789 -> +7 912 ***-**-89: enough for a manager to recognise, nothing for a log reader."""
    if len(e164) < 8:
        return "***"
    return f"{e164[:2]} {e164[2:5]} ***-**-{e164[-2:]}"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
