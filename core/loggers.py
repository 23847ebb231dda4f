"""Named loggers and one-line JSON log records.

Records carry ids and counts, never message text, full phone numbers, e-mails or secrets: callers
pass only such fields in `extra`, and the formatter drops any field named like a secret.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SECRET_HINTS = ("token", "secret", "password", "auth", "text", "body", "phone", "email")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            out[key] = "[hidden]" if any(h in key.lower() for h in _SECRET_HINTS) else value
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("stitch")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
