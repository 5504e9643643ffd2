"""ARNs and identifier forms (AWS: "Key identifiers (KeyId)")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

PARTITION = "aws"
KEY_ID_RE = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})\Z")
#: a Region name this server serves: the SigV4 credential scope's Region must be one, and a
#: multi-Region key can only be replicated to one (a replica no request could reach could
#: never be managed or deleted).  32 characters: the Region columns.
REGION_NAME = re.compile(r"^(?=.{1,32}\Z)[a-z]{2}(-[a-z]+){1,3}-\d{1,2}\Z", re.ASCII)
MULTI_REGION_PREFIX = "mrk-"
#: the separator in a multi-Region key's row id: "<mrk id>.<Region>" (see `row_id_for`)
_ROW_SEPARATOR = "."
ALIAS_NAME_RE = re.compile(r"^alias/[a-zA-Z0-9/_-]+\Z")
_ARN_RE = re.compile(r"^arn:(aws[a-zA-Z-]*):kms:([a-z0-9-]*):(\d{12}):(key|alias)/(.+)\Z", re.ASCII | re.S)


def key_arn(region: str, account_id: str, key_id: str) -> str:
    return f"arn:{PARTITION}:kms:{region}:{account_id}:key/{key_id}"


def is_multi_region_id(key_id: str) -> bool:
    return key_id.startswith(MULTI_REGION_PREFIX)


def row_id_for(key_id: str, region: str) -> str:
    """The storage id of the key `key_id` in `region`.  Related multi-Region keys share
    their key id in every Region, so their rows are `<mrk id>.<Region>`; a single-Region
    key's row id is its key id.  The cache, materials, aliases, tags and grants all hang
    off the row id; the API only ever shows the key id."""
    return f"{key_id}{_ROW_SEPARATOR}{region}" if is_multi_region_id(key_id) else key_id


def key_id_of_row(row_id: str) -> str:
    """The public key id of a row id (`row_id_for` reversed)."""
    return row_id.partition(_ROW_SEPARATOR)[0]


def related_row_bounds(key_id: str) -> tuple[str, str]:
    """[low, high) bounds on row ids holding every Region's row of multi-Region key
    `key_id`: a range on the primary key, so both databases read it off the index."""
    return key_id + _ROW_SEPARATOR, key_id + chr(ord(_ROW_SEPARATOR) + 1)


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
