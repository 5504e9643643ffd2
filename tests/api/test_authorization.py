"""Key policies, IAM policies, STS sessions and cross-account access, through boto3 with
several principals: the account root, IAM users with identity policies, a role assumed
through STS, a user of a second account, and unknown or deactivated keys."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest
from botocore.config import Config

from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import error_of, second_account_key

OTHER_ACCOUNT = "444455556666"


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def root_statement(account: str = ACCOUNT_ID) -> dict:
    return {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}


class Identities:
    """Makes users, roles and sessions through the IAM and STS APIs, as a team would."""

    def __init__(self, server, access_key_id=None, secret=None) -> None:
        self.server = server
        kwargs = {} if access_key_id is None else {"access_key_id": access_key_id, "secret": secret}
        self.iam = server.client("iam", **kwargs)
        self.sts = server.client("sts", **kwargs)

    def user(self, identity_policy: str | None = None, name: str | None = None):
        """A new IAM user; returns (arn, kms client for it)."""
        name = name or "u-" + uuid.uuid4().hex[:10]
        arn = self.iam.create_user(UserName=name)["User"]["Arn"]
        if identity_policy is not None:
            self.iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=identity_policy)
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        return arn, self.server.client("kms", access_key_id=key["AccessKeyId"], secret=key["SecretAccessKey"]), name, key

    def role(self, name: str, trust_account: str = ACCOUNT_ID, identity_policy: str | None = None) -> str:
        trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{trust_account}:root"},
                        "Action": "sts:AssumeRole"})
        arn = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        if identity_policy is not None:
            self.iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=identity_policy)
        return arn

    def session(self, role_arn: str, name: str = "app"):
        creds = self.sts.assume_role(RoleArn=role_arn, RoleSessionName=name)["Credentials"]
        return boto3.client("kms", endpoint_url=self.server.url, region_name=REGION,
                            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"], config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture
def ids(server):
    return Identities(server)


@pytest.fixture(scope="session")
def other_account(server):
    """A second account with its own root credentials (made by the operator path)."""
    return second_account_key(server, OTHER_ACCOUNT)


def denied(call, **kwargs) -> str:
    code, message = error_of(call, **kwargs)
    assert code == "AccessDeniedException", (code, message)
    return message


# --- the seed's example policies -------------------------------------------------------
def test_seed_example_policies_behave_as_written(kms, ids):
    role_name = "EncryptionApp-" + uuid.uuid4().hex[:6]
    role_arn = ids.role(role_name)
    key_policy = policy(root_statement(), {
        "Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": role_arn},
        "Action": ["kms:DescribeKey", "kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncrypt*", "kms:Decrypt"],
        "Resource": "*"})
    key_id = kms.create_key(Policy=key_policy)["KeyMetadata"]["KeyId"]
    app = ids.session(role_arn)

    blob = app.encrypt(KeyId=key_id, Plaintext=b"data")["CiphertextBlob"]
    assert app.decrypt(CiphertextBlob=blob)["Plaintext"] == b"data"
    assert app.generate_data_key(KeyId=key_id, KeySpec="AES_256")["KeyId"].endswith(key_id)
    assert app.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id)["KeyId"].endswith(key_id)
    assert app.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id

    message = denied(app.disable_key, KeyId=key_id)
    assert message.startswith(f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_name}/app is not authorized "
                              f"to perform: kms:DisableKey on resource: arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}")
    denied(app.put_key_policy, KeyId=key_id, PolicyName="default", Policy=key_policy)
    denied(app.schedule_key_deletion, KeyId=key_id)
    denied(app.generate_data_key_without_plaintext, KeyId=key_id, KeySpec="AES_256")
    # the root keeps full control
    kms.disable_key(KeyId=key_id)
    kms.enable_key(KeyId=key_id)


# --- delegation to IAM -----------------------------------------------------------------
def test_default_key_policy_delegates_to_identity_policies(kms, ids, key_id):
    _, with_policy, _, _ = ids.user(policy(allow(["kms:Encrypt", "kms:DescribeKey"])))
    _, without, _, _ = ids.user()
    with_policy.encrypt(KeyId=key_id, Plaintext=b"x")
    message = denied(with_policy.decrypt,
                     CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"])
    assert "because no identity-based policy allows the kms:Decrypt action" in message
    denied(without.encrypt, KeyId=key_id, Plaintext=b"x")


def test_key_policy_without_delegation_ignores_identity_policies(kms, ids):
    user_arn, user, _, _ = ids.user(policy(allow("kms:*")))
    # names only the root, and not as "Enable IAM User Permissions" for everyone: a direct statement
    key_policy = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                         "Action": "kms:*", "Resource": "*",
                         "Condition": {"StringEquals": {"aws:PrincipalType": "Account"}}})
    key_id = kms.create_key(Policy=key_policy)["KeyMetadata"]["KeyId"]
    message = denied(user.encrypt, KeyId=key_id, Plaintext=b"x")
    assert user_arn in message
    kms.encrypt(KeyId=key_id, Plaintext=b"root can")


def test_iam_only_actions_need_identity_policies(ids):
    _, user, _, _ = ids.user(policy(allow(["kms:ListKeys"])))
    user.list_keys()
    denied(user.create_key)
    denied(user.generate_random, NumberOfBytes=8)
    denied(user.list_aliases)


# --- explicit deny -----------------------------------------------------------------------
def test_explicit_deny_in_key_policy_beats_allows(kms, ids):
    user_arn, user, _, _ = ids.user(policy(allow("kms:*")))
    key_policy = policy(root_statement(), {
        "Effect": "Deny", "Principal": {"AWS": user_arn}, "Action": "kms:Decrypt", "Resource": "*"})
    key_id = kms.create_key(Policy=key_policy)["KeyMetadata"]["KeyId"]
    blob = user.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    message = denied(user.decrypt, CiphertextBlob=blob)
    assert message.endswith("with an explicit deny in a resource-based policy")


def test_explicit_deny_in_identity_policy_beats_key_policy_allow(kms, ids):
    user_arn, user, _, _ = ids.user(policy(allow("kms:*"), {"Effect": "Deny", "Action": "kms:Encrypt",
                                                            "Resource": "*"}))
    key_policy = policy(root_statement(), {"Effect": "Allow", "Principal": {"AWS": user_arn},
                                           "Action": "kms:*", "Resource": "*"})
    key_id = kms.create_key(Policy=key_policy)["KeyMetadata"]["KeyId"]
    message = denied(user.encrypt, KeyId=key_id, Plaintext=b"x")
    assert message.endswith("with an explicit deny in an identity-based policy")
    user.describe_key(KeyId=key_id)


# --- conditions --------------------------------------------------------------------------
def test_encryption_context_condition(kms, ids):
    user_arn, user, _, _ = ids.user()
    key_policy = policy(root_statement(), {
        "Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": ["kms:Encrypt", "kms:Decrypt"],
        "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:app": "web"}}})
    key_id = kms.create_key(Policy=key_policy)["KeyMetadata"]["KeyId"]
    blob = user.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"app": "web"})["CiphertextBlob"]
    assert user.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "web"})["Plaintext"] == b"x"
    denied(user.encrypt, KeyId=key_id, Plaintext=b"x", EncryptionContext={"app": "batch"})
    denied(user.encrypt, KeyId=key_id, Plaintext=b"x")


def test_caller_account_and_source_ip_conditions(kms, ids):
    user_arn, user, _, _ = ids.user()
    key_policy = policy(root_statement(), {
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT_ID},
                      "IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}, {
        "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})
    key_id = kms.create_key(Policy=key_policy, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]
    blob = user.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]  # from 127.0.0.1
    denied(user.decrypt, CiphertextBlob=blob)                              # not from 10/8
    denied(kms.decrypt, CiphertextBlob=blob)                               # deny applies to the root too


# --- cross-account -----------------------------------------------------------------------
def test_cross_account_needs_key_policy_and_identity_policy(kms, server, other_account):
    akid, secret = other_account
    other_iam = Identities(server, akid, secret)
    arn_b, user_b, _, _ = other_iam.user(policy(allow(["kms:Encrypt", "kms:Decrypt"],
                                                      f"arn:aws:kms:*:{ACCOUNT_ID}:key/*")))
    _, user_b_no_iam, _, _ = other_iam.user()
    trusting = kms.create_key(Policy=policy(root_statement(), {
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
        "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}))["KeyMetadata"]["Arn"]
    untrusting = kms.create_key()["KeyMetadata"]["Arn"]

    blob = user_b.encrypt(KeyId=trusting, Plaintext=b"shared")["CiphertextBlob"]
    assert user_b.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    denied(user_b.encrypt, KeyId=untrusting, Plaintext=b"x")          # key policy doesn't trust B
    denied(user_b_no_iam.encrypt, KeyId=trusting, Plaintext=b"x")     # B's IAM doesn't allow
    # by key id alone the key isn't found from another account: cross-account needs the ARN
    code, _ = error_of(user_b.encrypt, KeyId=trusting.rsplit("/", 1)[1], Plaintext=b"x")
    assert code == "NotFoundException"


def test_cross_account_other_direction(kms, server, other_account, ids):
    akid, secret = other_account
    root_b = server.client("kms", access_key_id=akid, secret=secret)
    arn_a, user_a, _, _ = ids.user(policy(allow("kms:Encrypt", f"arn:aws:kms:*:{OTHER_ACCOUNT}:key/*")))
    key_b = root_b.create_key(Policy=policy(root_statement(OTHER_ACCOUNT), {
        "Effect": "Allow", "Principal": {"AWS": arn_a}, "Action": "kms:Encrypt", "Resource": "*"}))
    user_a.encrypt(KeyId=key_b["KeyMetadata"]["Arn"], Plaintext=b"x")
    denied(kms.describe_key, KeyId=key_b["KeyMetadata"]["Arn"])      # A's root isn't trusted by B's key


def test_key_management_is_same_account_only_whatever_the_key_policy_says(kms, server, other_account):
    """AWS marks key management "Cross-account use: No": a key policy that hands another
    account kms:* lets it use the key, never manage it (nor replicate it into the owner's
    account).  GetKeyRotationStatus is the one management read AWS allows across accounts."""
    akid, secret = other_account
    root_b = server.client("kms", access_key_id=akid, secret=secret)
    key = kms.create_key(MultiRegion=True, Origin="AWS_KMS", Policy=policy(root_statement(), {
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
        "Action": "kms:*", "Resource": "*"}))["KeyMetadata"]
    arn = key["Arn"]
    root_b.encrypt(KeyId=arn, Plaintext=b"x")                      # use: allowed
    root_b.get_key_rotation_status(KeyId=arn)                      # cross-account read: allowed
    for call, kwargs in [
        (root_b.disable_key, {}), (root_b.schedule_key_deletion, {"PendingWindowInDays": 7}),
        (root_b.update_key_description, {"Description": "mine now"}),
        (root_b.put_key_policy, {"PolicyName": "default", "Policy": policy(root_statement(OTHER_ACCOUNT))}),
        (root_b.get_key_policy, {"PolicyName": "default"}), (root_b.list_key_policies, {}),
        (root_b.tag_resource, {"Tags": [{"TagKey": "k", "TagValue": "v"}]}), (root_b.list_resource_tags, {}),
        (root_b.enable_key_rotation, {}), (root_b.rotate_key_on_demand, {}), (root_b.list_key_rotations, {}),
        (root_b.replicate_key, {"ReplicaRegion": "eu-west-3"}),
        (root_b.get_parameters_for_import, {"WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
    ]:
        denied(call, KeyId=arn, **kwargs)
    denied(root_b.create_alias, AliasName="alias/stolen", TargetKeyId=arn)
    meta = kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["Description"] == ""
    assert meta["MultiRegionConfiguration"]["ReplicaKeys"] == []
    assert kms.list_resource_tags(KeyId=arn)["Tags"] == []


# --- lockout safety and escalation -------------------------------------------------------
def test_lockout_safety_check_and_bypass(kms, ids, key_id):
    user_arn, _, _, _ = ids.user()
    locking = policy({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "kms:*", "Resource": "*"})
    code, message = error_of(kms.put_key_policy, KeyId=key_id, PolicyName="default", Policy=locking)
    assert (code, message) == ("MalformedPolicyDocumentException",
                               "The new key policy will not allow you to update the key policy in the future.")
    code, _ = error_of(kms.create_key, Policy=locking)
    assert code == "MalformedPolicyDocumentException"
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=locking, BypassPolicyLockoutSafetyCheck=True)
    denied(kms.put_key_policy, KeyId=key_id, PolicyName="default", Policy=policy(root_statement()))


def test_policy_naming_a_missing_user_is_refused(kms, key_id):
    code, message = error_of(kms.put_key_policy, KeyId=key_id, PolicyName="default", Policy=policy(
        root_statement(), {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:user/nobody-here"},
                           "Action": "kms:Encrypt", "Resource": "*"}))
    assert (code, message) == ("MalformedPolicyDocumentException",
                               "Policy contains a statement with one or more invalid principals.")


def test_encrypt_only_principal_cannot_escalate(kms, ids):
    user_arn, user, _, _ = ids.user()
    key_policy = policy(root_statement(), {"Effect": "Allow", "Principal": {"AWS": user_arn},
                                           "Action": "kms:Encrypt", "Resource": "*"})
    key_id = kms.create_key(Policy=key_policy)["KeyMetadata"]["KeyId"]
    user.encrypt(KeyId=key_id, Plaintext=b"x")
    grab = policy({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "kms:*", "Resource": "*"})
    denied(user.put_key_policy, KeyId=key_id, PolicyName="default", Policy=grab)
    denied(user.put_key_policy, KeyId=key_id, PolicyName="default", Policy=grab, BypassPolicyLockoutSafetyCheck=True)
    denied(user.create_grant, KeyId=key_id, GranteePrincipal=user_arn, Operations=["Decrypt"])


# --- credentials ---------------------------------------------------------------------------
def test_deactivated_and_unknown_access_keys_are_refused(ids, key_id):
    _, user, name, key = ids.user(policy(allow("kms:*")))
    user.encrypt(KeyId=key_id, Plaintext=b"x")
    ids.iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    code, _ = error_of(user.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "UnrecognizedClientException"
    stranger = ids.server.client("kms", access_key_id="AKIAUNKNOWNUNKNOWN00", secret="x" * 40)
    code, _ = error_of(stranger.list_keys)
    assert code == "UnrecognizedClientException"


def test_expired_session_token_is_refused(server, ids, key_id):
    role_arn = ids.role("expiring-" + uuid.uuid4().hex[:6], identity_policy=policy(allow("kms:*")))
    store = server.app.state.store
    role_name = role_arn.rsplit("/", 1)[1]
    session, token = store.kms.identities.sessions.issue(ACCOUNT_ID, role_name, "AROAEXAMPLE", "late",
                                                         expires=time.time() - 1)
    client = boto3.client("kms", endpoint_url=server.url, region_name=REGION,
                          aws_access_key_id=session.access_key_id, aws_secret_access_key=session.secret_access_key,
                          aws_session_token=token, config=Config(retries={"total_max_attempts": 1}))
    code, message = error_of(client.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "ExpiredTokenException"
    assert message == "The security token included in the request is expired"
