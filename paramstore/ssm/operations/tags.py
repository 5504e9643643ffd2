"""Parameter tags: AddTagsToResource, RemoveTagsFromResource, ListTagsForResource
(ResourceType "Parameter", ResourceId the parameter's name)."""

from __future__ import annotations

from sqlmodel import select

from kms_core.port import set_request_tags
from paramstore.ssm.context import SsmContext
from paramstore.ssm.errors import InvalidResourceId, InvalidResourceType, TooManyTagsError
from paramstore.ssm.names import canonical_of
from paramstore.ssm.operations._common import arn_of, authorize_ssm
from paramstore.ssm.storage.tables import ParameterTable, ParameterTagTable

MAX_TAGS = 50


def add_tags_to_resource(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_AddTagsToResource.html"""
    set_request_tags(ctx, {tag["Key"]: tag["Value"] for tag in req["Tags"]})
    canonical = _resource(ctx, req, "ssm:AddTagsToResource")
    with ctx.ssm.write() as session:
        param_id = _live_id(session, ctx, canonical)
        current = {t.tag_key: t for t in session.exec(select(ParameterTagTable)
                                                      .where(ParameterTagTable.parameter_id == param_id))}
        wanted = {tag["Key"]: tag["Value"] for tag in req["Tags"]}
        if len(set(current) | set(wanted)) > MAX_TAGS:
            raise TooManyTagsError(f"A parameter can have at most {MAX_TAGS} tags.")
        for key, value in wanted.items():
            row = current.get(key) or ParameterTagTable(parameter_id=param_id, tag_key=key)
            row.tag_value = value
            session.add(row)
    return {}


def remove_tags_from_resource(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_RemoveTagsFromResource.html"""
    set_request_tags(ctx, None, req["TagKeys"])
    canonical = _resource(ctx, req, "ssm:RemoveTagsFromResource")
    with ctx.ssm.write() as session:
        param_id = _live_id(session, ctx, canonical)
        for key in req["TagKeys"]:
            row = session.get(ParameterTagTable, (param_id, key))
            if row is not None:
                session.delete(row)
    return {}


def list_tags_for_resource(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ListTagsForResource.html"""
    canonical = _resource(ctx, req, "ssm:ListTagsForResource")
    with ctx.ssm.db.session() as session:
        param_id = _live_id(session, ctx, canonical)
        rows = session.exec(select(ParameterTagTable).where(ParameterTagTable.parameter_id == param_id)
                            .order_by(ParameterTagTable.tag_key)).all()
    return {"TagList": [{"Key": r.tag_key, "Value": r.tag_value} for r in rows]}


def _resource(ctx: SsmContext, req: dict, action: str) -> str:
    if req["ResourceType"] != "Parameter":
        raise InvalidResourceType(f"The resource type {req['ResourceType']} is not supported by this server; "
                                  "only Parameter resources can be tagged.")
    canonical = canonical_of(req["ResourceId"])
    authorize_ssm(ctx, action, arn_of(ctx, canonical))
    return canonical


def _live_id(session, ctx: SsmContext, canonical: str) -> int:  # type: ignore[no-untyped-def]
    row = session.exec(select(ParameterTable).where(ParameterTable.account_id == ctx.account_id)
                       .where(ParameterTable.region == ctx.region)
                       .where(ParameterTable.canonical == canonical)).first()
    if row is None or (row.expires_at is not None and ctx.now() >= row.expires_at):
        raise InvalidResourceId("The resource ID is not valid. Verify that you entered the correct ID and try again.")
    return row.id
