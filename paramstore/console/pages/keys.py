"""KMS key pages: the Region's keys, a key's page (policy, rotation and its history,
grants, tags, state), the policy editor, and enable / disable / schedule and cancel
deletion behind a confirmation.  AWS-managed keys are shown read-only (and the API
refuses changes to them anyway: the console adds no rule of its own).
"""

from __future__ import annotations

from typing import Optional
from urllib.parse import quote

from fastapi.responses import Response

from paramstore.console.backend import ConsoleError, Failure
from paramstore.console.web import Site, Visit, number, redirect

#: the state changes the key page offers: (operation, verb, what the confirmation says)
ACTIONS = {
    "disable": ("TrentService.DisableKey", "Disable",
                "A disabled key can't encrypt or decrypt until it is enabled again. SecureString parameters "
                "encrypted under it can't be read meanwhile."),
    "enable": ("TrentService.EnableKey", "Enable", "The key can be used for cryptographic operations again."),
    "schedule-deletion": ("TrentService.ScheduleKeyDeletion", "Schedule deletion",
                          "After the waiting period the key and all its material are deleted. Data encrypted "
                          "under it can never be decrypted again. You can cancel until then."),
    "cancel-deletion": ("TrentService.CancelKeyDeletion", "Cancel deletion",
                        "The key stops waiting for deletion and stays disabled until you enable it."),
}


def register(site: Site) -> None:
    site.page("/keys")(keys)
    site.page("/key")(key)
    site.page("/key/policy", ("POST",))(put_policy)
    site.page("/key/confirm")(confirm)
    site.page("/key/action", ("POST",))(act)


async def keys(visit: Visit) -> Response:
    """KMS keys of the Region: each described (state, spec, manager) with its aliases."""
    marker = visit.arg("marker")
    listed = await visit.call("TrentService.ListKeys", {"Limit": 50, **({"Marker": marker} if marker else {})})
    aliases = await visit.call("TrentService.ListAliases", {"Limit": 100})
    rows = []
    for entry in listed.get("Keys", []):
        try:
            meta = (await visit.call("TrentService.DescribeKey", {"KeyId": entry["KeyArn"]}))["KeyMetadata"]
        except ConsoleError as exc:  # a key the principal may list but not describe
            meta = {"KeyId": entry["KeyId"], "Arn": entry["KeyArn"], "KeyState": exc.failure.code}
        rows.append(meta)
    by_key: dict[str, list[str]] = {}
    for alias in aliases.get("Aliases", []):
        if alias.get("TargetKeyId"):
            by_key.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
    return visit.page("keys.html", keys=rows, aliases=by_key,
                      next_marker=listed.get("NextMarker") if listed.get("Truncated") else None)


async def key(visit: Visit, typed_policy: Optional[str] = None, failure: Optional[Failure] = None) -> Response:
    """One key: metadata, policy (editable unless AWS-managed), rotation, grants and tags."""
    meta = (await visit.call("TrentService.DescribeKey", {"KeyId": visit.arg("id")}))["KeyMetadata"]
    arn = meta["Arn"]
    policy = await visit.call("TrentService.GetKeyPolicy", {"KeyId": arn, "PolicyName": "default"})
    tags = await visit.call("TrentService.ListResourceTags", {"KeyId": arn})
    rotation = rotations = grants = None
    if meta.get("KeySpec") == "SYMMETRIC_DEFAULT" and meta.get("Origin") == "AWS_KMS":
        rotation = await _optional(visit, "TrentService.GetKeyRotationStatus", {"KeyId": arn})
    if meta.get("KeySpec") == "SYMMETRIC_DEFAULT":
        rotations = await _optional(visit, "TrentService.ListKeyRotations", {"KeyId": arn, "Limit": 50})
    grants = await _optional(visit, "TrentService.ListGrants", {"KeyId": arn, "Limit": 50})
    return visit.page("key.html", status=400 if failure else 200, error=failure, meta=meta,
                      policy=policy.get("Policy", ""), typed_policy=typed_policy, tags=tags.get("Tags", []),
                      rotation=rotation, rotations=(rotations or {}).get("Rotations", []),
                      grants=(grants or {}).get("Grants"), read_only=meta.get("KeyManager") == "AWS",
                      actions=_actions_for(meta),
                      notice="Key policy saved." if visit.arg("saved") == "policy" and not failure else None)


async def _optional(visit: Visit, target: str, body: dict) -> Optional[dict]:
    """A part of the page the principal may not be allowed to read: left out, not an error."""
    try:
        return await visit.call(target, body)
    except ConsoleError:
        return None


def _actions_for(meta: dict) -> list[tuple[str, str]]:
    if meta.get("KeyManager") == "AWS":
        return []
    state = meta.get("KeyState")
    offered = {"Enabled": ["disable", "schedule-deletion"], "Disabled": ["enable", "schedule-deletion"],
               "PendingImport": ["schedule-deletion"], "Unavailable": ["schedule-deletion"],
               "PendingDeletion": ["cancel-deletion"], "PendingReplicaDeletion": ["cancel-deletion"]}.get(state, [])
    return [(action, ACTIONS[action][1]) for action in offered]


async def put_policy(visit: Visit) -> Response:
    """PutKeyPolicy with the text as typed: the API validates it (MalformedPolicyDocument,
    the lockout safety check) and an invalid policy changes nothing."""
    typed = visit.form.get("policy", "")
    try:
        await visit.call("TrentService.PutKeyPolicy", {"KeyId": visit.form.get("id", ""), "PolicyName": "default",
                                                       "Policy": typed})
    except ConsoleError as exc:
        return await key(visit, typed_policy=typed, failure=exc.failure)
    return redirect(f"/console/key?id={quote(visit.form.get('id', ''), safe='')}&saved=policy")


async def confirm(visit: Visit) -> Response:
    action = visit.arg("action")
    if action not in ACTIONS:
        raise ConsoleError(Failure("ValidationException", "Unknown key action."))
    meta = (await visit.call("TrentService.DescribeKey", {"KeyId": visit.arg("id")}))["KeyMetadata"]
    _, verb, detail = ACTIONS[action]
    return visit.page("confirm.html", title=f"{verb}: {meta['KeyId']}?", action="/console/key/action",
                      fields={"id": meta["Arn"], "action": action}, verb=verb, detail=detail,
                      danger=action in ("disable", "schedule-deletion"), waiting=action == "schedule-deletion",
                      back=f"/console/key?id={quote(meta['Arn'], safe='')}")


async def act(visit: Visit) -> Response:
    action, key_id = visit.form.get("action", ""), visit.form.get("id", "")
    if action not in ACTIONS:
        raise ConsoleError(Failure("ValidationException", "Unknown key action."))
    body: dict = {"KeyId": key_id}
    if action == "schedule-deletion":
        days = number(visit.form.get("days", "30"))
        if days is None:
            raise ConsoleError(Failure("ValidationException", "The waiting period is a number of days (7-30)."))
        body["PendingWindowInDays"] = days
    await visit.call(ACTIONS[action][0], body)
    return redirect(f"/console/key?id={quote(key_id, safe='')}")
