"""The Parameter Store's envelope encryption (paramstore/ssm/envelope.py) against a fake
KMS port: which KMS call each type and tier makes, that a value is bound to its row, and
how KMS failures become SSM errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from kms_core.port import KmsAccessDenied, KmsCiphertextRejected, KmsFailed, KmsKeyGone, KmsKeyUnusable
from paramstore.ssm.envelope import SECURE_STRING, encryption_context, seal, unseal
from paramstore.ssm.errors import AccessDeniedException, InternalServerError, InvalidKeyId
from tests.fakes.kms import FakeCaller, FakeKms

ARN = "arn:aws:ssm:us-east-1:111122223333:parameter/app/db/password"
OTHER_ARN = "arn:aws:ssm:us-east-1:111122223333:parameter/app/db/other"


@pytest.fixture
def kms() -> FakeKms:
    return FakeKms()


def sealed(kms, value="hunter2", param_type=SECURE_STRING, key_id=None, tier="Standard", arn=ARN, version=1):
    return seal(kms, FakeCaller(), arn, version, param_type, key_id, value, tier)


def opened(kms, blobs, param_type=SECURE_STRING, key_id=None, arn=ARN, version=1, cache=None, caller=None):
    value_sealed, key_sealed = blobs
    return unseal(kms, caller or FakeCaller(), arn, version, param_type, key_id, value_sealed, key_sealed,
                  cache, (1, version))


# --- which KMS call -----------------------------------------------------------------------
def test_standard_secure_string_asks_for_encrypt_and_advanced_for_generate_data_key(kms):
    sealed(kms, tier="Standard")
    sealed(kms, tier="Advanced")
    assert [c[0] for c in kms.calls] == ["Encrypt", "GenerateDataKey"]


def test_secure_string_without_a_key_uses_the_default_key(kms):
    sealed(kms)
    assert kms.calls == [("Encrypt", "alias/aws/ssm")]


def test_secure_string_with_a_key_uses_it(kms):
    key = kms.add_key("1234abcd-12ab-34cd-56ef-1234567890ab")
    blobs = sealed(kms, key_id=key)
    assert kms.calls == [("Encrypt", key)]
    assert opened(kms, blobs, key_id=key) == "hunter2"


@pytest.mark.parametrize("param_type", ["String", "StringList"])
def test_plain_values_use_the_service_owned_key_not_the_callers(kms, param_type):
    blobs = sealed(kms, value="a,b", param_type=param_type)
    assert opened(kms, blobs, param_type=param_type) == "a,b"
    assert [c[0] for c in kms.calls] == ["OwnedDataKey", "OpenOwnedDataKey"]


def test_the_data_key_is_sealed_under_the_parameter_arn_as_encryption_context(kms):
    _, key_sealed = sealed(kms)
    assert encryption_context(ARN) == {"PARAMETER_ARN": ARN}
    kms.decrypt_data_key(FakeCaller(), key_sealed, {"PARAMETER_ARN": ARN})  # opens under its ARN
    with pytest.raises(KmsCiphertextRejected):
        kms.decrypt_data_key(FakeCaller(), key_sealed, {"PARAMETER_ARN": OTHER_ARN})


# --- a value is bound to its row ------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(value=st.text(max_size=200))
def test_any_value_round_trips(value):
    kms = FakeKms()
    for param_type in (SECURE_STRING, "String"):
        assert opened(kms, sealed(kms, value=value, param_type=param_type), param_type=param_type) == value


@pytest.mark.parametrize("param_type, moved", [
    (SECURE_STRING, {"arn": OTHER_ARN}), (SECURE_STRING, {"version": 2}), (SECURE_STRING, {"key_id": "alias/other"}),
    ("String", {"arn": OTHER_ARN}), ("String", {"version": 2}), ("String", {"param_type": "StringList"}),
], ids=["secure-arn", "secure-version", "secure-key-id", "string-arn", "string-version", "string-type"])
def test_a_value_moved_to_another_row_does_not_open(kms, param_type, moved):
    blobs = sealed(kms, param_type=param_type)
    where = {"arn": ARN, "version": 1, "param_type": param_type, "key_id": None, **moved}
    with pytest.raises(InternalServerError, match="integrity check"):
        opened(kms, blobs, **where)


@pytest.mark.parametrize("param_type", [SECURE_STRING, "String"])
def test_a_changed_value_does_not_open(kms, param_type):
    value_sealed, key_sealed = sealed(kms, param_type=param_type)
    flipped = value_sealed[:-1] + bytes([value_sealed[-1] ^ 1])
    with pytest.raises(InternalServerError, match="integrity check"):
        opened(kms, (flipped, key_sealed), param_type=param_type)


def test_a_changed_data_key_does_not_open(kms):
    value_sealed, key_sealed = sealed(kms)
    with pytest.raises(InternalServerError, match="integrity check"):
        opened(kms, (value_sealed, key_sealed[:-1] + bytes([key_sealed[-1] ^ 1])))


# --- the cache of opened data keys ------------------------------------------------------------
def test_a_repeat_read_checks_decrypt_without_opening_again(kms):
    blobs = sealed(kms)
    cache: dict = {}
    assert opened(kms, blobs, cache=cache) == "hunter2"
    assert opened(kms, blobs, cache=cache) == "hunter2"
    assert [c[0] for c in kms.calls] == ["Encrypt", "Decrypt", "CheckDecrypt"]


def test_a_repeat_read_is_still_refused_when_kms_refuses(kms):
    blobs = sealed(kms)
    cache: dict = {}
    opened(kms, blobs, cache=cache)
    kms.keys["alias/aws/ssm"].enabled = False
    with pytest.raises(InvalidKeyId):
        opened(kms, blobs, cache=cache)


def test_the_key_arns_touched_go_to_the_callers_resources(kms):
    caller = FakeCaller()
    opened(kms, sealed(kms), caller=caller)
    assert caller.resources == ["key:alias/aws/ssm"]


# --- KMS failures as SSM errors -----------------------------------------------------------
def test_access_denied_is_ssm_access_denied_quoting_kms(kms):
    kms.fail_next = KmsAccessDenied("AccessDeniedException", "User: x is not authorized to perform: kms:Encrypt", 400)
    with pytest.raises(AccessDeniedException) as caught:
        sealed(kms)
    assert caught.value.message == ("User: x is not authorized to perform: kms:Encrypt (Service: AWSKMS; Status Code: "
                                    "400; Error Code: AccessDeniedException; Request ID: req-0001; Proxy: null)")


@pytest.mark.parametrize("code", ["NotFoundException", "DisabledException", "KMSInvalidStateException"])
def test_an_unusable_key_is_invalid_key_id(kms, code):
    kms.fail_next = KmsKeyUnusable(code, "the key can't be used", 400)
    with pytest.raises(InvalidKeyId, match=f"Error Code: {code}"):
        sealed(kms)


def test_a_missing_key_is_invalid_key_id(kms):
    with pytest.raises(InvalidKeyId, match="NotFoundException"):
        sealed(kms, key_id="alias/none")


def test_a_deleted_key_is_invalid_key_id_not_an_integrity_failure(kms):
    key = kms.add_key("doomed")
    blobs = sealed(kms, key_id=key)
    del kms.keys[key]
    with pytest.raises(InvalidKeyId, match="no longer exists"):
        opened(kms, blobs, key_id=key)
    kms.fail_next = KmsKeyGone("InvalidCiphertextException", "", 400)
    with pytest.raises(InvalidKeyId, match="no longer exists"):
        opened(kms, blobs, key_id=key)


def test_any_other_kms_failure_is_internal_server_error(kms):
    kms.fail_next = KmsFailed("DependencyTimeoutException", "timed out", 503)
    with pytest.raises(InternalServerError, match="Status Code: 503; Error Code: DependencyTimeoutException"):
        sealed(kms)


def test_errors_never_carry_the_value(kms):
    blobs = sealed(kms, value="s3cr3t-value")
    kms.fail_next = KmsFailed("KMSInternalException", "internal", 500)
    with pytest.raises(InternalServerError) as caught:
        opened(kms, blobs)
    assert "s3cr3t-value" not in str(caught.value) and "s3cr3t-value" not in caught.value.message
