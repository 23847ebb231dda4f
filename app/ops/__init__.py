"""The ops area: pages for the people who run Stitch (sub-app at /ops) and the `stitch graph` commands."""

from __future__ import annotations

from app.ops.access import OpsAccess, OpsUser, TokenOrLoopback
from app.ops.pages import OPS_ACCESS, create_ops_app

__all__ = ["OPS_ACCESS", "OpsAccess", "OpsUser", "TokenOrLoopback", "create_ops_app"]
