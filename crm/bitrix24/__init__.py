"""Bitrix24 CRM over an incoming webhook: the client, its errors, and a local fake portal.

The fake lives in `crm.bitrix24.fake` and is imported explicitly by tests and the demo.
"""

from __future__ import annotations

from crm.bitrix24.client import (
    BatchResult,
    Bitrix24Client,
    CheckResult,
    MergeResult,
    WebhookUrl,
)
from crm.bitrix24.errors import (
    Bitrix24AuthError,
    Bitrix24Error,
    Bitrix24MethodNotFound,
    Bitrix24NotFound,
    Bitrix24Throttled,
    Bitrix24Unavailable,
)
from crm.bitrix24.throttle import LeakyBucket

__all__ = [
    "BatchResult",
    "Bitrix24AuthError",
    "Bitrix24Client",
    "Bitrix24Error",
    "Bitrix24MethodNotFound",
    "Bitrix24NotFound",
    "Bitrix24Throttled",
    "Bitrix24Unavailable",
    "CheckResult",
    "LeakyBucket",
    "MergeResult",
    "WebhookUrl",
]
