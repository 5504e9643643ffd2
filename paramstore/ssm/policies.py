"""Parameter policies (Advanced tier): Expiration, ExpirationNotification, NoChangeNotification.

`Policies` is a JSON array string of `{"Type", "Version", "Attributes"}` items.  They are
kept as AWS reports them (`ParameterInlinePolicy`: PolicyText, PolicyType, PolicyStatus)
plus the due times the store's sweeper acts on (paramstore/ssm/store.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
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
#: AWS takes Java's ISO_INSTANT or ISO_OFFSET_DATE_TIME: an extended-format date-time that
#: ends in Z or an offset (a date alone, or no zone, is refused)
_INSTANT_OR_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2}(:\d{2})?)")


@dataclass(frozen=True)
class ParsedPolicies:
    inline: list            # [{"PolicyText", "PolicyType", "PolicyStatus"}]


def parse_policies(text: str, now: float) -> ParsedPolicies:
    """Validate a Policies string.  At most one Expiration; notifications may repeat (say,
    notices 15 days and 1 day before expiry), up to 10 policies in all."""
    try:
        items = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise InvalidPolicyTypeException(
            "The policies are not valid JSON: a JSON array of policies is expected.") from None
    if not isinstance(items, list):
        raise InvalidPolicyTypeException("The policies must be a JSON array of policies.")
    if len(items) > MAX_POLICIES:
        raise PoliciesLimitExceededException(
            f"You specified {len(items)} policies. A parameter can have at most {MAX_POLICIES} policies.")
    inline: list = []
    has_expiration = has_notice = False
    for item in items:
        if not isinstance(item, dict) or item.get("Type") not in _TYPES:
            kind = item.get("Type") if isinstance(item, dict) else None
            raise InvalidPolicyTypeException(
                f"The following policy type is not supported: {kind!s:.64}. Supported policy types are "
                f"{', '.join(_TYPES)}.")
        kind = item["Type"]
        if str(item.get("Version", "1.0")) != "1.0":
            raise InvalidPolicyAttributeException(f"The {kind} policy version must be 1.0.")
        attributes = item.get("Attributes")
        if not isinstance(attributes, dict):
            raise InvalidPolicyAttributeException(f"The {kind} policy needs an Attributes object.")
        if kind == EXPIRATION:
            if has_expiration:
                raise IncompatiblePolicyException("A parameter can have only one Expiration policy.")
            has_expiration = True
            if _timestamp(attributes) <= now:
                raise InvalidPolicyAttributeException("The Expiration policy's Timestamp must be in the future.")
        elif kind == EXPIRATION_NOTIFICATION:
            has_notice = True
            _duration(kind, attributes, "Before")
        else:
            _duration(kind, attributes, "After")
        inline.append({"PolicyText": json.dumps(item, separators=(",", ":")), "PolicyType": kind,
                       "PolicyStatus": "Pending"})
    if has_notice and not has_expiration:
        raise IncompatiblePolicyException(
            "An ExpirationNotification policy needs an Expiration policy on the same parameter.")
    return ParsedPolicies(inline)


def schedule(inline: list, last_modified: float) -> tuple[Optional[float], Optional[float], Optional[float]]:
    """(expires_at, next expiration notice, next no-change notice) of pending policies."""
    expires_at = None
    for item in inline:
        if item["PolicyType"] == EXPIRATION:
            expires_at = _timestamp(json.loads(item["PolicyText"])["Attributes"])
    notices, no_change = [], []
    for item in inline:
        if item["PolicyStatus"] != "Pending":
            continue
        attributes = json.loads(item["PolicyText"])["Attributes"]
        if item["PolicyType"] == EXPIRATION_NOTIFICATION and expires_at is not None:
            notices.append(expires_at - _duration(EXPIRATION_NOTIFICATION, attributes, "Before"))
        elif item["PolicyType"] == NO_CHANGE_NOTIFICATION:
            no_change.append(last_modified + _duration(NO_CHANGE_NOTIFICATION, attributes, "After"))
    return expires_at, min(notices, default=None), min(no_change, default=None)


def rearm_no_change(inline: list) -> list:
    """A change restarts every NoChangeNotification's clock."""
    return [{**item, "PolicyStatus": "Pending"} if item["PolicyType"] == NO_CHANGE_NOTIFICATION else item
            for item in inline]


def fire_due(inline: list, last_modified: float, now: float) -> tuple[list, list[str]]:
    """Mark the notifications due by `now` Finished; returns (new inline, fired types)."""
    expires_at = schedule(inline, last_modified)[0]
    fired, out = [], []
    for item in inline:
        if item["PolicyStatus"] == "Pending" and item["PolicyType"] != EXPIRATION:
            attributes = json.loads(item["PolicyText"])["Attributes"]
            if item["PolicyType"] == EXPIRATION_NOTIFICATION:
                due = expires_at - _duration(item["PolicyType"], attributes, "Before") if expires_at else None
            else:
                due = last_modified + _duration(item["PolicyType"], attributes, "After")
            if due is not None and due <= now:
                item = {**item, "PolicyStatus": "Finished"}
                fired.append(item["PolicyType"])
        out.append(item)
    return out, fired


def _timestamp(attributes: dict) -> float:
    raw = attributes.get("Timestamp")
    if not isinstance(raw, str):
        raise InvalidPolicyAttributeException("The Expiration policy needs a Timestamp attribute.")
    parsed = None
    if _INSTANT_OR_OFFSET.fullmatch(raw):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidPolicyAttributeException(
            f"The Expiration policy's Timestamp {raw[:64]} is not an ISO 8601 instant or offset date-time "
            "(for example 2030-11-01T22:13:48Z or 2030-11-01T22:13:48+02:00).") from None
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
