"""STS temporary credentials as sealed, self-contained session tokens.

AssumeRole returns an access key id (ASIA...), a secret and a session token.  The token is
the session itself, AES-256-GCM sealed under a key derived from the root key:

    token = "PSTS1" || base64url( iv || AES-GCM(k_sts, json(session), aad="paramstore-sts-v1") )

so verifying a request needs no database read, a forged or edited token fails to open
(UnrecognizedClientException), and an expired one gives ExpiredTokenException.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
from dataclasses import asdict, dataclass, field
from typing import Optional

from kms_core.crypto import DecryptionFailed, gcm_open, gcm_seal
from kms_core.crypto.root import RootKeyring

PREFIX = "PSTS1"
#: the largest session token issued or accepted (session policy and tags make it grow)
MAX_TOKEN_CHARS = 8192
_AAD = b"paramstore-sts-v1"
_AKID_ALPHABET = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class Session:
    access_key_id: str
    secret_access_key: str
    account_id: str
    role_name: str
    role_id: str
    session_name: str
    expires: float
    #: when the token was issued (aws:TokenIssueTime); 0 in tokens from before it was recorded
    issued: float = 0.0
    #: session tags (they override the role's tags of the same key) and which of them pass
    #: on to a chained session
    tags: dict = field(default_factory=dict)
    transitive: list = field(default_factory=list)
    source_identity: Optional[str] = None
    #: an inline session policy (JSON text): the session may do only what it also allows
    policy: Optional[str] = None


class SessionTokens:
    def __init__(self, root: RootKeyring) -> None:
        self._key = root.derive(b"sts-session-token-v1")

    def issue(self, account_id: str, role_name: str, role_id: str, session_name: str,
              expires: float, issued: float = 0.0, tags: Optional[dict] = None,
              transitive: Optional[list] = None, source_identity: Optional[str] = None,
              policy: Optional[str] = None) -> tuple[Session, str]:
        session = Session(
            access_key_id="ASIA" + "".join(secrets.choice(_AKID_ALPHABET) for _ in range(16)),
            secret_access_key=base64.b64encode(secrets.token_bytes(30)).decode(),
            account_id=account_id, role_name=role_name, role_id=role_id, session_name=session_name,
            expires=expires, issued=issued, tags=dict(tags or {}), transitive=list(transitive or []),
            source_identity=source_identity, policy=policy)
        sealed = gcm_seal(self._key, json.dumps(asdict(session)).encode(), _AAD)
        return session, PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, token: str) -> Optional[Session]:
        """The session a token carries, or None if it is not a token of ours."""
        if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_CHARS:
            return None
        body = token[len(PREFIX):]
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            data = json.loads(gcm_open(self._key, sealed, _AAD))
            return Session(**data)
        except (binascii.Error, ValueError, TypeError, DecryptionFailed):
            return None
