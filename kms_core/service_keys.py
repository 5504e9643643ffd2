"""Key sets of AWS services (`aws/<service>`): one mechanism for every service built on
the KMS core.

A service registers its set with the core once (`ServiceKeys.register`, done by its KMS
port, kms_core/port.py); from then on, per account and region, it has:

- an **AWS-managed key**, `alias/aws/<service>`: a real KMS key (KeyManager AWS) made
  lazily the first time the service needs it, or when a customer calls DescribeKey on
  the alias.  Customers can see it (ListKeys, ListAliases, DescribeKey, GetKeyPolicy)
  but its policy lets them use it only *through* the service (kms:ViaService plus
  kms:CallerAccount) and gives the account nothing but Describe*/Get*/List*: it can't be
  disabled, deleted, re-policied, tagged or aimed at by a customer alias.  It rotates
  itself yearly.
- a **service-owned key**: invisible to customers (no key id, no ARN, no policy), used by
  the service for data the customer never asked to encrypt (SSM: String and StringList
  values at rest).  Its material is stored wrapped by the root key, like every key.

Both are created under a write transaction that tolerates a concurrent creator (another
process sharing the database): the loser re-reads the winner's key.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from kms_core.audit import side_change
from kms_core.crypto.aes_gcm import DecryptionFailed, gcm_open, gcm_seal
from kms_core.domain import limits
from kms_core.domain.model import KeyManager, KeyWithMaterial
from kms_core.storage import repository
from kms_core.storage.tables import AliasTable, KeyTable, ServiceOwnedKeyTable, owned_key_row_identity
from kms_core.storage.unit_of_work import Conflict, UnitOfWork, add_service_owned_key, reading, writing

if TYPE_CHECKING:
    from kms_core.service import KmsCore

_OWNED_BLOB_VERSION = 1
_OWNED_HEADER = struct.Struct(">BI")  # blob version, key generation
_OWNED_KEY_BYTES = 32


@dataclass(frozen=True)
class ServiceKeySet:
    service: str            # "ssm"
    display_name: str       # "Systems Manager", as in the managed key policy's Sid
    description: str        # the managed key's Description

    @property
    def alias_name(self) -> str:
        return f"alias/aws/{self.service}"

    def via_service(self, region: str) -> str:
        """The kms:ViaService value of calls the service makes for a caller."""
        return f"{self.service}.{region}.amazonaws.com"

    def managed_key_policy(self, account_id: str, region: str) -> str:
        """AWS's policy template for AWS-managed keys."""
        return json.dumps({
            "Version": "2012-10-17",
            "Id": f"auto-{self.service}-1",
            "Statement": [
                {
                    "Sid": f"Allow access through {self.display_name} for all principals in the account "
                           f"that are authorized to use {self.display_name}",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                               "kms:CreateGrant", "kms:DescribeKey"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:ViaService": self.via_service(region),
                                                   "kms:CallerAccount": account_id}},
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                    "Resource": "*",
                },
            ],
        }, indent=2)


def _predefined(service: str, display_name: str, protects: str) -> ServiceKeySet:
    return ServiceKeySet(service, display_name, f"Default key that protects my {protects} when no other key is defined")


#: AWS's predefined `alias/aws/<service>` aliases of services this server does not run
#: (ssm and secretsmanager register their own sets).  ListAliases lists them before their
#: key exists; DescribeKey on one makes the AWS-managed key, as AWS does.
PREDEFINED_KEY_SETS = {s.service: s for s in (
    _predefined("acm", "ACM", "ACM private keys"),
    _predefined("dynamodb", "Amazon DynamoDB", "DynamoDB data"),
    _predefined("ebs", "EBS", "EBS volumes"),
    _predefined("elasticfilesystem", "EFS", "EFS filesystems"),
    _predefined("es", "Amazon Elasticsearch Service", "Elasticsearch data"),
    _predefined("glue", "AWS Glue", "Glue data"),
    _predefined("kinesisvideo", "Kinesis Video Streams", "Kinesis Video Streams data"),
    _predefined("lambda", "AWS Lambda", "Lambda functions"),
    _predefined("rds", "RDS", "RDS database volumes"),
    _predefined("redshift", "Redshift", "Redshift data"),
    _predefined("s3", "S3", "S3 objects"),
    _predefined("xray", "AWS X-Ray", "X-Ray data"),
)}


#: services of this server that register their own key sets (paramstore/ssm, paramstore/secrets)
SERVED_HERE = ("secretsmanager", "ssm")


class OwnedKeyError(Exception):
    """A service-owned blob that does not open (tampered, moved, or another key's)."""


class ServiceKeys:
    """The per-process side of the key sets: lazy creation and the owned-key cache.

    Owned keys are never modified once written, so their cache needs no invalidation."""

    def __init__(self, kms: "KmsCore") -> None:
        self._kms = kms
        self._owned: dict[tuple[str, str, str], dict[int, bytes]] = {}
        self._sets: dict[str, ServiceKeySet] = {}

    def register(self, key_set: ServiceKeySet) -> None:
        """Give a service its `aws/<service>` key set (idempotent)."""
        self._sets.setdefault(key_set.service, key_set)

    def for_alias(self, alias_name: str) -> Optional[ServiceKeySet]:
        """The registered set whose managed key this alias names (`alias/aws/<service>`)."""
        if not alias_name.startswith("alias/aws/"):
            return None
        service = alias_name[len("alias/aws/"):]
        return self._sets.get(service) or PREDEFINED_KEY_SETS.get(service)

    # --- AWS-managed keys -----------------------------------------------------------------
    def ensure_managed_key(self, key_set: ServiceKeySet, account_id: str, region: str) -> str:
        """The id of the account's `alias/aws/<service>` key, creating it on first use."""
        kms = self._kms
        for _ in range(3):
            existing = kms.alias_target(account_id, region, key_set.alias_name)
            if existing is not None:
                return existing
            try:
                with side_change({"created": key_set.alias_name}), writing(kms.db, kms.root) as work:
                    row = work.aliases.get(account_id, region, key_set.alias_name)
                    if row is not None:
                        key_id = row.target_key_id
                    else:
                        key_id = self._create_managed_key(work, key_set, account_id, region)
                kms.changed()
                return key_id
            except Conflict:  # another process created it first: read theirs
                kms.changed()
        raise RuntimeError(f"could not create {key_set.alias_name}")

    def managed_key_probe(self, key_set: ServiceKeySet, account_id: str, region: str) -> KeyWithMaterial:
        """The key `ensure_managed_key` would make, in memory only: a customer's DescribeKey
        on the alias is authorized against it before anything is written."""
        row = self._managed_key_row(key_set, account_id, region, self._kms.clock())
        return KeyWithMaterial(repository.to_key(row), {}, {}, policy=self._kms._compile_key_policy(row.policy))

    @staticmethod
    def _managed_key_row(key_set: ServiceKeySet, account_id: str, region: str, now: float) -> KeyTable:
        row = repository.new_key_row(repository.new_key_id(), account_id, region, now,
                                     description=key_set.description,
                                     policy=key_set.managed_key_policy(account_id, region))
        row.key_manager = KeyManager.AWS
        repository.schedule_rotation(row, now, limits.DEFAULT_ROTATION_PERIOD_DAYS)
        return row

    def _create_managed_key(self, work: UnitOfWork, key_set: ServiceKeySet, account_id: str, region: str) -> str:
        now = self._kms.clock()
        row = self._managed_key_row(key_set, account_id, region, now)
        key_id = row.key_id
        work.keys.insert(row, now)
        work.aliases.add(AliasTable(account_id=account_id, region=region, alias_name=key_set.alias_name,
                                    target_key_id=key_id, creation_date=now, last_updated_date=now))
        return key_id

    # --- service-owned keys ---------------------------------------------------------------
    def owned_seal(self, key_set: ServiceKeySet, account_id: str, region: str, plaintext: bytes,
                   aad: bytes) -> bytes:
        """Encrypt under the service-owned key: version ‖ generation ‖ IV ‖ AES-256-GCM."""
        generations = self._owned_keys(key_set, account_id, region, create=True)
        generation = max(generations)
        header = _OWNED_HEADER.pack(_OWNED_BLOB_VERSION, generation)
        return header + gcm_seal(generations[generation], plaintext,
                                 self._owned_aad(key_set, account_id, region, header, aad))

    def owned_open(self, key_set: ServiceKeySet, account_id: str, region: str, blob: bytes,
                   aad: bytes) -> bytes:
        if len(blob) < _OWNED_HEADER.size:
            raise OwnedKeyError()
        version, generation = _OWNED_HEADER.unpack_from(blob)
        if version != _OWNED_BLOB_VERSION:
            raise OwnedKeyError()
        material = self._owned_keys(key_set, account_id, region, create=False).get(generation)
        if material is None:
            raise OwnedKeyError()
        header = blob[:_OWNED_HEADER.size]
        try:
            return gcm_open(material, blob[_OWNED_HEADER.size:],
                            self._owned_aad(key_set, account_id, region, header, aad))
        except DecryptionFailed:
            raise OwnedKeyError() from None

    @staticmethod
    def _owned_aad(key_set: ServiceKeySet, account_id: str, region: str, header: bytes, aad: bytes) -> bytes:
        scope = f"aws-owned/{key_set.service}/{account_id}/{region}".encode()
        return header + struct.pack(">I", len(scope)) + scope + aad

    def _owned_keys(self, key_set: ServiceKeySet, account_id: str, region: str, create: bool) -> dict[int, bytes]:
        cache_key = (key_set.service, account_id, region)
        cached = self._owned.get(cache_key)
        if cached:
            return cached
        kms = self._kms
        for _ in range(3):
            with reading(kms.db, kms.root) as work:
                rows = work.owned_keys.of(key_set.service, account_id, region)
                found = {r.generation: kms.root.unwrap(r.material_wrapped, owned_key_row_identity(
                    r.service, r.account_id, r.region, r.generation)) for r in rows}
            if found or not create:
                if found:
                    self._owned[cache_key] = found
                return found
            material = os.urandom(_OWNED_KEY_BYTES)
            row = ServiceOwnedKeyTable(
                service=key_set.service, account_id=account_id, region=region, generation=1,
                material_wrapped=kms.root.wrap(material, owned_key_row_identity(key_set.service, account_id,
                                                                                region, 1)),
                created_at=kms.clock())
            try:
                with side_change({"created": f"aws/{key_set.service} service-owned key"}):
                    add_service_owned_key(kms.db, row)
            except Conflict:  # another process made it: read theirs
                continue
        raise RuntimeError(f"could not create the aws/{key_set.service} owned key")
