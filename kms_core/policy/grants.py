"""Grants: the grants on a key, matching a request against them, and grant tokens.

A grant (AWS developer guide, "Grants in AWS KMS") lets one grantee principal call a fixed
list of operations on one key, optionally only when the request's encryption context
matches a constraint.  Grants only ever allow; `decide()` consults them (through
`grants_allow`) after the key policy and identity policies have not allowed the request
and nothing denied it.

Grantee matching:
- a user, role or assumed-role ARN names exactly that principal; a role ARN also covers
  every session of that role;
- an account root ARN names the account: the root itself, and (delegation, as with a key
  policy naming the account) IAM principals of that account whose identity policies allow
  the action on the key.

Constraints (EncryptionContextEquals / EncryptionContextSubset) apply only to the operations
that take an encryption context; in a constraint the context *key* compares
case-insensitively and the value case-sensitively.

Grant tokens are opaque and self-authenticating: version | grant id | nonce | HMAC, encoded
base64url.  Storage here is strongly consistent, so a valid token is never needed to use a
grant; tokens are still checked, and a token that doesn't verify is
InvalidGrantTokenException.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from typing import Any, Iterable, Optional

from kms_core.domain.arn import root_arn
from kms_core.domain.grants import Grant, GrantSet  # noqa: F401  (the grant types, where policy code looks)
from kms_core.errors import InvalidGrantTokenException

#: every operation a grant may list (the model's enum less the post-quantum ones AWS
#: doesn't accept for any key type this server supports)
GRANT_OPERATIONS = (
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac",
    "DeriveSharedSecret", "Encapsulate", "Decapsulate",
)

#: operations that take an encryption context: the only ones EC constraints restrict
EC_OPERATIONS = frozenset({
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
})

EQUALS = "EncryptionContextEquals"
SUBSET = "EncryptionContextSubset"
SOURCE_ARN = "SourceArn"

#: condition_values slot through which CreateGrant hands the requested grant to
#: grants_allow (for the no-escalation rule); not an AWS condition key
REQUESTED_GRANT = "paramstore:requestedgrant"

GRANT_ID_RE = re.compile(r"^[0-9a-f]{64}\Z")
_ROOT_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::(\d{12}):root\Z", re.ASCII)


def grant_operation(action: str) -> Optional[str]:
    """"kms:Decrypt" -> "Decrypt"; None for actions no grant can allow."""
    if not action.lower().startswith("kms:"):
        return None
    op = action[4:]
    return op if op in GRANT_OPERATIONS else None


def grantee_matches(grantee: str, principal: Any) -> Optional[str]:
    """"direct" when the grant names the caller, "account" when it names the caller's
    account root (delegation to IAM), else None."""
    if grantee == principal.arn or (principal.source_arn is not None and grantee == principal.source_arn):
        return "direct"
    m = _ROOT_ARN.match(grantee)
    if m and m.group(1) == principal.account_id:
        return "direct" if principal.is_account_root else "account"
    return None


def _pairs(context: Optional[dict[str, str]]) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in (context or {}).items())


def context_satisfies(constraints: Optional[dict[str, Any]], context: Optional[dict[str, str]]) -> bool:
    """Whether a request encryption context meets a grant's EC constraints."""
    if not constraints:
        return True
    request = _pairs(context)
    if EQUALS in constraints and request != _pairs(constraints[EQUALS]):
        return False
    if SUBSET in constraints:
        have = set(request)
        if not all(pair in have for pair in _pairs(constraints[SUBSET])):
            return False
    return True


def constraints_hold(grant: Grant, operation: str, ctx: Any) -> bool:
    c = grant.constraints
    if not c:
        return True
    if SOURCE_ARN in c and operation != "RetireGrant":
        if (ctx.condition_values or {}).get("aws:sourcearn") != c[SOURCE_ARN]:
            return False
    if operation in EC_OPERATIONS:
        return context_satisfies(c, ctx.encryption_context)
    return True


def at_least_as_strict(child: Optional[dict[str, Any]], parent: Optional[dict[str, Any]]) -> bool:
    """Whether constraints `child` are at least as strict as `parent` (CreateGrant through
    a grant: the new grant may not loosen the grant that allowed creating it)."""
    parent = parent or {}
    child = child or {}
    if SOURCE_ARN in parent and child.get(SOURCE_ARN) != parent[SOURCE_ARN]:
        return False
    if EQUALS in parent:
        return EQUALS in child and _pairs(child[EQUALS]) == _pairs(parent[EQUALS])
    if SUBSET in parent:
        required = set(_pairs(parent[SUBSET]))
        for kind in (EQUALS, SUBSET):
            if kind in child and required <= set(_pairs(child[kind])):
                return True
        return False
    return True


def _creates_within(grant: Grant, requested: Optional[dict[str, Any]]) -> bool:
    if requested is None:  # CreateGrant without the request details: nothing to delegate
        return False
    ops = requested.get("operations") or ()
    if not set(ops) <= set(grant.operations):
        return False
    return at_least_as_strict(requested.get("constraints"), grant.constraints)


def matching_grants(ctx: Any, operation: str, grants: Iterable[Grant]) -> list[tuple[Grant, str]]:
    """Grants naming the caller (directly or via its account) that list `operation`,
    with how they matched."""
    principal = ctx.principal
    if isinstance(grants, GrantSet):
        names = [principal.arn, root_arn(principal.account_id)]
        if principal.source_arn is not None:
            names.append(principal.source_arn)
        grants = grants.for_grantees(names)
    found = []
    for grant in grants:
        if operation not in grant.operations:
            continue
        how = grantee_matches(grant.grantee_principal, principal)
        if how is not None:
            found.append((grant, how))
    return found


def grants_allow(ctx: Any, action: str, entry: Any, facts: Any) -> bool:
    """Whether some grant on the key lets the caller do `action` (called by decide())."""
    operation = grant_operation(action)
    if operation is None or operation == "RetireGrant" or not entry.grants:
        # RetireGrant in a grant lets its grantee retire that grant only: RetireGrant
        # itself checks the grant being retired (operations/grants.py)
        return False
    delegated_ok: Optional[bool] = None
    for grant, how in matching_grants(ctx, operation, entry.grants):
        if not constraints_hold(grant, operation, ctx):
            continue
        if operation == "CreateGrant" and not _creates_within(grant, ctx.condition_values.get(REQUESTED_GRANT)):
            continue
        if how == "account":
            if delegated_ok is None:
                delegated_ok = _identity_allows(ctx, action, entry, facts)
            if not delegated_ok:
                continue
        return True
    return False


def _identity_allows(ctx: Any, action: str, entry: Any, facts: Any) -> bool:
    from kms_core.policy.evaluate import Effect, evaluate_identity

    return evaluate_identity(ctx.identity_policies(), action, entry.key.arn, facts) is Effect.ALLOW


# --- grant tokens -------------------------------------------------------------------------
_TOKEN_VERSION = b"\x01"
_TOKEN_LABEL = b"grant-token-v1"
_NONCE_BYTES = 16
_MAC_BYTES = 32
_TOKEN_BYTES = 1 + 32 + _NONCE_BYTES + _MAC_BYTES
_INVALID_TOKEN = "Grant token is invalid."


def _token_mac(ctx: Any, body: bytes) -> bytes:
    return hmac.new(ctx.kms.root.derive(_TOKEN_LABEL), body, hashlib.sha256).digest()


def new_grant_token(ctx: Any, grant_id: str) -> str:
    """A fresh token naming the grant (unique per call, even for the same grant)."""
    body = _TOKEN_VERSION + bytes.fromhex(grant_id) + os.urandom(_NONCE_BYTES)
    return base64.urlsafe_b64encode(body + _token_mac(ctx, body)).decode()


def grant_id_of_token(ctx: Any, token: str) -> str:
    """The grant id a token names; InvalidGrantTokenException if it doesn't verify."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidGrantTokenException(_INVALID_TOKEN) from None
    if len(raw) != _TOKEN_BYTES or raw[:1] != _TOKEN_VERSION:
        raise InvalidGrantTokenException(_INVALID_TOKEN)
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _token_mac(ctx, body)):
        raise InvalidGrantTokenException(_INVALID_TOKEN)
    return body[1:33].hex()


def check_grant_tokens(ctx: Any, req: dict[str, Any]) -> None:
    """Validate the request's GrantTokens (every one must verify).  Grants take effect at
    once here, so valid tokens need nothing more."""
    for token in req.get("GrantTokens") or ():
        grant_id_of_token(ctx, token)
