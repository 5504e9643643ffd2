"""Token buckets and quota names (kms_core/protocol/throttling.py), on a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kms_core.domain.errors import ThrottlingException
from kms_core.protocol.throttling import (
    CRYPTO_ECC,
    CRYPTO_RSA,
    CRYPTO_SYMMETRIC,
    Bucket,
    Charges,
    Throttle,
    default_rate,
    key_type_quota,
    kms_quota,
    parse_quotas,
)
from tests.fakes.clock import FakeClock


def test_a_bucket_holds_one_second_and_refills_at_its_rate():
    bucket = Bucket(2.0, 0.0)
    assert bucket.take(0.0) and bucket.take(0.0) and not bucket.take(0.0)
    assert not bucket.take(0.25)  # half a request refilled
    assert bucket.take(0.5)
    assert not bucket.take(0.5)


def test_a_slow_quota_still_lets_one_request_through():
    bucket = Bucket(0.1, 0.0)  # GenerateDataKeyPair RSA_4096: one in ten seconds
    assert bucket.take(0.0) and not bucket.take(5.0) and bucket.take(10.0)


@given(st.floats(min_value=0.1, max_value=1000), st.lists(st.floats(min_value=0, max_value=5), max_size=200))
def test_never_more_than_capacity_plus_what_refilled(rate, gaps):
    bucket, now, taken = Bucket(rate, 0.0), 0.0, 0
    for gap in gaps:
        now += gap
        taken += bucket.take(now)
    assert taken <= max(rate, 1.0) + rate * now + 1e-6


def test_accounts_regions_and_quotas_have_their_own_buckets():
    clock = FakeClock(100.0)
    throttle = Throttle({"kms:CreateKey": 1}, clock=clock)
    charges = Charges(throttle, "111122223333", "us-east-1", "CreateKey")
    charges.charge("kms:CreateKey")
    with pytest.raises(ThrottlingException, match="Rate exceeded"):
        charges.charge("kms:CreateKey")
    Charges(throttle, "444455556666", "us-east-1", "CreateKey").charge("kms:CreateKey")
    Charges(throttle, "111122223333", "eu-west-1", "CreateKey").charge("kms:CreateKey")
    charges.charge("kms:CreateAlias")  # another quota


def test_a_refund_gives_back_what_the_request_took():
    clock = FakeClock(100.0)
    throttle = Throttle({"ssm:reads": 1}, clock=clock)
    first = Charges(throttle, "111122223333", "us-east-1", "GetParameter")
    first.charge("ssm:reads")
    first.refund()  # moved to the database worker: charged again there
    first.charge("ssm:reads")
    with pytest.raises(ThrottlingException):
        Charges(throttle, "111122223333", "us-east-1", "GetParameter").charge("ssm:reads")


def test_the_share_divides_each_quota_among_workers():
    throttle = Throttle({"ssm:reads": 10}, share=0.5)
    assert throttle.rate("ssm:reads", "us-east-1") == 5
    assert throttle.rate("kms:CreateKey", "us-east-1") == 2.5


def test_names_no_quota_has_are_not_throttled():
    throttle = Throttle()
    charges = Charges(throttle, "111122223333", "us-east-1", "DescribeParameters")
    for _ in range(1000):
        charges.charge("ssm:DescribeParameters")


def test_key_use_charges_only_cryptographic_operations():
    clock = FakeClock(100.0)
    throttle = Throttle({CRYPTO_RSA: 1}, clock=clock)
    Charges(throttle, "1", "r", "Encrypt").key_use("RSA_2048")
    with pytest.raises(ThrottlingException):
        Charges(throttle, "1", "r", "Sign").key_use("RSA_4096")
    for _ in range(5):
        Charges(throttle, "1", "r", "DescribeKey").key_use("RSA_2048")


def test_key_types_and_operations_map_to_aws_quotas():
    assert key_type_quota("SYMMETRIC_DEFAULT") == key_type_quota("HMAC_256") == CRYPTO_SYMMETRIC
    assert key_type_quota("RSA_3072") == CRYPTO_RSA
    assert key_type_quota("ECC_NIST_P384") == key_type_quota("ECC_SECG_P256K1") == CRYPTO_ECC
    assert kms_quota("Encrypt", {}) is None  # charged once its key is known
    assert kms_quota("GenerateRandom", {}) == CRYPTO_SYMMETRIC
    assert kms_quota("GenerateDataKeyPair", {"KeyPairSpec": "RSA_4096"}) == "kms:data-key-pair/RSA_4096"
    assert kms_quota("CreateKey", {}) == "kms:CreateKey"
    assert default_rate("kms:CreateKey", "us-east-1") == 5
    assert default_rate(CRYPTO_SYMMETRIC, "us-east-1") == 50_000
    assert default_rate(CRYPTO_SYMMETRIC, "eu-north-1") == 5_500
    assert default_rate("ssm:reads", "us-east-1") == 40


@pytest.mark.parametrize("text", ["kms:NoSuch=1", "ssm:reads", "ssm:reads=0", "ssm:reads=-2", "ssm:reads=x",
                                  "ssm:reads=inf", "ssm:reads=nan"])
def test_bad_quota_settings_are_refused(text):
    with pytest.raises(ValueError, match="bad quota"):
        parse_quotas(text)


def test_quota_settings_parse():
    assert parse_quotas(" ssm:reads=5, kms:crypto-symmetric=100,,") == {"ssm:reads": 5.0,
                                                                      "kms:crypto-symmetric": 100.0}
    assert parse_quotas("") == {}


def test_secrets_manager_operations_are_charged_to_aws_quota_groups():
    from kms_core.protocol.throttling import SECRETS_QUOTAS, default_rate, parse_quotas, secrets_quota

    assert secrets_quota("PutSecretValue") == secrets_quota("UpdateSecretVersionStage") == "secretsmanager:writes"
    assert secrets_quota("RotateSecret") == secrets_quota("CancelRotateSecret") == "secretsmanager:rotation"
    assert secrets_quota("GetResourcePolicy") == "secretsmanager:resource-policies"
    assert secrets_quota("GetSecretValue") == "secretsmanager:GetSecretValue"
    assert default_rate("secretsmanager:GetSecretValue", "us-east-1") == 10_000
    for operation in ("CreateSecret", "DescribeSecret", "ListSecrets", "BatchGetSecretValue", "TagResource",
                      "DeleteSecret", "RestoreSecret", "GetRandomPassword", "ListSecretVersionIds"):
        assert secrets_quota(operation) in SECRETS_QUOTAS, operation
    assert parse_quotas("secretsmanager:writes=5") == {"secretsmanager:writes": 5.0}
