"""Key tags: TagResource, UntagResource, ListResourceTags."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import select

from kms_core.context import RequestContext
from kms_core.domain.key_states import require_state
from kms_core.domain.limits import MAX_TAGS_PER_KEY
from kms_core.errors import LimitExceededException, TagException
from kms_core.operations._common import decode_marker, page_limit, paged, write
from kms_core.operations._resolve import resolve_key_id_only
from kms_core.policy.authorize import authorize, set_request_tags
from kms_core.storage.tables import KeyTagTable


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
    entry = resolve_key_id_only(ctx, req["KeyId"])
    key = entry.key
    set_request_tags(ctx, {t["TagKey"]: t["TagValue"] for t in req["Tags"]})
    authorize(ctx, "kms:TagResource", entry)
    require_state(key, "TagResource")
    with write(ctx) as session:
        rows = {r.tag_key: r for r in session.exec(select(KeyTagTable).where(KeyTagTable.key_id == key.key_id))}
        check_new_tags({k: r.tag_value for k, r in rows.items()}, req["Tags"])
        for tag in req["Tags"]:
            row = rows.get(tag["TagKey"])
            if row is None:
                session.add(KeyTagTable(key_id=key.key_id, tag_key=tag["TagKey"], tag_value=tag["TagValue"]))
            else:
                row.tag_value = tag["TagValue"]
                session.add(row)
    return {}


def untag_resource(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UntagResource.html"""
    entry = resolve_key_id_only(ctx, req["KeyId"])
    key = entry.key
    set_request_tags(ctx, None, req["TagKeys"])
    authorize(ctx, "kms:UntagResource", entry)
    require_state(key, "UntagResource")
    with write(ctx) as session:
        # SQLModel types the columns as str: to mypy, `==` on one is a bool and it has no .in_
        session.exec(delete(KeyTagTable).where(KeyTagTable.key_id == key.key_id)  # type: ignore[arg-type]  # see above
                     .where(KeyTagTable.tag_key.in_(req["TagKeys"])))  # type: ignore[attr-defined]  # see above
    return {}


def list_resource_tags(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListResourceTags.html"""
    entry = resolve_key_id_only(ctx, req["KeyId"])
    key = entry.key
    authorize(ctx, "kms:ListResourceTags", entry)
    limit = page_limit("ListResourceTags", req.get("Limit"))
    after = decode_marker(ctx, req, "ListResourceTags", key.key_id)
    with ctx.kms.db.session() as session:
        query = select(KeyTagTable).where(KeyTagTable.key_id == key.key_id)
        if after is not None:
            query = query.where(KeyTagTable.tag_key > after)
        rows = list(session.exec(query.order_by(KeyTagTable.tag_key).limit(limit + 1)))
    page = {"Tags": [{"TagKey": r.tag_key, "TagValue": r.tag_value} for r in rows[:limit]]}
    page.update(paged(ctx, "ListResourceTags", key.key_id, rows, limit, lambda r: r.tag_key))
    return page
