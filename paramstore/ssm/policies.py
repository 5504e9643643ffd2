"""Parameter policies (Advanced tier): Expiration, ExpirationNotification, NoChangeNotification.

`Policies` is a JSON array string of `{"Type", "Version", "Attributes"}` items.  They are
kept as AWS reports them (`ParameterInlinePolicy`: PolicyText, PolicyType, PolicyStatus)
plus the due times the store's sweeper acts on (paramstore/ssm/store.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from paramstore.ssm.errors import (
    IncompatiblePolicyException,
    InvalidPolicyAttributeException,
    InvalidPolicyTypeException,
    PoliciesLimitExceededException,
)

MAX_POLICIES = 10
EXPIRATION = "Expiration"
EXPIRATION_NOTIFICATION = "ExpirationNotification"
NO_CHANGE_NOTIFICATION = "NoChangeNotification"
_TYPES = (EXPIRATION, EXPIRATION_NOTIFICATION, NO_CHANGE_NOTIFICATION)
_UNIT_SECONDS = {"Days": 86_400, "Hours": 3_600}


@dataclass(frozen=True)
class ParsedPolicies:
    inline: list            # [{"PolicyText", "PolicyType", "PolicyStatus"}]
    expires_at: Optional[float]
    notice_before: Optional[float]      # seconds before expiration
    no_change_after: Optional[float]    # seconds after the last change

    def due_times(self, last_modified: float) -> tuple[Optional[float], Optional[float], Optional[float]]:
        """(expires_at, expiration_notice_at, no_change_notice_at)."""
        notice = (self.expires_at - self.notice_before
                  if self.expires_at is not None and self.notice_before is not None else None)
        no_change = last_modified + self.no_change_after if self.no_change_after is not None else None
        return self.expires_at, notice, no_change


def parse_policies(text: str, now: float) -> ParsedPolicies:
    try:
        items = json.loads(text)
    except ValueError:
        raise InvalidPolicyTypeException("The policies are not valid JSON: a JSON array of policies is expected.") from None
    if not isinstance(items, list):
        raise InvalidPolicyTypeException("The policies must be a JSON array of policies.")
    if len(items) > MAX_POLICIES:
        raise PoliciesLimitExceededException(
            f"You specified {len(items)} policies. A parameter can have at most {MAX_POLICIES} policies.")
    inline: list = []
    seen: set[str] = set()
    expires_at = notice_before = no_change_after = None
    for item in items:
        if not isinstance(item, dict) or item.get("Type") not in _TYPES:
            kind = item.get("Type") if isinstance(item, dict) else None
            raise InvalidPolicyTypeException(
                f"The following policy type is not supported: {kind!s:.64}. Supported policy types are "
                f"{', '.join(_TYPES)}.")
        kind = item["Type"]
        if kind in seen:
            raise IncompatiblePolicyException(f"A parameter can have only one {kind} policy.")
        seen.add(kind)
        if str(item.get("Version", "1.0")) != "1.0":
            raise InvalidPolicyAttributeException(f"The {kind} policy version must be 1.0.")
        attributes = item.get("Attributes")
        if not isinstance(attributes, dict):
            raise InvalidPolicyAttributeException(f"The {kind} policy needs an Attributes object.")
        if kind == EXPIRATION:
            expires_at = _timestamp(attributes)
            if expires_at <= now:
                raise InvalidPolicyAttributeException(
                    "The Expiration policy's Timestamp must be in the future.")
        elif kind == EXPIRATION_NOTIFICATION:
            notice_before = _duration(kind, attributes, "Before")
        else:
            no_change_after = _duration(kind, attributes, "After")
        inline.append({"PolicyText": json.dumps(item, separators=(",", ":")), "PolicyType": kind,
                       "PolicyStatus": "Pending"})
    if notice_before is not None and expires_at is None:
        raise IncompatiblePolicyException(
            "An ExpirationNotification policy needs an Expiration policy on the same parameter.")
    return ParsedPolicies(inline, expires_at, notice_before, no_change_after)


def _timestamp(attributes: dict) -> float:
    raw = attributes.get("Timestamp")
    if not isinstance(raw, str):
        raise InvalidPolicyAttributeException("The Expiration policy needs a Timestamp attribute.")
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidPolicyAttributeException(
            f"The Expiration policy's Timestamp {raw[:64]} is not an ISO 8601 timestamp.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _duration(kind: str, attributes: dict, field: str) -> float:
    amount, unit = attributes.get(field), attributes.get("Unit")
    if unit not in _UNIT_SECONDS:
        raise InvalidPolicyAttributeException(f"The {kind} policy's Unit must be Days or Hours.")
    try:
        n = int(str(amount))
    except ValueError:
        raise InvalidPolicyAttributeException(f"The {kind} policy's {field} must be a whole number.") from None
    if n < 1:
        raise InvalidPolicyAttributeException(f"The {kind} policy's {field} must be at least 1.")
    return n * _UNIT_SECONDS[unit]


def mark_status(policies: Optional[str], kind: str, status: str) -> Optional[str]:
    """The stored inline policies with one type's PolicyStatus changed."""
    if not policies:
        return policies
    items = json.loads(policies)
    for item in items:
        if item.get("PolicyType") == kind:
            item["PolicyStatus"] = status
    return json.dumps(items, separators=(",", ":"))
