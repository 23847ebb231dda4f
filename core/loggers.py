"""Named loggers and one-line JSON log records.

Records carry ids and counts, never message text, full phone numbers, e-mails or secrets: callers
pass only such fields in `extra`, and the formatter drops any field named like a secret. As a
second line of defence it masks anything shaped like an international phone number or an e-mail
address in the strings it writes, whoever put them there (an exception message, a library).

Every record made while a web request is handled carries that request's correlation id (`cid`),
set by the web app's middleware through `correlation_id`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SECRET_HINTS = ("token", "secret", "password", "auth", "text", "body", "phone", "email", "signature")

correlation_id: ContextVar[str] = ContextVar("stitch_correlation_id", default="")

# "+7 912 345-67-89", "+79123456789": a plus, then at least 8 digits with the usual separators.
_PHONE_RE = re.compile(r"\+\d(?:[\s\-().]*\d){7,}")
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def scrub(value: str) -> str:
    """Mask phone numbers (keeping the last two digits) and e-mail addresses (keeping the domain)."""
    value = _PHONE_RE.sub(lambda m: "+***" + re.sub(r"\D", "", m.group())[-2:], value)
    return _EMAIL_RE.sub(lambda m: "***@" + m.group().rpartition("@")[2], value)


def _clean(value: object) -> object:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, correlation id and the safe extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": scrub(record.getMessage()),
        }
        cid = correlation_id.get()
        if cid:
            out["cid"] = cid
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            out[key] = "[hidden]" if any(h in key.lower() for h in _SECRET_HINTS) else _clean(value)
        if record.exc_info:
            out["error"] = scrub(self.formatException(record.exc_info).splitlines()[-1])
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("stitch")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
