"""Parameter tiers: Standard (4 KB, no policies, 10,000 per account and region), Advanced
(8 KB, policies, 100,000) and Intelligent-Tiering (Standard unless the request needs
Advanced).  A parameter may move up to Advanced but never back down."""

from __future__ import annotations

from typing import Optional

from paramstore.ssm.context import SsmContext
from paramstore.ssm.errors import ParameterLimitExceeded, ValidationException

STANDARD = "Standard"
ADVANCED = "Advanced"
INTELLIGENT = "Intelligent-Tiering"
MAX_VALUE_CHARS = {STANDARD: 4096, ADVANCED: 8192}
MAX_PARAMETERS = {STANDARD: 10_000, ADVANCED: 100_000}
DEFAULT_TIER_SETTING = "/ssm/parameter-store/default-parameter-tier"


def settle(ctx: SsmContext, requested: Optional[str], previous: Optional[str], value: str, has_policies: bool,
           creating: bool) -> str:
    """The tier a put actually uses (the response's Tier)."""
    if requested is None:
        # A new parameter takes the account's default; an update keeps its tier, unless the
        # default is Intelligent-Tiering, which moves it up when it needs to (AWS: "Instead
        # of ... --tier Advanced in all the calls to update the parameters").
        default = ctx.ssm.setting(ctx.account_id, ctx.region, DEFAULT_TIER_SETTING)
        requested = INTELLIGENT if default == INTELLIGENT else previous or default or STANDARD
    if requested == INTELLIGENT:
        needs_advanced = (previous == ADVANCED or has_policies or len(value) > MAX_VALUE_CHARS[STANDARD]
                          or (creating and ctx.ssm.count_parameters(ctx.account_id, ctx.region, STANDARD)
                              >= MAX_PARAMETERS[STANDARD]))
        tier = ADVANCED if needs_advanced else STANDARD
    else:
        tier = requested
    if previous == ADVANCED and tier == STANDARD:
        raise ValidationException(
            "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the "
            "advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced "
            "parameter and recreate it as a standard parameter.")
    if tier == STANDARD and has_policies:
        raise ValidationException(
            "Parameter policies are supported only for the advanced-parameter tier. To use parameter policies, "
            "set the tier to Advanced or Intelligent-Tiering.")
    if len(value) > MAX_VALUE_CHARS[tier]:
        if tier == STANDARD:
            raise ValidationException(
                "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger "
                "parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, "
                "see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-"
                "parameters.html")
        raise ValidationException(
            "Advanced tier parameters support a maximum parameter value of 8192 characters.")
    return tier


def check_quota(count: int, tier: str) -> None:
    """Inside the write transaction, after the write, given how many `tier` parameters
    exist with it: over the quota, the transaction must not commit."""
    if count > MAX_PARAMETERS[tier]:
        raise ParameterLimitExceeded(
            f"You have exceeded the number of {tier.lower()} parameters allowed for this account and Region "
            f"({MAX_PARAMETERS[tier]}).")
