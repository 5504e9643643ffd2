"""Parameter tiers (paramstore.ssm.tiers), checked against aws_api.md §5.3
and §6: Standard (4096 chars, no policies, 10,000 per account+Region), Advanced (8192 chars,
policies, 100,000), Intelligent-Tiering (Standard unless the request needs Advanced), no
downgrade from Advanced to Standard.  `settle` gets a small fake store, no database."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Optional

import pytest
from hypothesis import given, strategies as st

from paramstore.ssm.errors import ParameterLimitExceeded, ValidationException
from paramstore.ssm.tiers import check_quota, settle

STANDARD, ADVANCED, INTELLIGENT = "Standard", "Advanced", "Intelligent-Tiering"
ACCOUNT, REGION = "111122223333", "eu-west-1"
DEFAULT_TIER_SETTING = "/ssm/parameter-store/default-parameter-tier"  # the SettingId AWS documents

# aws_api.md §5.3 [obs]: "Standard tier parameters support a maximum parameter value of 4096 characters.
# To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. …"
STANDARD_TOO_LARGE = ("Standard tier parameters support a maximum parameter value of 4096 characters. To create a "
                      "larger parameter value, upgrade the parameter to use the advanced-parameter tier.")


class FakeStore:
    """The two store calls settle makes: the account's default-tier setting and a tier count."""

    def __init__(self, default_tier: Optional[str] = None, standard_count: int = 0, advanced_count: int = 0):
        self.default_tier = default_tier
        self.counts = {STANDARD: standard_count, ADVANCED: advanced_count}
        self.calls: list[tuple] = []

    def setting(self, account_id: str, region: str, name: str) -> Optional[str]:
        self.calls.append(("setting", account_id, region, name))
        return self.default_tier if name == DEFAULT_TIER_SETTING else None

    def count_parameters(self, account_id: str, region: str, tier: str) -> int:
        self.calls.append(("count", account_id, region, tier))
        return self.counts[tier] if (account_id, region) == (ACCOUNT, REGION) else 0


def ctx(**store) -> SimpleNamespace:
    return SimpleNamespace(account_id=ACCOUNT, region=REGION, ssm=FakeStore(**store))


def put(requested=None, previous=None, value="v", has_policies=False, creating=None, **store) -> str:
    if creating is None:
        creating = previous is None
    return settle(ctx(**store), requested, previous, value, has_policies, creating)


# --------------------------------------------------------------------------------------------
# Explicit tiers and value sizes (characters)


def test_standard_value_of_4096_characters_fits():
    assert put(STANDARD, value="x" * 4096) == STANDARD


def test_standard_value_of_4097_characters_is_rejected_with_the_aws_message():
    with pytest.raises(ValidationException) as err:
        put(STANDARD, value="x" * 4097)
    assert err.value.message.startswith(STANDARD_TOO_LARGE)


def test_standard_limit_counts_characters_not_bytes():
    assert put(STANDARD, value="é" * 4096) == STANDARD    # 8192 bytes in UTF-8, 4096 characters
    with pytest.raises(ValidationException):
        put(STANDARD, value="é" * 4097)


def test_advanced_value_of_8192_characters_fits():
    assert put(ADVANCED, value="x" * 8192) == ADVANCED


def test_advanced_value_of_8193_characters_is_rejected():
    with pytest.raises(ValidationException) as err:
        put(ADVANCED, value="x" * 8193)
    assert "8192" in err.value.message


def test_intelligent_tiering_value_of_8193_characters_is_rejected():
    with pytest.raises(ValidationException):
        put(INTELLIGENT, value="x" * 8193)


def test_standard_with_policies_is_rejected():
    # "Policies on a Standard-tier request (explicit Tier=Standard) are rejected"
    with pytest.raises(ValidationException):
        put(STANDARD, has_policies=True)


def test_advanced_with_policies_is_accepted():
    assert put(ADVANCED, has_policies=True) == ADVANCED


# --------------------------------------------------------------------------------------------
# Upgrade allowed, downgrade never


def test_standard_parameter_can_be_upgraded_to_advanced():
    assert put(ADVANCED, previous=STANDARD, value="x" * 5000) == ADVANCED


def test_advanced_parameter_cannot_be_downgraded_to_standard():
    with pytest.raises(ValidationException):
        put(STANDARD, previous=ADVANCED)


def test_downgrade_is_rejected_even_for_a_small_value_without_policies():
    with pytest.raises(ValidationException):
        put(STANDARD, previous=ADVANCED, value="1", has_policies=False)


@pytest.mark.parametrize("requested", [None, ADVANCED, INTELLIGENT])
def test_advanced_parameter_stays_advanced(requested):
    assert put(requested, previous=ADVANCED, value="small") == ADVANCED


# --------------------------------------------------------------------------------------------
# Intelligent-Tiering: Standard unless the request needs Advanced


def test_intelligent_tiering_picks_standard_for_a_plain_small_value():
    assert put(INTELLIGENT, value="x" * 4096) == STANDARD


def test_intelligent_tiering_picks_advanced_for_a_value_over_4096():
    assert put(INTELLIGENT, value="x" * 4097) == ADVANCED


def test_intelligent_tiering_picks_advanced_for_policies():
    assert put(INTELLIGENT, has_policies=True) == ADVANCED


def test_intelligent_tiering_upgrades_an_existing_standard_parameter_when_needed():
    assert put(INTELLIGENT, previous=STANDARD, value="x" * 5000) == ADVANCED
    assert put(INTELLIGENT, previous=STANDARD, has_policies=True) == ADVANCED


def test_intelligent_tiering_keeps_an_existing_standard_parameter_standard():
    assert put(INTELLIGENT, previous=STANDARD, value="x" * 10) == STANDARD


def test_intelligent_tiering_picks_advanced_when_the_standard_quota_is_full():
    # creating the 10,001st standard parameter would exceed the 10,000 quota
    assert put(INTELLIGENT, creating=True, standard_count=10_000) == ADVANCED


def test_intelligent_tiering_picks_standard_while_one_standard_slot_is_left():
    assert put(INTELLIGENT, creating=True, standard_count=9_999) == STANDARD


def test_intelligent_tiering_counts_standard_parameters_of_the_callers_account_and_region():
    context = ctx(standard_count=10_000)
    assert settle(context, INTELLIGENT, None, "v", False, True) == ADVANCED
    assert ("count", ACCOUNT, REGION, STANDARD) in context.ssm.calls


def test_intelligent_tiering_update_does_not_need_a_free_standard_slot():
    # overwriting an existing standard parameter adds no parameter, so a full quota doesn't matter
    assert put(INTELLIGENT, previous=STANDARD, creating=False, standard_count=10_000) == STANDARD


@given(length=st.integers(1, 8192), has_policies=st.booleans(), previous=st.sampled_from([None, STANDARD, ADVANCED]),
       standard_count=st.integers(0, 20_000))
def test_intelligent_tiering_uses_standard_exactly_when_nothing_needs_advanced(length, has_policies, previous,
                                                                                standard_count):
    creating = previous is None
    needs_advanced = (length > 4096 or has_policies or previous == ADVANCED
                      or (creating and standard_count >= 10_000))
    tier = put(INTELLIGENT, previous=previous, value="x" * length, has_policies=has_policies, creating=creating,
               standard_count=standard_count)
    assert tier == (ADVANCED if needs_advanced else STANDARD)


# --------------------------------------------------------------------------------------------
# No Tier in the request: an update keeps its tier, a new parameter takes the account default


def test_new_parameter_without_tier_or_setting_is_standard():
    assert put(None, previous=None) == STANDARD


def test_new_parameter_takes_the_default_tier_setting():
    context = ctx(default_tier=ADVANCED)
    assert settle(context, None, None, "v", False, True) == ADVANCED
    assert ("setting", ACCOUNT, REGION, DEFAULT_TIER_SETTING) in context.ssm.calls


def test_default_intelligent_tiering_setting_is_evaluated():
    assert put(None, default_tier=INTELLIGENT, value="x" * 100) == STANDARD
    assert put(None, default_tier=INTELLIGENT, value="x" * 4097) == ADVANCED
    assert put(None, default_tier=INTELLIGENT, has_policies=True) == ADVANCED
    assert put(None, default_tier=INTELLIGENT, creating=True, standard_count=10_000) == ADVANCED


def test_update_without_tier_never_downgrades_to_a_standard_default():
    assert put(None, previous=ADVANCED, creating=False, default_tier=STANDARD) == ADVANCED
    assert put(None, previous=ADVANCED, creating=False, default_tier=INTELLIGENT) == ADVANCED


def test_update_without_tier_of_a_small_standard_parameter_stays_standard_under_intelligent_default():
    assert put(None, previous=STANDARD, creating=False, default_tier=INTELLIGENT, value="x" * 4096) == STANDARD


@pytest.mark.parametrize("value, has_policies", [("x" * 4097, False), ("x", True)])
def test_intelligent_default_upgrades_a_standard_parameter_on_update_without_tier(value, has_policies):
    assert put(None, previous=STANDARD, creating=False, default_tier=INTELLIGENT, value=value,
               has_policies=has_policies) == ADVANCED


def test_update_without_tier_of_a_standard_parameter_still_checks_standard_limits():
    with pytest.raises(ValidationException) as err:
        put(None, previous=STANDARD, creating=False, value="x" * 4097)
    assert err.value.message.startswith(STANDARD_TOO_LARGE)
    with pytest.raises(ValidationException):
        put(None, previous=STANDARD, creating=False, has_policies=True)


def test_default_standard_setting_rejects_a_new_too_large_value():
    with pytest.raises(ValidationException):
        put(None, default_tier=STANDARD, value="x" * 4097)


# --------------------------------------------------------------------------------------------
# Quotas: 10,000 standard and 100,000 advanced parameters per account and Region


@pytest.mark.parametrize("tier, limit", [(STANDARD, 10_000), (ADVANCED, 100_000)])
def test_quota_allows_the_last_parameter(tier, limit):
    check_quota(limit, tier)  # the count includes the parameter just written: exactly `limit` fits


@pytest.mark.parametrize("tier, limit", [(STANDARD, 10_000), (ADVANCED, 100_000)])
def test_quota_rejects_one_more_than_the_limit(tier, limit):
    with pytest.raises(ParameterLimitExceeded):
        check_quota(limit + 1, tier)
    with pytest.raises(ParameterLimitExceeded):
        check_quota(limit + 5, tier)


def test_quotas_are_per_tier():
    check_quota(10_001, ADVANCED)  # 10,001 advanced parameters are far from the advanced quota
    with pytest.raises(ParameterLimitExceeded):
        check_quota(10_001, STANDARD)


def test_empty_account_has_room():
    check_quota(1, STANDARD)
    check_quota(1, ADVANCED)
