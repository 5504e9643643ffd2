"""What the console's pages call: the API's own operations, as the signed-in principal.

No console code reads or writes the store.  Each action is one AWS operation dispatched
through the same protocol object that answers SDK requests (`AwsJsonProtocol.dispatch`):
the same validation, quotas, authorization, errors and audit record, marked as the
console's by its user agent.  It runs on the database worker, as every request that may
touch the database does.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from kms_core.domain.principal import Principal
from kms_core.errors import AwsError
from kms_core.protocol.awsjson import AwsJsonProtocol, Outcome
from kms_core.protocol.query import AwsQueryProtocol

#: the user agent of the console's audit records
CONSOLE_AGENT = "paramstore-console"


@dataclass(frozen=True)
class Failure:
    """An AWS error, as the page shows it."""

    code: str
    message: str


class ConsoleError(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.code}: {failure.message}")
        self.failure = failure


class Backend:
    def __init__(self, protocol: AwsJsonProtocol, query_protocol: AwsQueryProtocol, worker: Any, audit: Any,
                 event_of: Callable[[Any, Optional[str], dict], Any],
                 lookup: Callable[[str, Optional[str]], Optional[tuple[str, Principal]]]) -> None:
        self._protocol, self._query, self._worker, self._audit = protocol, query_protocol, worker, audit
        self._event_of, self._lookup = event_of, lookup

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn` on the database worker (what may read the store must not run on the loop)."""
        return await self._worker.run(fn, *args)

    async def principal(self, access_key_id: str, session_token: Optional[str]) -> Optional[Principal]:
        """The key's principal now (None once the key is inactive or gone, or the role
        session expired or its role was deleted)."""
        try:
            found = await self._worker.run(self._lookup, access_key_id, session_token)
        except AwsError:  # a session token that no longer works: ExpiredToken, UnrecognizedClient
            return None
        return found[1] if found is not None else None

    async def call(self, principal: Principal, access_key_id: str, region: str, target: str, request: dict,
                   source_ip: Optional[str], secure: bool) -> dict:
        """Run `target` ("AmazonSSM.GetParameter") and return its JSON result; ConsoleError
        carries the AWS error code and message."""
        outcome = await self._worker.run(self._protocol.dispatch, principal, region, target, request,
                                         access_key_id, CONSOLE_AGENT, source_ip, secure)
        await self._record(outcome, source_ip)
        body = json.loads(outcome.body) if outcome.body else {}
        if outcome.error_code is not None:
            raise ConsoleError(Failure(outcome.error_code, str(body.get("message") or body.get("Message") or "")))
        return body

    async def call_query(self, principal: Principal, access_key_id: str, region: str, service: str, action: str,
                         params: dict, source_ip: Optional[str], secure: bool) -> Any:
        """An IAM or STS action ("iam", "ListUsers") through the query protocol's dispatch;
        its result as the operation returned it (before XML)."""
        outcome = await self._worker.run(self._query.dispatch, principal, region, service, action, params,
                                         access_key_id, CONSOLE_AGENT, source_ip, secure)
        await self._record(outcome, source_ip)
        if outcome.error_code is not None:
            found = re.search(rb"<Message>(.*?)</Message>", outcome.body, re.S)
            message = html.unescape(found.group(1).decode("utf-8", "replace")) if found else ""
            raise ConsoleError(Failure(outcome.error_code, message))
        return outcome.result or {}

    async def _record(self, outcome: Outcome, source_ip: Optional[str]) -> None:
        """The audit record, unless the operation's own transaction already wrote it (as the
        HTTP layer does for a signed request)."""
        if not outcome.audited or outcome.error_code is not None:
            await self._audit.append(self._event_of(outcome, source_ip, {"user-agent": CONSOLE_AGENT}))
