"""RotateSecret and CancelRotateSecret.  The rotation itself runs in the background
(paramstore/secrets/rotation/runner.py); what a RotationLambdaARN may name is in
rotation/targets.py."""

from __future__ import annotations

import json

from paramstore.secrets import stages as labels
from paramstore.secrets.context import SecretsContext
from paramstore.secrets.errors import (
    AccessDeniedException,
    InvalidParameterException,
    InvalidRequestException,
    ResourceExistsException,
)
from kms_core.port import authorize_account
from paramstore.secrets.operations._common import lock_same_secret, require_secret
from paramstore.secrets.rotation.runner import RotationJob
from paramstore.secrets.rotation.schedule import check_rules, next_rotation
from paramstore.secrets.storage import repository
from paramstore.secrets.storage.tables import SecretVersionTable


def rotate_secret(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html"""
    immediately = req.get("RotateImmediately", True)
    values = ctx.condition_values
    values["secretsmanager:rotateimmediately"] = immediately
    values["secretsmanager:modifyrotationrules"] = "RotationRules" in req
    if "RotationLambdaARN" in req:
        values["secretsmanager:rotationlambdaarn"] = req["RotationLambdaARN"]
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:RotateSecret")
    token = req.get("ClientRequestToken")
    if token is None:
        raise InvalidParameterException("You must provide a ClientRequestToken value. We recommend a UUID-type "
                                        "value.")
    lambda_arn = req.get("RotationLambdaARN") or secret.rotation_lambda_arn
    if not lambda_arn:
        raise InvalidRequestException("No Lambda rotation function ARN is associated with this secret.")
    # the caller must be allowed to run the target, as AWS asks lambda:InvokeFunction of it
    authorize_account(ctx, "lambda:InvokeFunction", lambda_arn)
    if ctx.secrets.rotation_targets.resolve(lambda_arn, secret.account_id, secret.region) is None:
        raise AccessDeniedException("Secrets Manager cannot invoke the specified Lambda function. Ensure that the "
                                    "function policy grants access to the principal secretsmanager.amazonaws.com.")
    rules = check_rules(req["RotationRules"]) if "RotationRules" in req else (
        json.loads(secret.rotation_rules) if secret.rotation_rules else None)
    now = ctx.now()
    retry = False
    if immediately:
        ctx.audit_detail = {"versionId": token, "rotationTarget": lambda_arn}
    with ctx.secrets.write() as session:
        row = lock_same_secret(session, secret)
        before = repository.stages_of(session, row.id)
        pending = before.get(labels.PENDING)
        if immediately:
            if pending == token:
                retry = True  # the same request again: the rotation it started goes on
            elif pending is not None and pending != before.get(labels.CURRENT):
                raise InvalidRequestException("A previous rotation isn't complete. That rotation will be "
                                              "reattempted.")
            elif repository.version_of(session, row.id, token) is not None:
                raise ResourceExistsException(f"You can't use ClientRequestToken {token} because that value is "
                                              f"already in use for a version of secret {row.arn}.")
            else:
                row.version_seq += 1
                session.add(SecretVersionTable(secret_id=row.id, version_id=token, seq=row.version_seq,
                                               created_date=now))
                after = {**before, labels.PENDING: token}
                repository.replace_stages(session, row.id, before, after)
                repository.purge_deprecated(session, row, after, now)  # a placeholder counts against the quota too
        row.rotation_lambda_arn = lambda_arn
        if rules is not None:
            row.rotation_rules = json.dumps(rules, separators=(",", ":"))
            row.rotation_enabled = True
            row.next_rotation_date = next_rotation(rules, now)
        row.last_changed_date = now
        session.add(row)
    out = {"ARN": secret.arn, "Name": secret.name}
    if immediately:
        out["VersionId"] = token
        if not retry:
            ctx.secrets.rotations.submit(RotationJob(secret.account_id, secret.region, secret.name, secret.arn,
                                                     token, lambda_arn))
    return out


def cancel_rotate_secret(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CancelRotateSecret.html

    Turns automatic rotation off; the rules stay visible.  Labels stay as they are: a
    half-done rotation's AWSPENDING is the caller's to remove (UpdateSecretVersionStage)."""
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:CancelRotateSecret")
    with ctx.secrets.write() as session:
        row = lock_same_secret(session, secret)
        row.rotation_enabled = False
        row.next_rotation_date = None
        row.last_changed_date = ctx.now()
        session.add(row)
        pending = repository.stages_of(session, row.id).get(labels.PENDING)
    out = {"ARN": secret.arn, "Name": secret.name}
    if pending is not None:
        out["VersionId"] = pending
    return out
