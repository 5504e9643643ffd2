"""Parameter tags: AddTagsToResource, RemoveTagsFromResource, ListTagsForResource
(ResourceType "Parameter", ResourceId the parameter's name)."""

from __future__ import annotations

from kms_core.port import set_request_tags
from paramstore.ssm.context import SsmContext
from paramstore.ssm.storage.repository import Txn
from paramstore.ssm.errors import InvalidResourceId, InvalidResourceType, TooManyTagsError
from paramstore.ssm.names import canonical_of
from paramstore.ssm.operations._common import arn_of, authorize_ssm
from paramstore.ssm.storage import repository

MAX_TAGS = 50


def add_tags_to_resource(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_AddTagsToResource.html"""
    set_request_tags(ctx, {tag["Key"]: tag["Value"] for tag in req["Tags"]})
    canonical = _resource(ctx, req, "ssm:AddTagsToResource")
    with ctx.ssm.write() as session:
        param_id = _live_id(session, ctx, canonical)
        wanted = {tag["Key"]: tag["Value"] for tag in req["Tags"]}
        if not repository.put_tags(session, param_id, wanted, MAX_TAGS):
            raise TooManyTagsError(f"A parameter can have at most {MAX_TAGS} tags.")
    return {}


def remove_tags_from_resource(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_RemoveTagsFromResource.html"""
    set_request_tags(ctx, None, req["TagKeys"])
    canonical = _resource(ctx, req, "ssm:RemoveTagsFromResource")
    with ctx.ssm.write() as session:
        repository.remove_tags(session, _live_id(session, ctx, canonical), req["TagKeys"])
    return {}


def list_tags_for_resource(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ListTagsForResource.html"""
    canonical = _resource(ctx, req, "ssm:ListTagsForResource")
    with ctx.ssm.db.session() as session:
        tags = repository.tags_of(session, _live_id(session, ctx, canonical))
    return {"TagList": [{"Key": key, "Value": value} for key, value in tags.items()]}


def _resource(ctx: SsmContext, req: dict, action: str) -> str:
    if req["ResourceType"] != "Parameter":
        raise InvalidResourceType(f"The resource type {req['ResourceType']} is not supported by this server; "
                                  "only Parameter resources can be tagged.")
    canonical = canonical_of(req["ResourceId"])
    authorize_ssm(ctx, action, arn_of(ctx, canonical))
    return canonical


def _live_id(session: Txn, ctx: SsmContext, canonical: str) -> int:
    row = repository.live_parameter(session, ctx.account_id, ctx.region, canonical, ctx.now())
    if row is None:
        raise InvalidResourceId("The resource ID is not valid. Verify that you entered the correct ID and try again.")
    return row.id
