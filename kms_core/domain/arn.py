"""ARNs and identifier forms (AWS: "Key identifiers (KeyId)")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

PARTITION = "aws"
KEY_ID_RE = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})\Z")
ALIAS_NAME_RE = re.compile(r"^alias/[a-zA-Z0-9/_-]+\Z")
_ARN_RE = re.compile(r"^arn:(aws[a-zA-Z-]*):kms:([a-z0-9-]*):(\d{12}):(key|alias)/(.+)\Z", re.ASCII | re.S)


def key_arn(region: str, account_id: str, key_id: str) -> str:
    return f"arn:{PARTITION}:kms:{region}:{account_id}:key/{key_id}"


def alias_arn(region: str, account_id: str, alias_name: str) -> str:
    return f"arn:{PARTITION}:kms:{region}:{account_id}:{alias_name}"


def root_arn(account_id: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:root"


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A parsed KeyId parameter: kind is 'id', 'key-arn', 'alias' or 'alias-arn'."""

    kind: str
    value: str  # key id, or the alias name ("alias/...")
    region: Optional[str] = None
    account_id: Optional[str] = None
    partition: Optional[str] = None

    @property
    def is_alias(self) -> bool:
        return self.kind in ("alias", "alias-arn")


def parse_key_ref(text: str) -> Optional[KeyRef]:
    """Classify a KeyId; None when it is none of the four forms."""
    if text.startswith("arn:"):
        m = _ARN_RE.match(text)
        if not m:
            return None
        partition, region, account, kind, rest = m.groups()
        if kind == "key":
            return KeyRef("key-arn", rest, region, account, partition)
        return KeyRef("alias-arn", "alias/" + rest, region, account, partition)
    if text.startswith("alias/"):
        return KeyRef("alias", text)
    return KeyRef("id", text)
