"""Sealed pagination tokens: KMS `Marker`, SSM `NextToken`, IAM `Marker`.

A listing's next-page token carries its keyset position (the last name or id of the page)
AES-256-GCM sealed under a key derived from the root key, with the listing it belongs to
in the AAD:

    token = base64url( 0x01 || iv || AES-GCM(k_page, position, aad) )        (no padding)
    aad   = "paramstore-page-token-v1" || json([account, region, operation, bound])

`bound` is whatever else defines the listing (a KeyId, a path and its filters, a
PathPrefix), so a token only opens for the same account, Region, operation and filters
it was issued for: an edited, truncated or foreign token, or one replayed into another
listing, fails to open and the operation answers with its own error (InvalidMarkerException,
InvalidNextToken, ValidationError), never a 5xx.  Every server process derives the same
key from the root key, so a token issued by one opens in any other.  Sealing also hides
the position (a name the caller was not necessarily shown).  Cost: one AES-GCM per page.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Optional

from kms_core.crypto import DecryptionFailed, gcm_open, gcm_seal
from kms_core.crypto.root import RootKeyring

_VERSION = b"\x01"
_LABEL = b"page-token-v1"
_AAD_PREFIX = b"paramstore-page-token-v1"
#: longer than any token this server issues (the longest position is an SSM name, 2048 chars)
MAX_TOKEN_CHARS = 4096
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class PageTokens:
    """Seals and opens the pagination tokens of one store."""

    def __init__(self, root: RootKeyring) -> None:
        self._key = root.derive(_LABEL)

    def seal(self, ctx: Any, operation: str, bound: Any, position: str) -> str:
        sealed = gcm_seal(self._key, position.encode("utf-8", "surrogatepass"), _aad(ctx, operation, bound))
        return base64.urlsafe_b64encode(_VERSION + sealed).decode().rstrip("=")

    def open(self, ctx: Any, operation: str, bound: Any, token: Any) -> Optional[str]:
        """The position a token of this listing carries; None for anything else."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS or not _BASE64URL.fullmatch(token):
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        # one spelling per token: no unused low bits set in the last character
        if raw[:1] != _VERSION or base64.urlsafe_b64encode(raw).decode().rstrip("=") != token:
            return None
        try:
            return gcm_open(self._key, raw[1:], _aad(ctx, operation, bound)).decode("utf-8", "surrogatepass")
        except (DecryptionFailed, UnicodeDecodeError):
            return None


def _aad(ctx: Any, operation: str, bound: Any) -> bytes:
    scope = [ctx.account_id, ctx.region, operation, bound]
    return _AAD_PREFIX + json.dumps(scope, sort_keys=True, separators=(",", ":")).encode()


def seal_page_token(ctx: Any, operation: str, bound: Any, position: str) -> str:
    """A token for the page after `position` in this listing (`operation` as "kms:ListKeys")."""
    return ctx.kms.page_tokens.seal(ctx, operation, bound, position)


def open_page_token(ctx: Any, operation: str, bound: Any, token: Any) -> Optional[str]:
    """The position `token` carries if this server issued it for exactly this listing, else None."""
    return ctx.kms.page_tokens.open(ctx, operation, bound, token)
