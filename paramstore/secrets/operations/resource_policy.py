"""Resource policies: PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy,
ValidateResourcePolicy.  A secret's policy is evaluated by the same engine as KMS key
policies (paramstore/secrets/authz.py); here it is checked and stored."""

from __future__ import annotations

import json
from typing import Any

from kms_core.errors import MalformedPolicyDocumentException as KmsMalformed
from kms_core.policy.evaluate import compile_policy
from kms_core.port import authorize_account
from paramstore.secrets.authz import would_allow
from paramstore.secrets.context import SecretsContext
from paramstore.secrets.errors import MalformedPolicyDocumentException, PublicPolicyException
from paramstore.secrets.operations._common import lock_same_secret, require_secret

#: condition keys that tie a "*" principal to named accounts, organizations or sources:
#: a statement compared on one of them to literal values is not public
_NARROWING_KEYS = frozenset({
    "aws:principalaccount", "aws:principalarn", "aws:principalorgid", "aws:principalorgpaths",
    "aws:sourceaccount", "aws:sourcearn", "aws:sourceowner", "aws:sourcevpc", "aws:sourcevpce",
    "aws:userid", "aws:username", "kms:calleraccount"})
#: exact comparisons only: no wildcards (StringLike, ArnLike), no set operators (ForAllValues
#: is true when the key is missing), no IfExists (true when it is missing)
_EXACT_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "arnequals"})
_WILDCARDS = ("*", "?", "${")


def check_syntax(text: str) -> dict:
    """The policy document as a dict, or MalformedPolicyDocumentException."""
    try:
        compile_policy(text, resource_policy=True)
    except KmsMalformed as error:
        raise MalformedPolicyDocumentException(error.message) from None
    return json.loads(text)


def public_statements(document: dict) -> list[str]:
    """The Sids (or positions) of Allow statements that grant access to anyone: a "*"
    principal, or NotPrincipal, not narrowed by a condition on who or where the caller is."""
    statements = document.get("Statement")
    found = []
    for i, st in enumerate(statements if isinstance(statements, list) else [statements], 1):
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in st or _names_everyone(st.get("Principal")):
            if not _narrowed(st.get("Condition")):
                found.append(str(st.get("Sid") or f"statement {i}"))
    return found


def _names_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = principal.get("AWS")
        entries = aws if isinstance(aws, list) else [aws]
        return any(isinstance(e, str) and ("*" in e or "?" in e) for e in entries)
    return False


def _narrowed(condition: Any) -> bool:
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        if not isinstance(operator, str) or operator.lower() not in _EXACT_OPERATORS or not isinstance(block, dict):
            continue
        for key, values in block.items():
            items = values if isinstance(values, list) else [values]
            if (isinstance(key, str) and key.lower() in _NARROWING_KEYS and items
                    and all(isinstance(v, str) and v and not any(w in v for w in _WILDCARDS) for v in items)):
                return True
    return False


def _public_refusal(found: list[str]) -> PublicPolicyException:
    return PublicPolicyException("This resource policy contains a statement that grants public access "
                                 f"({', '.join(found)}).")


def put_resource_policy(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutResourcePolicy.html"""
    block = bool(req.get("BlockPublicPolicy"))
    ctx.condition_values["secretsmanager:blockpublicpolicy"] = block
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:PutResourcePolicy")
    text = req["ResourcePolicy"]
    document = check_syntax(text)
    if block and (found := public_statements(document)):
        raise _public_refusal(found)
    with ctx.secrets.write() as session:
        row = lock_same_secret(session, secret)
        row.resource_policy = text
        row.last_changed_date = ctx.now()
        session.add(row)
    return {"ARN": secret.arn, "Name": secret.name}


def get_resource_policy(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetResourcePolicy.html"""
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:GetResourcePolicy", live=False)
    out = {"ARN": secret.arn, "Name": secret.name}
    if secret.resource_policy is not None:
        out["ResourcePolicy"] = secret.resource_policy
    return out


def delete_resource_policy(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteResourcePolicy.html"""
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:DeleteResourcePolicy")
    with ctx.secrets.write() as session:
        row = lock_same_secret(session, secret)
        row.resource_policy = None
        row.last_changed_date = ctx.now()
        session.add(row)
    return {"ARN": secret.arn, "Name": secret.name}


def validate_resource_policy(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ValidateResourcePolicy.html

    Three checks, as AWS runs them: the syntax (a malformed document is an error, not a
    finding), broad (public) access, and, with a SecretId, that the policy would not lock
    the caller out of managing the secret's policy."""
    text = req["ResourcePolicy"]
    secret = None
    if "SecretId" in req:
        secret = require_secret(ctx, req["SecretId"], "secretsmanager:ValidateResourcePolicy", live=False)
        require_secret(ctx, req["SecretId"], "secretsmanager:PutResourcePolicy", live=False)
    else:
        authorize_account(ctx, "secretsmanager:ValidateResourcePolicy")
        authorize_account(ctx, "secretsmanager:PutResourcePolicy")
    document = check_syntax(text)
    errors: list[dict] = []
    found = public_statements(document)
    if found:
        errors.append({"CheckName": "BROAD_ACCESS_CHECKING",
                       "ErrorMessage": f"The policy grants public access ({', '.join(found)})."})
    if secret is not None and not would_allow(ctx, "secretsmanager:PutResourcePolicy", secret, text):
        errors.append({"CheckName": "LOCKOUT_CHECKING",
                       "ErrorMessage": "The policy would prevent you from changing the secret's resource policy."})
    return {"PolicyValidationPassed": not errors, "ValidationErrors": errors}
