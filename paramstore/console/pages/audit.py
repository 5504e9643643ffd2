"""Audit pages: the trail through CloudTrail's LookupEvents (filtered by principal,
resource, event, source, access key and time range; newest first, paged), one event's
record, and a check of the whole trail's chain (VerifyAuditChain), all as the signed-in
principal: what LookupEvents lets it see is what the page shows.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Optional

from fastapi.responses import Response

from paramstore.console.backend import ConsoleError, Failure
from paramstore.console.web import Site, Visit

TRAIL = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
#: LookupEvents' attributes, as the filter offers them
ATTRIBUTES = (("Username", "Principal (user name)"), ("ResourceName", "Resource (name or ARN)"),
              ("EventName", "Event"), ("EventSource", "Service"), ("AccessKeyId", "Access key"),
              ("ReadOnly", "Read-only (true/false)"), ("EventId", "Event id"))
PAGE_SIZE = 50


def register(site: Site) -> None:
    site.page("/audit")(events)
    site.page("/audit/event")(event)
    site.page("/audit/verify", ("POST",))(verify)


def _epoch(text: str, name: str) -> Optional[float]:
    """A time from the form (datetime-local, read as UTC) or None."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConsoleError(Failure("InvalidTimeRangeException", f"{name} is not a date and time.")) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


async def events(visit: Visit) -> Response:
    attr, value = visit.arg("attr"), visit.arg("value").strip()
    start, end = visit.arg("start"), visit.arg("end")
    body: dict = {"MaxResults": PAGE_SIZE}
    if value and attr in dict(ATTRIBUTES):
        body["LookupAttributes"] = [{"AttributeKey": attr, "AttributeValue": value}]
    for field, text in (("StartTime", start), ("EndTime", end)):
        moment = _epoch(text, field)
        if moment is not None:
            body[field] = moment
    if visit.arg("next"):
        body["NextToken"] = visit.arg("next")
    out = await visit.call(TRAIL + "LookupEvents", body)
    rows = [dict(e, Record=_record(e)) for e in out.get("Events", [])]
    return visit.page("audit.html", events=rows, next_token=out.get("NextToken"), attributes=ATTRIBUTES,
                      attr=attr, value=value, start=start, end=end)


def _record(event: dict) -> dict:
    try:
        return json.loads(event.get("CloudTrailEvent") or "{}")
    except ValueError:
        return {}


async def event(visit: Visit) -> Response:
    event_id = visit.arg("id")
    out = await visit.call(TRAIL + "LookupEvents", {"LookupAttributes": [{"AttributeKey": "EventId",
                                                                          "AttributeValue": event_id}]})
    found = out.get("Events", [])
    if not found:
        raise ConsoleError(Failure("ResourceNotFoundException", f"No event {event_id} that you may see."))
    record = _record(found[0])
    return visit.page("audit_event.html", event=found[0], record=record,
                      pretty=json.dumps(record, indent=2, sort_keys=True))


async def verify(visit: Visit) -> Response:
    result = await visit.call(TRAIL + "VerifyAuditChain", {})
    if visit.htmx:
        return visit.page("fragment_verify.html", result=result)
    return visit.page("audit_verify.html", result=result)
