"""TagResource and UntagResource: tags belong to the secret (not to its versions)."""

from __future__ import annotations

import json

from kms_core.port import set_request_tags
from paramstore.secrets.authz import tags_of
from paramstore.secrets.context import SecretsContext
from paramstore.secrets.errors import InvalidParameterException, LimitExceededException
from paramstore.secrets.operations._common import lock_same_secret, require_secret

MAX_TAGS = 50


def tags_json(tags: list[dict]) -> str:
    return json.dumps([{"Key": t["Key"], "Value": t["Value"]} for t in tags], separators=(",", ":"))


def check_tags(tags: list[dict]) -> None:
    keys = [t["Key"] for t in tags]
    if len(set(keys)) != len(keys):
        raise InvalidParameterException("You can't use the same tag key more than once in a request.")
    if any(k.lower().startswith("aws:") for k in keys):
        raise InvalidParameterException("Tag keys beginning with aws: are reserved for AWS.")
    if len(keys) > MAX_TAGS:
        raise LimitExceededException(f"A secret can have at most {MAX_TAGS} tags.")


def tag_resource(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html"""
    wanted = req["Tags"]
    set_request_tags(ctx, {t["Key"]: t["Value"] for t in wanted})
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:TagResource")
    check_tags(wanted)
    with ctx.secrets.write() as session:
        row = lock_same_secret(session, secret)
        tags = tags_of(row)
        tags.update({t["Key"]: t["Value"] for t in wanted})
        if len(tags) > MAX_TAGS:
            raise LimitExceededException(f"A secret can have at most {MAX_TAGS} tags.")
        row.tags = tags_json([{"Key": k, "Value": v} for k, v in tags.items()])
        row.last_changed_date = ctx.now()
        session.add(row)
    return {}


def untag_resource(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UntagResource.html

    Removing a key the secret doesn't have is not an error; once tagged, a secret shows
    `Tags: []` after its last tag is removed."""
    keys = req["TagKeys"]
    set_request_tags(ctx, None, keys)
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:UntagResource")
    with ctx.secrets.write() as session:
        row = lock_same_secret(session, secret)
        tags = {k: v for k, v in tags_of(row).items() if k not in set(keys)}
        row.tags = tags_json([{"Key": k, "Value": v} for k, v in tags.items()])
        row.last_changed_date = ctx.now()
        session.add(row)
    return {}
