"""Request quotas: AWS's per-second API rate limits, as token buckets per account, Region
and quota.

AWS throttles each account's requests in each Region against named quotas: KMS's
cryptographic operations share one quota per key type (symmetric, RSA, ECC), most KMS
management operations have one each, and Parameter Store's reads share 40 TPS unless the
account's high-throughput setting is on.  Over a quota, AWS answers HTTP 400
`ThrottlingException` "Rate exceeded", which every SDK's retry modes back off on.

A bucket holds up to one second of its quota (at least one request) and refills
continuously.  Buckets live in the process: under `serve --workers N` each worker gets
1/N of every quota (the kernel spreads connections over the workers), so the whole server
keeps to the quota; servers sharing one database each enforce their own (docs/operations.md).

Off unless the operator turns it on (`serve --throttle`, or any `--quota`): self-hosted
stores are mostly one tenant, and a benchmark or a test suite must not trip over a
5-per-second CreateKey quota by surprise.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from kms_core.domain.errors import ThrottlingException

#: KMS's shared quotas for cryptographic operations, one per key type
CRYPTO_SYMMETRIC, CRYPTO_RSA, CRYPTO_ECC = "kms:crypto-symmetric", "kms:crypto-rsa", "kms:crypto-ecc"

#: operations charged to the shared quota of the key type they use (HMAC keys count as
#: symmetric); GenerateRandom uses no key and counts as symmetric
KMS_CRYPTO_OPERATIONS = frozenset({
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
    "VerifyMac", "Sign", "Verify", "DeriveSharedSecret", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
})

#: the symmetric quota by Region (AWS: 5,500 by default, more in the busiest Regions)
_SYMMETRIC_BY_REGION = {
    **dict.fromkeys(("us-east-1", "us-west-2", "eu-west-1"), 50_000.0),
    **dict.fromkeys(("us-east-2", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "eu-central-1",
                     "eu-west-2"), 10_000.0),
}
_SYMMETRIC_DEFAULT = 5_500.0

#: AWS KMS's default request quotas (per second), https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html
KMS_QUOTAS: dict[str, float] = {
    CRYPTO_RSA: 500, CRYPTO_ECC: 300,
    "kms:CancelKeyDeletion": 5, "kms:CreateAlias": 5, "kms:CreateGrant": 50, "kms:CreateKey": 5,
    "kms:DeleteAlias": 15, "kms:DeleteImportedKeyMaterial": 15, "kms:DescribeKey": 2000, "kms:DisableKey": 5,
    "kms:DisableKeyRotation": 15, "kms:EnableKey": 5, "kms:EnableKeyRotation": 15, "kms:GetKeyPolicy": 1000,
    "kms:GetKeyRotationStatus": 1000, "kms:GetParametersForImport": 15, "kms:GetPublicKey": 2000,
    "kms:ImportKeyMaterial": 15, "kms:ListAliases": 500, "kms:ListGrants": 100, "kms:ListKeyPolicies": 100,
    "kms:ListKeyRotations": 100, "kms:ListKeys": 500, "kms:ListResourceTags": 100, "kms:ListRetirableGrants": 100,
    "kms:PutKeyPolicy": 15, "kms:ReplicateKey": 5, "kms:RetireGrant": 30, "kms:RevokeGrant": 30,
    "kms:RotateKeyOnDemand": 5,
    "kms:ScheduleKeyDeletion": 15, "kms:TagResource": 10, "kms:UntagResource": 10, "kms:UpdateAlias": 5,
    "kms:UpdateKeyDescription": 5, "kms:UpdatePrimaryRegion": 5,
    # GenerateDataKeyPair[WithoutPlaintext], by the pair's spec (also charged to the symmetric quota)
    "kms:data-key-pair/RSA_2048": 1, "kms:data-key-pair/RSA_3072": 0.5, "kms:data-key-pair/RSA_4096": 0.1,
    "kms:data-key-pair/ECC_NIST_P256": 25, "kms:data-key-pair/ECC_NIST_P384": 10,
    "kms:data-key-pair/ECC_NIST_P521": 5, "kms:data-key-pair/ECC_SECG_P256K1": 25, "kms:data-key-pair/SM2": 25,
}

#: Parameter Store: reads share 40 TPS at standard throughput; with the account's
#: /ssm/parameter-store/high-throughput-enabled setting each has its own, larger quota
SSM_STANDARD_READS = "ssm:reads"
SSM_READ_OPERATIONS = frozenset({"GetParameter", "GetParameters", "GetParametersByPath"})
SSM_QUOTAS: dict[str, float] = {
    SSM_STANDARD_READS: 40,
    "ssm:GetParameter": 10_000, "ssm:GetParameters": 1_000, "ssm:GetParametersByPath": 100,
    "ssm:PutParameter": 3,
}

#: Secrets Manager's request quotas (per second, not adjustable), some shared by a group of
#: operations (secrets_quota below names the group)
SECRETS_QUOTAS: dict[str, float] = {
    "secretsmanager:GetSecretValue": 10_000, "secretsmanager:DescribeSecret": 40_000,
    "secretsmanager:BatchGetSecretValue": 100, "secretsmanager:ListSecrets": 100,
    "secretsmanager:ListSecretVersionIds": 50, "secretsmanager:CreateSecret": 50,
    "secretsmanager:DeleteSecret": 50, "secretsmanager:RestoreSecret": 50,
    "secretsmanager:GetRandomPassword": 50, "secretsmanager:writes": 50, "secretsmanager:rotation": 50,
    "secretsmanager:tagging": 50, "secretsmanager:resource-policies": 50,
}
_SECRETS_GROUPS = {
    **dict.fromkeys(("PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage", "ReplicateSecretToRegions",
                     "RemoveRegionsFromReplication", "StopReplicationToReplica"), "secretsmanager:writes"),
    **dict.fromkeys(("RotateSecret", "CancelRotateSecret"), "secretsmanager:rotation"),
    **dict.fromkeys(("TagResource", "UntagResource"), "secretsmanager:tagging"),
    **dict.fromkeys(("PutResourcePolicy", "GetResourcePolicy", "DeleteResourcePolicy", "ValidateResourcePolicy"),
                    "secretsmanager:resource-policies"),
}


def secrets_quota(operation: str, _account_id: str = "", _region: str = "", _request: Optional[dict] = None
                  ) -> Optional[str]:
    """The quota a Secrets Manager request is charged to (a ServiceSpec.quota_of)."""
    return _SECRETS_GROUPS.get(operation) or "secretsmanager:" + operation


THROTTLED_MESSAGE = "Rate exceeded"


def default_rate(quota: str, region: str) -> Optional[float]:
    """AWS's default for a quota in a Region; None for a name no AWS quota has."""
    if quota == CRYPTO_SYMMETRIC:
        return _SYMMETRIC_BY_REGION.get(region, _SYMMETRIC_DEFAULT)
    return KMS_QUOTAS.get(quota) or SSM_QUOTAS.get(quota) or SECRETS_QUOTAS.get(quota)


def known_quota(name: str) -> bool:
    return name == CRYPTO_SYMMETRIC or name in KMS_QUOTAS or name in SSM_QUOTAS or name in SECRETS_QUOTAS


def key_type_quota(key_spec: str) -> str:
    """The shared cryptographic quota a key's use counts against."""
    quota = _KEY_TYPE_QUOTAS.get(key_spec)
    if quota is None:
        quota = CRYPTO_RSA if key_spec.startswith("RSA") else \
            CRYPTO_ECC if key_spec.startswith("ECC") or key_spec == "SM2" else CRYPTO_SYMMETRIC
        _KEY_TYPE_QUOTAS[key_spec] = quota  # key specs are a short, fixed list
    return quota


_KEY_TYPE_QUOTAS: dict[str, str] = {}


class Bucket:
    """One quota of one account in one Region: `tokens` requests may go now."""

    __slots__ = ("rate", "capacity", "tokens", "stamp")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.stamp = now

    def take(self, now: float) -> bool:
        tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens < 1.0:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1.0
        return True

    def give_back(self) -> None:
        self.tokens = min(self.capacity, self.tokens + 1.0)


class Throttle:
    """Every account's buckets in this process.  `overrides` maps quota names to rates
    (requests per second) in place of AWS's defaults; `share` is this process's part of
    each quota (1/workers)."""

    def __init__(self, overrides: Optional[dict[str, float]] = None, share: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.overrides = dict(overrides or {})
        self.share = share
        self.clock = clock
        self._buckets: dict[tuple[str, str, str], Bucket] = {}
        #: called with (service, quota) for each refused request (the metrics count them)
        self.on_throttled: Callable[[str, str], None] = lambda _service, _quota: None

    def rate(self, quota: str, region: str) -> Optional[float]:
        rate = self.overrides.get(quota)
        if rate is None:
            rate = default_rate(quota, region)
        return None if rate is None else rate * self.share

    def charge(self, account_id: str, region: str, quota: str, charges: "Charges") -> None:
        """Take one request from the quota's bucket, or raise ThrottlingException."""
        key = (account_id, region, quota)
        bucket = self._buckets.get(key)
        now = self.clock()
        if bucket is None:
            rate = self.rate(quota, region)
            if rate is None:
                return
            bucket = self._buckets[key] = Bucket(rate, now)
        if not bucket.take(now):
            self.on_throttled(quota.partition(":")[0], quota)
            raise ThrottlingException(THROTTLED_MESSAGE)
        charges.taken.append(bucket)


class Charges:
    """The buckets one request took from, so a request moved from the event loop to the
    database worker (and run again there) is charged once, not twice."""

    __slots__ = ("throttle", "account_id", "region", "operation", "taken")

    def __init__(self, throttle: Throttle, account_id: str, region: str, operation: str) -> None:
        self.throttle, self.account_id, self.region, self.operation = throttle, account_id, region, operation
        self.taken: list[Bucket] = []

    def charge(self, quota: str) -> None:
        self.throttle.charge(self.account_id, self.region, quota, self)

    def key_use(self, key_spec: str) -> None:
        """A cryptographic operation has found its key: charge the key type's shared quota."""
        if self.operation in KMS_CRYPTO_OPERATIONS:
            self.charge(key_type_quota(key_spec))

    def refund(self) -> None:
        for bucket in self.taken:
            bucket.give_back()
        self.taken.clear()


_PAIR_OPERATIONS = frozenset({"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"})


def kms_quota(operation: str, request: dict) -> Optional[str]:
    """The quota a KMS request is charged to before its key is known (its key's type is
    charged when the operation finds the key: Charges.key_use)."""
    if operation in _PAIR_OPERATIONS:
        return "kms:data-key-pair/" + str(request.get("KeyPairSpec"))
    if operation in KMS_CRYPTO_OPERATIONS:
        return None
    if operation == "GenerateRandom":
        return CRYPTO_SYMMETRIC
    return "kms:" + operation


def kms_quota_of() -> Callable[[str, str, str, dict], Optional[str]]:
    """kms_quota as a ServiceSpec.quota_of, remembered per operation (only the data key pair
    operations depend on the request; operation names are the implemented ones by then)."""
    by_operation: dict[str, Optional[str]] = {}

    def quota_of(operation: str, _account_id: str, _region: str, request: dict) -> Optional[str]:
        if operation in _PAIR_OPERATIONS:
            return kms_quota(operation, request)
        try:
            return by_operation[operation]
        except KeyError:
            quota = by_operation[operation] = kms_quota(operation, request)
            return quota

    return quota_of


def parse_quotas(text: str) -> dict[str, float]:
    """`NAME=RATE[,NAME=RATE...]` (e.g. "ssm:reads=5,kms:crypto-symmetric=100") -> rates;
    ValueError names the first bad entry."""
    rates: dict[str, float] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = entry.partition("=")
        name = name.strip()
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not sep or not known_quota(name) or not rate > 0 or rate == float("inf"):
            raise ValueError(f"bad quota {entry!r}: expected NAME=RATE with a known quota name and a rate > 0 "
                             f"(names: docs/operations.md, Throttling)")
        rates[name] = rate
    return rates
