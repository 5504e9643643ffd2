"""docs/authorization.md is the authorization contract; this file holds the server to it.

The table has one row per check an operation makes: (operation, action, resource).  For
every served operation the test builds the resources it needs as the account root, then
calls it as an IAM user whose only policy is built from the operation's rows:

- Allow on exactly the rows' actions and resources: the call succeeds, so the operation
  checks nothing the table does not list;
- the same plus an explicit Deny of one row's action on its resource: AccessDenied, so the
  row really is checked;
- the rows with one row's resource swapped for a sibling (another key, alias, parameter,
  user or role of the same account): AccessDenied, so the check is on that resource.

Another test fails when an operation is served but has no row, or has a row but is not
served.  Runs against the live server on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kms_core.identity import iam_operations, sts_operations
from kms_core.targets import HANDLERS as KMS_HANDLERS
from paramstore.ssm.targets import HANDLERS as SSM_HANDLERS
from paramstore.trail.targets import HANDLERS as TRAIL_HANDLERS, TARGET_PREFIX as TRAIL_PREFIX
from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import wrap_key_material

TABLE = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"
SERVICES = ("KMS", "SSM", "IAM", "STS", "CloudTrail")
DENIED = {"AccessDeniedException", "AccessDenied"}


# --- the table ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    service: str
    operation: str
    action: str
    resource: str
    when: str


def load_table() -> list[Row]:
    rows: list[Row] = []
    service = None
    for line in TABLE.read_text().splitlines():
        heading = re.match(r"^## (\w+)\s*$", line)
        if heading:
            service = heading.group(1) if heading.group(1) in SERVICES else None
            continue
        if service is None or not line.startswith("|"):
            continue
        cells = [c.strip().strip("`").strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("Operation", "") or set(cells[0]) <= {"-", ":", " "}:
            continue
        rows.append(Row(service, cells[0], cells[1], cells[2], cells[3]))
    return rows


ROWS = load_table()
SERVED = {"KMS": set(KMS_HANDLERS), "SSM": set(SSM_HANDLERS), "IAM": set(iam_operations.OPERATIONS),
          "STS": set(sts_operations.OPERATIONS), "CloudTrail": set(TRAIL_HANDLERS)}
#: operations that need no permission at all (their row's action is "-")
NO_PERMISSION = {("STS", "GetCallerIdentity")}


def rows_of(service: str, operation: str, when: str = "always") -> list[Row]:
    """The checks one kind of request makes: the operation's `always` rows, plus those
    of the variant (`Tags`, `SecureString Standard`, ...)."""
    return [r for r in ROWS if r.service == service and r.operation == operation and r.when in ("always", when)]


def test_every_served_operation_has_rows_and_every_row_is_served():
    in_table = {(r.service, r.operation) for r in ROWS}
    served = {(s, op) for s, ops in SERVED.items() for op in ops}
    assert served - in_table == set(), "served but missing from docs/authorization.md"
    assert in_table - served == set(), "in docs/authorization.md but not served"


def test_every_operation_and_variant_has_a_scenario():
    wanted = {(r.service, r.operation, r.when) for r in ROWS} - {(s, o, "always") for s, o in NO_PERMISSION}
    assert wanted - set(SCENARIOS) == set()


# --- the world each call needs ------------------------------------------------------------------
def uid() -> str:
    return uuid.uuid4().hex[:10]


def key_arn(key_id: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"


def alias_arn(name: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{name}"


def parameter_arn(name: str) -> str:
    return f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/{name.lstrip('/')}"


def user_arn(name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user{path}{name}"


def role_arn(name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role{path}{name}"


SIBLINGS: dict[str, Callable[[], str]] = {
    "key": lambda: key_arn(str(uuid.uuid4())),
    "key (target)": lambda: key_arn(str(uuid.uuid4())),
    "key (replica)": lambda: f"arn:aws:kms:{REPLICA_REGION}:{ACCOUNT_ID}:key/mrk-{uuid.uuid4().hex}",
    "alias": lambda: alias_arn("alias/sibling-" + uid()),
    "parameter": lambda: parameter_arn("/sibling/" + uid()),
    "parameter (path)": lambda: parameter_arn("/sibling/" + uid()),
    "user": lambda: user_arn("sibling-" + uid(), "/authz-team/"),
    "role": lambda: role_arn("sibling-" + uid(), "/authz-team/"),
    "servicesetting": lambda: f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:servicesetting/ssm/sibling-{uid()}",
}


@dataclass
class World:
    """Root clients for setting up, and the resources a scenario made (token -> ARN)."""

    server: Any
    kms: Any
    ssm: Any
    iam: Any
    sts: Any
    resources: dict = field(default_factory=dict)

    def key(self, token: str = "key", **kwargs: Any) -> str:
        key_id = self.kms.create_key(**kwargs)["KeyMetadata"]["KeyId"]
        self.resources[token] = key_arn(key_id)
        return key_id

    def parameter(self, token: str = "parameter", name: str | None = None) -> str:
        name = name or f"/authz/{uid()}/p"
        self.ssm.put_parameter(Name=name, Value="value", Type="String")
        self.resources[token] = parameter_arn(name)
        return name

    def user(self, path: str = "/authz-team/") -> str:
        name = "target-" + uid()
        self.iam.create_user(UserName=name, Path=path)
        self.resources["user"] = user_arn(name, path)
        return name

    def role(self, path: str = "/authz-team/") -> str:
        name = "target-" + uid()
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]}]})
        self.iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=trust)
        self.resources["role"] = role_arn(name, path)
        return name


Call = Callable[[Any], Any]   # the call, given the caller's client for the operation's service


def _peer_public_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _trust() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}]})


def _key_policy() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "kms:*", "Resource": "*"}]})


# --- one scenario per operation: setup(world) -> call ----------------------------------------------
def kms_simple(method: str, key_kwargs: dict | None = None, **call_kwargs: Any):
    def setup(w: World) -> Call:
        key_id = w.key(**(key_kwargs or {}))
        return lambda c: getattr(c, method)(KeyId=key_arn(key_id), **call_kwargs)
    return setup


def s_cancel_deletion(w: World) -> Call:
    key_id = w.key()
    w.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    return lambda c: c.cancel_key_deletion(KeyId=key_id)


def s_enable_key(w: World) -> Call:
    key_id = w.key()
    w.kms.disable_key(KeyId=key_id)
    return lambda c: c.enable_key(KeyId=key_id)


def s_decrypt(w: World) -> Call:
    key_id = w.key()
    blob = w.kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    return lambda c: c.decrypt(CiphertextBlob=blob, KeyId=key_arn(key_id))


def s_re_encrypt(w: World) -> Call:
    source = w.key()
    target = w.key("key (target)")
    blob = w.kms.encrypt(KeyId=source, Plaintext=b"x")["CiphertextBlob"]
    return lambda c: c.re_encrypt(CiphertextBlob=blob, SourceKeyId=key_arn(source), DestinationKeyId=key_arn(target))


_SIGN = {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}
_HMAC = {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}


def s_verify(w: World) -> Call:
    key_id = w.key(**_SIGN)
    sig = w.kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    return lambda c: c.verify(KeyId=key_id, Message=b"m", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")


def s_verify_mac(w: World) -> Call:
    key_id = w.key(**_HMAC)
    mac = w.kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    return lambda c: c.verify_mac(KeyId=key_id, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")


def s_derive(w: World) -> Call:
    key_id = w.key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")
    peer = _peer_public_key()
    return lambda c: c.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=peer)


def s_create_alias(w: World) -> Call:
    key_id = w.key()
    name = "alias/authz-" + uid()
    w.resources["alias"] = alias_arn(name)
    return lambda c: c.create_alias(AliasName=name, TargetKeyId=key_id)


def s_update_alias(w: World) -> Call:
    old = w.key()
    new = w.key("key (target)")
    name = "alias/authz-" + uid()
    w.kms.create_alias(AliasName=name, TargetKeyId=old)
    w.resources["alias"] = alias_arn(name)
    return lambda c: c.update_alias(AliasName=name, TargetKeyId=new)


def s_delete_alias(w: World) -> Call:
    key_id = w.key()
    name = "alias/authz-" + uid()
    w.kms.create_alias(AliasName=name, TargetKeyId=key_id)
    w.resources["alias"] = alias_arn(name)
    return lambda c: c.delete_alias(AliasName=name)


def s_untag(w: World) -> Call:
    key_id = w.key(Tags=[{"TagKey": "a", "TagValue": "b"}])
    return lambda c: c.untag_resource(KeyId=key_id, TagKeys=["a"])


def s_disable_rotation(w: World) -> Call:
    key_id = w.key()
    w.kms.enable_key_rotation(KeyId=key_id)
    return lambda c: c.disable_key_rotation(KeyId=key_id)


def s_grant_setup(w: World) -> tuple[str, str, str]:
    key_id = w.key()
    grantee = w.iam.create_user(UserName="grantee-" + uid())["User"]["Arn"]
    grant_id = w.kms.create_grant(KeyId=key_id, GranteePrincipal=grantee, Operations=["Decrypt"])["GrantId"]
    return key_id, grantee, grant_id


def s_create_grant(w: World) -> Call:
    key_id = w.key()
    grantee = w.iam.create_user(UserName="grantee-" + uid())["User"]["Arn"]
    return lambda c: c.create_grant(KeyId=key_id, GranteePrincipal=grantee, Operations=["Decrypt"])


def s_list_grants(w: World) -> Call:
    key_id, _, _ = s_grant_setup(w)
    return lambda c: c.list_grants(KeyId=key_arn(key_id))


def s_revoke_grant(w: World) -> Call:
    key_id, _, grant_id = s_grant_setup(w)
    return lambda c: c.revoke_grant(KeyId=key_arn(key_id), GrantId=grant_id)


def s_retire_grant(w: World) -> Call:
    key_id, _, grant_id = s_grant_setup(w)
    return lambda c: c.retire_grant(KeyId=key_arn(key_id), GrantId=grant_id)


def s_retirable(w: World) -> Call:
    grantee = w.iam.create_user(UserName="retiring-" + uid())["User"]["Arn"]
    return lambda c: c.list_retirable_grants(RetiringPrincipal=grantee)


def s_put_key_policy(w: World) -> Call:
    key_id = w.key()
    return lambda c: c.put_key_policy(KeyId=key_id, PolicyName="default", Policy=_key_policy())


def s_import_params(w: World) -> Call:
    key_id = w.key(Origin="EXTERNAL")
    return lambda c: c.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                 WrappingKeySpec="RSA_2048")


def s_import(w: World) -> Call:
    key_id = w.key(Origin="EXTERNAL")
    params = w.kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                             WrappingKeySpec="RSA_2048")
    wrapped = wrap_key_material(params["PublicKey"], b"\x01" * 32, "RSAES_OAEP_SHA_256")
    return lambda c: c.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                           EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")


def s_delete_imported(w: World) -> Call:
    key_id = w.key(Origin="EXTERNAL")
    params = w.kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                             WrappingKeySpec="RSA_2048")
    wrapped = wrap_key_material(params["PublicKey"], b"\x02" * 32, "RSAES_OAEP_SHA_256")
    w.kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                              ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    return lambda c: c.delete_imported_key_material(KeyId=key_id)


#: where the multi-Region scenarios put their replica
REPLICA_REGION = "eu-north-1"


def s_replicate_key(w: World, tags: bool = False) -> Call:
    key_id = w.key(MultiRegion=True)
    extra = {"Tags": [{"TagKey": "a", "TagValue": "b"}]} if tags else {}
    return lambda c: c.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA_REGION, **extra)


def s_update_primary_region(w: World) -> Call:
    key_id = w.key(MultiRegion=True)
    replica = w.kms.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA_REGION)["ReplicaKeyMetadata"]
    w.resources["key (replica)"] = replica["Arn"]
    return lambda c: c.update_primary_region(KeyId=key_id, PrimaryRegion=REPLICA_REGION)


def account_wide(call: Call) -> Callable[[World], Call]:
    return lambda w: call


def ssm_simple(method: str, name_arg: str = "Name", **kwargs: Any):
    def setup(w: World) -> Call:
        name = w.parameter()
        return lambda c: getattr(c, method)(**{name_arg: name}, **kwargs)
    return setup


def s_put_parameter(w: World) -> Call:
    name = f"/authz/{uid()}/new"
    w.resources["parameter"] = parameter_arn(name)
    return lambda c: c.put_parameter(Name=name, Value="v", Type="String")


def s_get_parameters(w: World) -> Call:
    name = w.parameter()

    def call(c: Any) -> Any:
        out = c.get_parameters(Names=[name])
        if out["InvalidParameters"]:  # GetParameters reports a refused name as invalid, not an error
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "refused"}}, "GetParameters")
        return out
    return call


def s_delete_parameters(w: World) -> Call:
    name = w.parameter()

    def call(c: Any) -> Any:
        out = c.delete_parameters(Names=[name])
        if not out["DeletedParameters"]:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "refused"}}, "DeleteParameters")
        return out
    return call


def s_by_path(w: World) -> Call:
    base = f"/authz/{uid()}"
    w.parameter(name=f"{base}/p")
    w.resources["parameter (path)"] = parameter_arn(base)
    return lambda c: c.get_parameters_by_path(Path=base)


def s_unlabel(w: World) -> Call:
    name = w.parameter()
    w.ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["l1"])
    return lambda c: c.unlabel_parameter_version(Name=name, ParameterVersion=1, Labels=["l1"])


def s_remove_tags(w: World) -> Call:
    name = w.parameter()
    w.ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=[{"Key": "a", "Value": "b"}])
    return lambda c: c.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=["a"])


_TIER = "/ssm/parameter-store/default-parameter-tier"


def setting(method: str, **kwargs: Any):
    def setup(w: World) -> Call:
        w.resources["servicesetting"] = f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:servicesetting{_TIER}"
        return lambda c: getattr(c, method)(SettingId=_TIER, **kwargs)
    return setup


def iam_user_op(method: str, with_policy: bool = False, with_key: bool = False, **kwargs: Any):
    def setup(w: World) -> Call:
        name = w.user()
        extra = dict(kwargs)
        if with_policy:
            w.iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=_key_policy_identity())
        if with_key:
            extra["AccessKeyId"] = w.iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
        return lambda c: getattr(c, method)(UserName=name, **extra)
    return setup


def iam_role_op(method: str, with_policy: bool = False, **kwargs: Any):
    def setup(w: World) -> Call:
        name = w.role()
        if with_policy:
            w.iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=_key_policy_identity())
        return lambda c: getattr(c, method)(RoleName=name, **kwargs)
    return setup


def _key_policy_identity() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]})


def s_create_user(w: World) -> Call:
    name = "new-" + uid()
    w.resources["user"] = user_arn(name, "/authz-team/")
    return lambda c: c.create_user(UserName=name, Path="/authz-team/")


def s_create_role(w: World) -> Call:
    name = "new-" + uid()
    w.resources["role"] = role_arn(name, "/authz-team/")
    return lambda c: c.create_role(RoleName=name, Path="/authz-team/", AssumeRolePolicyDocument=_trust())


def s_assume_role(w: World) -> Call:
    name = w.role()
    arn = role_arn(name, "/authz-team/")
    return lambda c: c.assume_role(RoleArn=arn, RoleSessionName="session")


_BASE: dict[tuple[str, str], tuple[str, Callable[[World], Call]]] = {
    ("KMS", "CreateKey"): ("kms", account_wide(lambda c: c.create_key())),
    ("KMS", "DescribeKey"): ("kms", kms_simple("describe_key")),
    ("KMS", "ListKeys"): ("kms", account_wide(lambda c: c.list_keys())),
    ("KMS", "UpdateKeyDescription"): ("kms", kms_simple("update_key_description", Description="d")),
    ("KMS", "EnableKey"): ("kms", s_enable_key),
    ("KMS", "DisableKey"): ("kms", kms_simple("disable_key")),
    ("KMS", "ScheduleKeyDeletion"): ("kms", kms_simple("schedule_key_deletion", PendingWindowInDays=7)),
    ("KMS", "CancelKeyDeletion"): ("kms", s_cancel_deletion),
    ("KMS", "Encrypt"): ("kms", kms_simple("encrypt", Plaintext=b"x")),
    ("KMS", "Decrypt"): ("kms", s_decrypt),
    ("KMS", "ReEncrypt"): ("kms", s_re_encrypt),
    ("KMS", "GenerateDataKey"): ("kms", kms_simple("generate_data_key", KeySpec="AES_256")),
    ("KMS", "GenerateDataKeyWithoutPlaintext"): ("kms", kms_simple("generate_data_key_without_plaintext",
                                                                   KeySpec="AES_256")),
    ("KMS", "GenerateRandom"): ("kms", account_wide(lambda c: c.generate_random(NumberOfBytes=8))),
    ("KMS", "Sign"): ("kms", kms_simple("sign", _SIGN, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")),
    ("KMS", "Verify"): ("kms", s_verify),
    ("KMS", "GetPublicKey"): ("kms", kms_simple("get_public_key", _SIGN)),
    ("KMS", "GenerateMac"): ("kms", kms_simple("generate_mac", _HMAC, Message=b"m", MacAlgorithm="HMAC_SHA_256")),
    ("KMS", "VerifyMac"): ("kms", s_verify_mac),
    ("KMS", "DeriveSharedSecret"): ("kms", s_derive),
    ("KMS", "GenerateDataKeyPair"): ("kms", kms_simple("generate_data_key_pair", KeyPairSpec="ECC_NIST_P256")),
    ("KMS", "GenerateDataKeyPairWithoutPlaintext"): ("kms", kms_simple("generate_data_key_pair_without_plaintext",
                                                                       KeyPairSpec="ECC_NIST_P256")),
    ("KMS", "CreateAlias"): ("kms", s_create_alias),
    ("KMS", "UpdateAlias"): ("kms", s_update_alias),
    ("KMS", "DeleteAlias"): ("kms", s_delete_alias),
    ("KMS", "ListAliases"): ("kms", account_wide(lambda c: c.list_aliases())),
    ("KMS", "TagResource"): ("kms", kms_simple("tag_resource", Tags=[{"TagKey": "a", "TagValue": "b"}])),
    ("KMS", "UntagResource"): ("kms", s_untag),
    ("KMS", "ListResourceTags"): ("kms", kms_simple("list_resource_tags")),
    ("KMS", "EnableKeyRotation"): ("kms", kms_simple("enable_key_rotation")),
    ("KMS", "DisableKeyRotation"): ("kms", s_disable_rotation),
    ("KMS", "GetKeyRotationStatus"): ("kms", kms_simple("get_key_rotation_status")),
    ("KMS", "RotateKeyOnDemand"): ("kms", kms_simple("rotate_key_on_demand")),
    ("KMS", "ListKeyRotations"): ("kms", kms_simple("list_key_rotations")),
    ("KMS", "GetKeyPolicy"): ("kms", kms_simple("get_key_policy", PolicyName="default")),
    ("KMS", "PutKeyPolicy"): ("kms", s_put_key_policy),
    ("KMS", "ListKeyPolicies"): ("kms", kms_simple("list_key_policies")),
    ("KMS", "CreateGrant"): ("kms", s_create_grant),
    ("KMS", "ListGrants"): ("kms", s_list_grants),
    ("KMS", "ListRetirableGrants"): ("kms", s_retirable),
    ("KMS", "RetireGrant"): ("kms", s_retire_grant),
    ("KMS", "RevokeGrant"): ("kms", s_revoke_grant),
    ("KMS", "GetParametersForImport"): ("kms", s_import_params),
    ("KMS", "ImportKeyMaterial"): ("kms", s_import),
    ("KMS", "DeleteImportedKeyMaterial"): ("kms", s_delete_imported),
    ("KMS", "ReplicateKey"): ("kms", s_replicate_key),
    ("KMS", "UpdatePrimaryRegion"): ("kms", s_update_primary_region),

    ("SSM", "PutParameter"): ("ssm", s_put_parameter),
    ("SSM", "GetParameter"): ("ssm", ssm_simple("get_parameter")),
    ("SSM", "GetParameters"): ("ssm", s_get_parameters),
    ("SSM", "GetParameterHistory"): ("ssm", ssm_simple("get_parameter_history")),
    ("SSM", "DeleteParameter"): ("ssm", ssm_simple("delete_parameter")),
    ("SSM", "DeleteParameters"): ("ssm", s_delete_parameters),
    ("SSM", "GetParametersByPath"): ("ssm", s_by_path),
    ("SSM", "DescribeParameters"): ("ssm", account_wide(lambda c: c.describe_parameters(MaxResults=1))),
    ("SSM", "LabelParameterVersion"): ("ssm", ssm_simple("label_parameter_version", ParameterVersion=1,
                                                         Labels=["l1"])),
    ("SSM", "UnlabelParameterVersion"): ("ssm", s_unlabel),
    ("SSM", "AddTagsToResource"): ("ssm", ssm_simple("add_tags_to_resource", "ResourceId", ResourceType="Parameter",
                                                     Tags=[{"Key": "a", "Value": "b"}])),
    ("SSM", "RemoveTagsFromResource"): ("ssm", s_remove_tags),
    ("SSM", "ListTagsForResource"): ("ssm", ssm_simple("list_tags_for_resource", "ResourceId",
                                                       ResourceType="Parameter")),
    ("SSM", "GetServiceSetting"): ("ssm", setting("get_service_setting")),
    ("SSM", "UpdateServiceSetting"): ("ssm", setting("update_service_setting", SettingValue="Standard")),
    ("SSM", "ResetServiceSetting"): ("ssm", setting("reset_service_setting")),

    ("IAM", "CreateUser"): ("iam", s_create_user),
    ("IAM", "GetUser"): ("iam", iam_user_op("get_user")),
    ("IAM", "ListUsers"): ("iam", account_wide(lambda c: c.list_users())),
    ("IAM", "DeleteUser"): ("iam", iam_user_op("delete_user")),
    ("IAM", "CreateRole"): ("iam", s_create_role),
    ("IAM", "GetRole"): ("iam", iam_role_op("get_role")),
    ("IAM", "ListRoles"): ("iam", account_wide(lambda c: c.list_roles())),
    ("IAM", "DeleteRole"): ("iam", iam_role_op("delete_role")),
    ("IAM", "UpdateAssumeRolePolicy"): ("iam", iam_role_op("update_assume_role_policy", PolicyDocument=_trust())),
    ("IAM", "CreateAccessKey"): ("iam", iam_user_op("create_access_key")),
    ("IAM", "ListAccessKeys"): ("iam", iam_user_op("list_access_keys")),
    ("IAM", "UpdateAccessKey"): ("iam", iam_user_op("update_access_key", with_key=True, Status="Inactive")),
    ("IAM", "DeleteAccessKey"): ("iam", iam_user_op("delete_access_key", with_key=True)),
    ("IAM", "PutUserPolicy"): ("iam", iam_user_op("put_user_policy", PolicyName="p",
                                                  PolicyDocument=_key_policy_identity())),
    ("IAM", "GetUserPolicy"): ("iam", iam_user_op("get_user_policy", with_policy=True, PolicyName="p")),
    ("IAM", "ListUserPolicies"): ("iam", iam_user_op("list_user_policies")),
    ("IAM", "DeleteUserPolicy"): ("iam", iam_user_op("delete_user_policy", with_policy=True, PolicyName="p")),
    ("IAM", "PutRolePolicy"): ("iam", iam_role_op("put_role_policy", PolicyName="p",
                                                  PolicyDocument=_key_policy_identity())),
    ("IAM", "GetRolePolicy"): ("iam", iam_role_op("get_role_policy", with_policy=True, PolicyName="p")),
    ("IAM", "ListRolePolicies"): ("iam", iam_role_op("list_role_policies")),
    ("IAM", "DeleteRolePolicy"): ("iam", iam_role_op("delete_role_policy", with_policy=True, PolicyName="p")),

    ("STS", "AssumeRole"): ("sts", s_assume_role),

    ("CloudTrail", "LookupEvents"): ("cloudtrail", lambda w: lambda c: c.lookup_events(MaxResults=1)),
    ("CloudTrail", "VerifyAuditChain"): ("cloudtrail", lambda w: lambda c: c.verify_audit_chain()),
}


def s_secure_put(tier: str) -> Callable[[World], Call]:
    def setup(w: World) -> Call:
        key_id = w.key()
        name = f"/authz/{uid()}/secure"
        w.resources["parameter"] = parameter_arn(name)
        return lambda c: c.put_parameter(Name=name, Value="v", Type="SecureString", KeyId=key_id, Tier=tier)
    return setup


def secure_read(read: Callable[[Any, str, str], Any]) -> Callable[[World], Call]:
    """A SecureString under a customer key of its own, read with decryption."""
    def setup(w: World) -> Call:
        key_id = w.key()
        base = f"/authz/{uid()}"
        name = f"{base}/secure"
        w.ssm.put_parameter(Name=name, Value="v", Type="SecureString", KeyId=key_id)
        w.resources["parameter"] = parameter_arn(name)
        w.resources["parameter (path)"] = parameter_arn(base)
        return lambda c: read(c, name, base)
    return setup


def _get_parameters_decrypted(c: Any, name: str, base: str) -> Any:
    out = c.get_parameters(Names=[name], WithDecryption=True)
    if out["InvalidParameters"] or not out["Parameters"]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "refused"}}, "GetParameters")
    return out


def s_create_key_tagged(w: World) -> Call:
    return lambda c: c.create_key(Tags=[{"TagKey": "team", "TagValue": "a"}])


def s_put_tagged(w: World) -> Call:
    name = f"/authz/{uid()}/tagged"
    w.resources["parameter"] = parameter_arn(name)
    return lambda c: c.put_parameter(Name=name, Value="v", Type="String", Tags=[{"Key": "team", "Value": "a"}])


def s_create_user_tagged(w: World) -> Call:
    name = "new-" + uid()
    w.resources["user"] = user_arn(name, "/authz-team/")
    return lambda c: c.create_user(UserName=name, Path="/authz-team/", Tags=[{"Key": "team", "Value": "a"}])


def s_create_role_tagged(w: World) -> Call:
    name = "new-" + uid()
    w.resources["role"] = role_arn(name, "/authz-team/")
    return lambda c: c.create_role(RoleName=name, Path="/authz-team/", AssumeRolePolicyDocument=_trust(),
                                   Tags=[{"Key": "team", "Value": "a"}])


def s_assume_role_tagged(w: World) -> Call:
    arn = role_arn(w.role(), "/authz-team/")
    return lambda c: c.assume_role(RoleArn=arn, RoleSessionName="session", Tags=[{"Key": "team", "Value": "a"}])


def s_assume_role_source_identity(w: World) -> Call:
    arn = role_arn(w.role(), "/authz-team/")
    return lambda c: c.assume_role(RoleArn=arn, RoleSessionName="session", SourceIdentity="alice")


SCENARIOS: dict[tuple[str, str, str], tuple[str, Callable[[World], Call]]] = {
    **{(service, operation, "always"): scenario for (service, operation), scenario in _BASE.items()},
    ("KMS", "CreateKey", "Tags"): ("kms", s_create_key_tagged),
    ("KMS", "ReplicateKey", "Tags"): ("kms", lambda w: s_replicate_key(w, tags=True)),
    ("SSM", "PutParameter", "Tags"): ("ssm", s_put_tagged),
    ("SSM", "PutParameter", "SecureString Standard"): ("ssm", s_secure_put("Standard")),
    ("SSM", "PutParameter", "SecureString Advanced"): ("ssm", s_secure_put("Advanced")),
    ("SSM", "GetParameter", "SecureString WithDecryption"): ("ssm", secure_read(
        lambda c, name, base: c.get_parameter(Name=name, WithDecryption=True))),
    ("SSM", "GetParameters", "SecureString WithDecryption"): ("ssm", secure_read(_get_parameters_decrypted)),
    ("SSM", "GetParameterHistory", "SecureString WithDecryption"): ("ssm", secure_read(
        lambda c, name, base: c.get_parameter_history(Name=name, WithDecryption=True))),
    ("SSM", "GetParametersByPath", "SecureString WithDecryption"): ("ssm", secure_read(
        lambda c, name, base: c.get_parameters_by_path(Path=base, WithDecryption=True))),
    ("IAM", "CreateUser", "Tags"): ("iam", s_create_user_tagged),
    ("IAM", "CreateRole", "Tags"): ("iam", s_create_role_tagged),
    ("STS", "AssumeRole", "Tags"): ("sts", s_assume_role_tagged),
    ("STS", "AssumeRole", "SourceIdentity"): ("sts", s_assume_role_source_identity),
}


# --- the three checks -----------------------------------------------------------------------------
class TrailClient:
    """boto3's cloudtrail client, plus VerifyAuditChain (a paramstore extension boto3's model
    does not have), signed the same way and failing with ClientError as boto3 would."""

    def __init__(self, server: Any, access_key_id: str, secret: str) -> None:
        self._server, self._credentials = server, Credentials(access_key_id, secret)
        self._boto = boto3.client("cloudtrail", endpoint_url=server.url, region_name=REGION,
                                  aws_access_key_id=access_key_id, aws_secret_access_key=secret,
                                  config=Config(retries={"total_max_attempts": 1}))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._boto, name)

    def verify_audit_chain(self) -> dict:
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{TRAIL_PREFIX}.VerifyAuditChain"}
        request = AWSRequest(method="POST", url=self._server.url + "/", data=b"{}", headers=headers)
        SigV4Auth(self._credentials, "cloudtrail", REGION).add_auth(request)
        answer = httpx.post(self._server.url + "/", content=b"{}", headers=dict(request.headers.items()), timeout=120)
        body = answer.json()
        if answer.status_code != 200:
            raise ClientError({"Error": {"Code": body["__type"], "Message": body.get("message", "")}},
                              "VerifyAuditChain")
        return body


class Caller:
    """One IAM user per test whose inline policy each variant replaces."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.iam = server.client("iam")
        self.name = "authz-" + uid()
        self.iam.create_user(UserName=self.name)
        key = self.iam.create_access_key(UserName=self.name)["AccessKey"]
        self.clients = {
            service: boto3.client(service, endpoint_url=server.url, region_name=REGION,
                                  aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                                  config=Config(retries={"total_max_attempts": 1}))
            for service in ("kms", "ssm", "iam", "sts")}
        self.clients["cloudtrail"] = TrailClient(server, key["AccessKeyId"], key["SecretAccessKey"])

    def with_policy(self, statements: list[dict]) -> None:
        self.iam.put_user_policy(UserName=self.name, PolicyName="only", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))


def _statements(rows: list[Row], arns: dict, swap: int | None = None) -> list[dict]:
    out = []
    for i, row in enumerate(rows):
        resource = "*" if row.resource == "*" else arns[row.resource]
        if i == swap:
            resource = SIBLINGS[row.resource]()
        out.append({"Effect": "Allow", "Action": row.action, "Resource": resource})
    return out


def _outcome(call: Call, client: Any) -> str:
    try:
        call(client)
    except ClientError as error:
        return error.response["Error"]["Code"]
    return "ok"


CASES = sorted(SCENARIOS)


@pytest.mark.parametrize("service,operation,when", CASES,
                         ids=[f"{s}.{o}" + ("" if w == "always" else f"[{w}]") for s, o, w in CASES])
def test_operation_checks_exactly_its_rows(server, service, operation, when):
    rows = rows_of(service, operation, when)
    assert rows, f"{service} {operation} has no row in docs/authorization.md"
    client_name, setup = SCENARIOS[(service, operation, when)]
    caller = Caller(server)
    root = World(server, server.client("kms"), server.client("ssm"), server.client("iam"), server.client("sts"))

    def attempt(statements: list[dict]) -> str:
        world = World(root.server, root.kms, root.ssm, root.iam, root.sts)
        call = setup(world)
        caller.with_policy(statements(world.resources))
        return _outcome(call, caller.clients[client_name])

    for row in rows:
        assert row.resource == "*" or row.resource in SIBLINGS, f"unknown resource kind {row.resource!r}"

    # allowed on exactly its rows: it works
    assert attempt(lambda arns: _statements(rows, arns)) == "ok"
    for i, row in enumerate(rows):
        # an explicit Deny on one row refuses
        def with_deny(arns: dict, i: int = i, row: Row = row) -> list[dict]:
            resource = "*" if row.resource == "*" else arns[row.resource]
            return _statements(rows, arns) + [{"Effect": "Deny", "Action": row.action, "Resource": resource}]
        assert attempt(with_deny) in DENIED, f"Deny {row.action} on {row.resource} did not refuse"
        # the right on a sibling resource instead refuses
        if row.resource != "*":
            outcome = attempt(lambda arns, i=i: _statements(rows, arns, swap=i))
            assert outcome in DENIED, f"Allow {row.action} on a sibling {row.resource} was enough ({outcome})"


def test_get_caller_identity_needs_no_permission(server):
    caller = Caller(server)
    caller.with_policy([{"Effect": "Deny", "Action": "*", "Resource": "*"}])
    assert caller.clients["sts"].get_caller_identity()["Account"] == ACCOUNT_ID
