"""Key tags: TagResource, UntagResource, ListResourceTags."""

from __future__ import annotations

from kms_core.context import RequestContext
from kms_core.domain.limits import MAX_TAGS_PER_KEY
from kms_core.errors import LimitExceededException, TagException
from kms_core.operations._common import decode_marker, managed_key, page_limit, paged, read, write
from kms_core.operations._resolve import resolve_own_key
from kms_core.policy.authorize import authorize, set_request_tags


def check_new_tags(existing: dict[str, str], tags: list[dict]) -> dict[str, str]:
    """Validate a TagResource/CreateKey tag list; returns the merged tag map."""
    seen: set[str] = set()
    merged = dict(existing)
    for tag in tags:
        k = tag["TagKey"]
        if k.lower().startswith("aws:"):
            raise TagException("Tags beginning with aws: are reserved and can't be set.")
        if k in seen:
            raise TagException(f"Duplicate tag keys are not allowed: {k}")
        seen.add(k)
        merged[k] = tag["TagValue"]
    if len(merged) > MAX_TAGS_PER_KEY:
        raise LimitExceededException(f"A key can have at most {MAX_TAGS_PER_KEY} tags.")
    return merged


def tag_resource(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_TagResource.html"""
    set_request_tags(ctx, {t["TagKey"]: t["TagValue"] for t in req["Tags"]})
    key = managed_key(ctx, req, "TagResource").key
    with write(ctx) as work:
        existing = {k: r.tag_value for k, r in work.tags.of_key(key.row_id).items()}
        check_new_tags(existing, req["Tags"])
        work.tags.put(key.row_id, {tag["TagKey"]: tag["TagValue"] for tag in req["Tags"]})
    return {}


def untag_resource(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UntagResource.html"""
    set_request_tags(ctx, None, req["TagKeys"])
    key = managed_key(ctx, req, "UntagResource").key
    with write(ctx) as work:
        work.tags.remove(key.row_id, req["TagKeys"])
    return {}


def list_resource_tags(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListResourceTags.html"""
    entry = resolve_own_key(ctx, req["KeyId"], "kms:ListResourceTags")
    key = entry.key
    authorize(ctx, "kms:ListResourceTags", entry)
    limit = page_limit("ListResourceTags", req.get("Limit"))
    after = decode_marker(ctx, req, "ListResourceTags", key.row_id)
    with read(ctx) as work:
        rows = work.tags.page(key.row_id, after, limit + 1)
    page = {"Tags": [{"TagKey": r.tag_key, "TagValue": r.tag_value} for r in rows[:limit]]}
    page.update(paged(ctx, "ListResourceTags", key.row_id, rows, limit, lambda r: r.tag_key))
    return page
