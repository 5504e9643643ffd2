"""Console sessions: server-side, in this process's memory, keyed by a hash of the cookie.

The browser holds only a random session id (HttpOnly, SameSite=Strict, Secure over TLS).
The session holds the access key id (and an STS session token, which is a credential the
server already knows) but never the secret access key: every request resolves the
principal again from the access key, so a key deactivated, a user deleted or a policy
changed takes effect on the next click.  Sessions end after `idle` seconds without a
request, after `absolute` seconds whatever happens, or at sign-out.  A process restart
signs everyone out; several server processes each keep their own sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Callable, Optional

IDLE_SECONDS = 15 * 60
ABSOLUTE_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000
#: sessions one access key may hold: signing in again and again evicts that key's own
#: oldest sessions, never other people's
MAX_SESSIONS_PER_KEY = 20


class SessionsFull(Exception):
    """No room for another session (nobody else's is evicted to make it)."""


@dataclass
class ConsoleSession:
    access_key_id: str
    session_token: Optional[str] = field(repr=False)
    account_id: str
    principal_arn: str
    region: str
    #: the CSRF token every state-changing request must carry
    csrf: str = field(repr=False)
    created: float = 0.0
    seen: float = 0.0

    def csrf_ok(self, token: Optional[str]) -> bool:
        return token is not None and hmac.compare_digest(self.csrf.encode(), token.encode())


class Sessions:
    def __init__(self, clock: Callable[[], float], idle: float = IDLE_SECONDS,
                 absolute: float = ABSOLUTE_SECONDS) -> None:
        self._clock = clock
        self.idle, self.absolute = idle, absolute
        self._by_hash: dict[bytes, ConsoleSession] = {}

    def open(self, access_key_id: str, session_token: Optional[str], account_id: str, principal_arn: str,
             region: str, created: Optional[float] = None) -> tuple[str, ConsoleSession]:
        """A new session; returns (the cookie value, the session).  `created`: when the
        sign-in it continues happened (a role switch keeps the absolute limit of the
        sign-in).  Raises SessionsFull when the server holds MAX_SESSIONS live sessions."""
        self._expire()
        own = sorted((k for k, s in self._by_hash.items() if s.access_key_id == access_key_id),
                     key=lambda k: self._by_hash[k].created)
        for key in own[:max(0, len(own) - MAX_SESSIONS_PER_KEY + 1)]:
            del self._by_hash[key]
        if len(self._by_hash) >= MAX_SESSIONS:
            raise SessionsFull("Too many people are signed in to this server. Try again later.")
        now = self._clock()
        cookie = secrets.token_urlsafe(32)
        session = ConsoleSession(access_key_id, session_token, account_id, principal_arn, region,
                                 secrets.token_urlsafe(32), now if created is None else created, now)
        self._by_hash[_digest(cookie)] = session
        return cookie, session

    def get(self, cookie: Optional[str]) -> Optional[ConsoleSession]:
        """The live session for a cookie (its idle timer restarts), or None."""
        if not cookie or len(cookie) > 128:
            return None
        key = _digest(cookie)
        session = self._by_hash.get(key)
        if session is None:
            return None
        now = self._clock()
        if now - session.seen > self.idle or now - session.created > self.absolute:
            del self._by_hash[key]
            return None
        session.seen = now
        return session

    def close(self, cookie: Optional[str]) -> None:
        if cookie:
            self._by_hash.pop(_digest(cookie), None)

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._by_hash.items()
                    if now - s.seen > self.idle or now - s.created > self.absolute]:
            del self._by_hash[key]


def _digest(cookie: str) -> bytes:
    return hashlib.sha256(cookie.encode()).digest()
