"""Secret names, ARNs, and how a SecretId (name, ARN or partial ARN) names a secret.

A secret's ARN ends in `-` and six random characters, drawn anew each time a name is
created, so a policy written for a deleted secret never covers its successor.  A SecretId
that looks like a full ARN (its name part ends in `-` + six alphanumerics) is taken as
one; otherwise an ARN is partial (no suffix).  AWS resolves the same way, with the same
catch: the partial ARN of a name that itself ends in `-xxxxxx` finds nothing."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from typing import Optional

from paramstore.secrets.errors import ValidationException

_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}\Z", re.ASCII)
_ARN = re.compile(r"arn:(aws[a-zA-Z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)\Z", re.ASCII | re.S)
_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}\Z", re.ASCII)
_SUFFIX_CHARS = string.ascii_letters + string.digits
INVALID_NAME = ("Invalid name. Must be a valid name containing alphanumeric characters, or any of the "
                "following: -/_+=.@!")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationException(INVALID_NAME)
    return name


def new_arn(region: str, account_id: str, name: str) -> str:
    suffix = "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(6))
    return f"arn:aws:secretsmanager:{region}:{account_id}:secret:{name}-{suffix}"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a SecretId points: the account and Region to look in, the name, and the full
    ARN the secret must have (None when the id was a name or a partial ARN)."""

    account_id: str
    region: str
    name: str
    arn: Optional[str]


def parse_secret_id(secret_id: str, account_id: str, region: str) -> SecretRef:
    """A name is the caller's own account's; an ARN may name another account (which is
    how a secret in another account is addressed at all)."""
    match = _ARN.match(secret_id)
    if match is None:
        return SecretRef(account_id, region, check_name(secret_id), None)
    _partition, arn_region, arn_account, tail = match.groups()
    if _SUFFIX.search(tail):
        return SecretRef(arn_account, arn_region, check_name(tail[:-7]), secret_id)
    return SecretRef(arn_account, arn_region, check_name(tail), None)
