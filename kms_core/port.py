"""The KMS core as the other services in this process call it: a narrow, typed port.

A service built on KMS (the Parameter Store) encrypts what it stores under data keys: from
one of the caller's KMS keys, *as the caller* and through the service (`kms:ViaService`),
or from the service's own key for data the caller never asked to encrypt.  That is all it
needs, so that is all this port offers: data keys as ready AEADs, typed results, and typed
errors that say what the service should tell its own caller.  The service depends on this
module, never on KMS operations, engine or crypto: the KMS core can change behind it, and
the service's unit tests run against a fake (tests/fakes/kms.py).

`InProcessKms` is the adapter over the KMS core of this process.  (Like Tink's keyset
handles, the port hands out primitives, `Aead`, not key bytes: the service can't choose a
nonce or keep a data key it shouldn't.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Protocol

from kms_core.context import RequestContext
# re-exported for services (below, "a service's own requests")
from kms_core.policy.authorize import authorize_account as authorize_account
from kms_core.policy.authorize import set_request_tags as set_request_tags
from kms_core.crypto.aes_gcm import DecryptionFailed, GcmKey
from kms_core.domain.arn import KEY_ID_RE, row_id_for
from kms_core.engine import ciphertext
from kms_core.operations import crypto
from kms_core.domain.errors import AwsError
from kms_core.service_keys import OwnedKeyError, ServiceKeySet

if TYPE_CHECKING:
    from kms_core.service import KmsCore

DATA_KEY_BYTES = 32


# --- what a service passes and gets back ---------------------------------------------------
class Caller(Protocol):
    """The request a service calls KMS for: who asks, from where, and where the key ARNs
    the call touches are noted for the request's audit record."""

    principal: Any
    region: str
    request_id: str
    source_ip: Optional[str]
    secure_transport: bool
    resources: list
    #: one request's memo for repeated decrypts (keys whose kms:Decrypt decision for this
    #: caller didn't depend on the encryption context); the port fills it
    decrypt_allowed_keys: set

    @property
    def account_id(self) -> str: ...


class Aead:
    """AES-256-GCM under one data key, with IVs it chooses itself (the key schedule made
    once: a cached data key opens many values)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = GcmKey(key)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return self._key.seal(plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """Raises ValueRejected for a wrong key, AAD or a changed blob."""
        try:
            return self._key.open(sealed, aad)
        except DecryptionFailed:
            raise ValueRejected() from None


@dataclass(frozen=True)
class DataKey:
    """A fresh data key: what to store (`sealed`) and what to seal the value with."""

    sealed: bytes
    aead: Aead
    #: the ARN of the KMS key that sealed it (None for the service's own key)
    key_arn: Optional[str] = None


class ValueRejected(Exception):
    """A blob that doesn't open under its data key or the service's key: tampered, or
    moved to another row."""


class KmsCallError(Exception):
    """A KMS call made for a caller failed.  `code`, `message` and `http_status` are KMS's,
    for services that quote them; the subclass says what the caller should be told."""

    def __init__(self, code: str, message: str, http_status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.http_status = code, message, http_status


class KmsAccessDenied(KmsCallError):
    """The caller may not use the key for this (policies, grants, conditions)."""


class KmsKeyUnusable(KmsCallError):
    """The caller named a key that can't be used: missing, disabled, pending deletion or
    import, the wrong usage, or a malformed id."""


class KmsKeyGone(KmsCallError):
    """The key that sealed this data key no longer exists."""


class KmsCiphertextRejected(KmsCallError):
    """The sealed data key doesn't open under its context: tampered, or moved."""


class KmsFailed(KmsCallError):
    """Anything else (the service could retry)."""


class KmsPort(Protocol):
    """What a service may ask of KMS."""

    #: the service's AWS-managed key, the default for values the caller encrypts
    default_key_id: str

    def generate_data_key(self, caller: Caller, key_id: str, context: Mapping[str, str]) -> DataKey:
        """kms:GenerateDataKey as the caller, through the service."""

    def encrypt_data_key(self, caller: Caller, key_id: str, context: Mapping[str, str]) -> DataKey:
        """A data key made here and sealed with kms:Encrypt as the caller, through the
        service (what AWS asks of a Standard-tier SecureString)."""

    def decrypt_data_key(self, caller: Caller, sealed: bytes, context: Mapping[str, str]) -> Aead:
        """kms:Decrypt as the caller, through the service."""

    def check_decrypt(self, caller: Caller, sealed: bytes, context: Mapping[str, str]) -> None:
        """Every check kms:Decrypt would make on this request for a data key the service
        already holds open, without opening it again; raises what Decrypt would."""

    def owned_data_key(self, account_id: str, region: str, aad: bytes) -> DataKey:
        """A data key sealed under the service's own key (invisible to customers)."""

    def open_owned_data_key(self, account_id: str, region: str, sealed: bytes, aad: bytes) -> Aead:
        """Raises ValueRejected if it doesn't open."""


# --- a service's own requests --------------------------------------------------------------
#: The request context a service's operations get: the caller (principal, region, source
#: IP), the condition facts authorization reads, the resources touched for the audit
#: record.  A service subclasses it for its own state (paramstore/ssm/context.py).
ServiceRequest = RequestContext
# With it: `authorize_account` (the service's own actions, ssm:* on a parameter ARN,
# decided by the caller's IAM policies) and `set_request_tags` (the aws:RequestTag and
# aws:TagKeys facts of a request that sets tags), both imported above.


# --- the adapter over this process's KMS core ----------------------------------------------
#: KMS failures a caller can fix by choosing or repairing the key
_KEY_ERRORS = frozenset({"NotFoundException", "DisabledException", "KMSInvalidStateException",
                         "InvalidKeyUsageException", "KeyUnavailableException", "ValidationException",
                         "InvalidArnException"})


class InProcessKms:
    """`KmsPort` over the KMS core in this process, for one service's key set (which it
    registers with the core, so `alias/aws/<service>` resolves)."""

    def __init__(self, kms: "KmsCore", key_set: ServiceKeySet) -> None:
        self._kms = kms
        self._key_set = key_set
        kms.service_keys.register(key_set)
        self.default_key_id = key_set.alias_name

    def generate_data_key(self, caller: Caller, key_id: str, context: Mapping[str, str]) -> DataKey:
        result = self._call(caller, "GenerateDataKey", crypto.generate_data_key,
                            {"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": dict(context)})
        return DataKey(result["CiphertextBlob"], Aead(result["Plaintext"]), result["KeyId"])

    def encrypt_data_key(self, caller: Caller, key_id: str, context: Mapping[str, str]) -> DataKey:
        key = os.urandom(DATA_KEY_BYTES)
        result = self._call(caller, "Encrypt", crypto.encrypt,
                            {"KeyId": key_id, "Plaintext": key, "EncryptionContext": dict(context)})
        return DataKey(result["CiphertextBlob"], Aead(key), result["KeyId"])

    def decrypt_data_key(self, caller: Caller, sealed: bytes, context: Mapping[str, str]) -> Aead:
        result = self._call(caller, "Decrypt", crypto.decrypt,
                            {"CiphertextBlob": sealed, "EncryptionContext": dict(context)})
        return Aead(result["Plaintext"])

    def check_decrypt(self, caller: Caller, sealed: bytes, context: Mapping[str, str]) -> None:
        memo = caller.decrypt_allowed_keys

        def check(kms_ctx: Any, request: dict) -> dict:
            crypto.authorize_repeat_decrypt(kms_ctx, request["CiphertextBlob"], request["EncryptionContext"], memo)
            return {}

        self._call(caller, "Decrypt", check, {"CiphertextBlob": sealed, "EncryptionContext": dict(context)})

    def owned_data_key(self, account_id: str, region: str, aad: bytes) -> DataKey:
        key = os.urandom(DATA_KEY_BYTES)
        return DataKey(self._kms.service_keys.owned_seal(self._key_set, account_id, region, key, aad), Aead(key))

    def open_owned_data_key(self, account_id: str, region: str, sealed: bytes, aad: bytes) -> Aead:
        try:
            return Aead(self._kms.service_keys.owned_open(self._key_set, account_id, region, sealed, aad))
        except OwnedKeyError:
            raise ValueRejected() from None

    # --- one KMS operation as the caller, through the service --------------------------
    def _call(self, caller: Caller, operation: str, function: Callable[[Any, dict], dict], request: dict) -> dict:
        kms_ctx = RequestContext(self._kms, caller.principal, caller.region, caller.request_id, operation,
                                 via_service=self._key_set.via_service(caller.region), source_ip=caller.source_ip,
                                 secure_transport=caller.secure_transport)
        try:
            return function(kms_ctx, request)
        except AwsError as error:
            raise self._typed(error, request.get("CiphertextBlob"), caller.region) from None
        finally:
            for arn in kms_ctx.resources:  # a listing touches one key many times: name it once
                if arn not in caller.resources:
                    caller.resources.append(arn)

    def _typed(self, error: AwsError, blob: Optional[bytes], region: str) -> KmsCallError:
        args = (error.code, error.message, error.http_status)
        if error.code == "InvalidCiphertextException":
            return KmsKeyGone(*args) if self._key_is_gone(blob, region) else KmsCiphertextRejected(*args)
        if error.code == "AccessDeniedException":
            return KmsAccessDenied(*args)
        if error.code in _KEY_ERRORS:
            return KmsKeyUnusable(*args)
        return KmsFailed(*args)

    def _key_is_gone(self, blob: Optional[bytes], region: str) -> bool:
        """A data key whose KMS key was deleted: the caller's problem, not a tampered row."""
        if blob is None:
            return False
        try:
            key_id = ciphertext.parse(blob).key_id
        except ciphertext.MalformedCiphertext:
            return False
        return bool(KEY_ID_RE.fullmatch(key_id)) and self._kms.key(row_id_for(key_id, region)) is None
