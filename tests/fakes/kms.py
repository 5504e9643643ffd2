"""A fake of the KMS port (kms_core/port.py) for the Parameter Store's unit tests.

Real AES-GCM, so what the Parameter Store seals really is sealed, but no policies, grants,
database or key states beyond "exists" and "enabled".  Every call is recorded, and a test
can make the next call fail with any typed error of the port."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_core.port import (Aead, DataKey, KmsCallError, KmsCiphertextRejected, KmsKeyGone, KmsKeyUnusable,
                           ValueRejected)

_MAGIC = b"fake-kms-1:"


@dataclass
class FakeCaller:
    """What the port needs to know about a request (kms_core.port.Caller)."""

    account_id: str = "111122223333"
    region: str = "us-east-1"
    request_id: str = "req-0001"
    principal: object = "arn:aws:iam::111122223333:user/app"
    source_ip: Optional[str] = "127.0.0.1"
    secure_transport: bool = False
    resources: list = field(default_factory=list)
    decrypt_allowed_keys: set = field(default_factory=set)


@dataclass
class FakeKey:
    secret: bytes = field(default_factory=lambda: os.urandom(32))
    enabled: bool = True


class FakeKms:
    default_key_id = "alias/aws/ssm"

    def __init__(self) -> None:
        self.keys: dict[str, FakeKey] = {self.default_key_id: FakeKey()}
        self.owned: dict[tuple[str, str], bytes] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_next: Optional[KmsCallError] = None

    def add_key(self, key_id: str) -> str:
        self.keys[key_id] = FakeKey()
        return key_id

    # --- the port -----------------------------------------------------------------------
    def generate_data_key(self, caller: FakeCaller, key_id: str, context: Mapping[str, str]) -> DataKey:
        return self._new_data_key("GenerateDataKey", caller, key_id, context)

    def encrypt_data_key(self, caller: FakeCaller, key_id: str, context: Mapping[str, str]) -> DataKey:
        return self._new_data_key("Encrypt", caller, key_id, context)

    def decrypt_data_key(self, caller: FakeCaller, sealed: bytes, context: Mapping[str, str]) -> Aead:
        return Aead(self._open("Decrypt", caller, sealed, context))

    def check_decrypt(self, caller: FakeCaller, sealed: bytes, context: Mapping[str, str]) -> None:
        self._open("CheckDecrypt", caller, sealed, context)

    def owned_data_key(self, account_id: str, region: str, aad: bytes) -> DataKey:
        self.calls.append(("OwnedDataKey", account_id))
        key = os.urandom(32)
        secret = self.owned.setdefault((account_id, region), os.urandom(32))
        iv = os.urandom(12)
        return DataKey(iv + AESGCM(secret).encrypt(iv, key, aad), Aead(key))

    def open_owned_data_key(self, account_id: str, region: str, sealed: bytes, aad: bytes) -> Aead:
        self.calls.append(("OpenOwnedDataKey", account_id))
        secret = self.owned.get((account_id, region))
        try:
            if secret is None:
                raise InvalidTag()
            return Aead(AESGCM(secret).decrypt(sealed[:12], sealed[12:], aad))
        except (InvalidTag, ValueError):
            raise ValueRejected() from None

    # --- inside -------------------------------------------------------------------------
    def _fail_if_asked(self) -> None:
        error, self.fail_next = self.fail_next, None
        if error is not None:
            raise error

    def _usable(self, key_id: str) -> FakeKey:
        key = self.keys.get(key_id)
        if key is None:
            raise KmsKeyUnusable("NotFoundException", f"Key '{key_id}' does not exist", 400)
        if not key.enabled:
            raise KmsKeyUnusable("DisabledException", f"{key_id} is disabled.", 400)
        return key

    def _new_data_key(self, operation: str, caller: FakeCaller, key_id: str, context: Mapping[str, str]) -> DataKey:
        self.calls.append((operation, key_id))
        caller.resources.append(f"key:{key_id}")
        self._fail_if_asked()
        key = self._usable(key_id)
        data_key = os.urandom(32)
        iv = os.urandom(12)
        aad = json.dumps(dict(context), sort_keys=True).encode()
        sealed = _MAGIC + key_id.encode() + b"\n" + iv + AESGCM(key.secret).encrypt(iv, data_key, aad)
        return DataKey(sealed, Aead(data_key))

    def _open(self, operation: str, caller: FakeCaller, sealed: bytes, context: Mapping[str, str]) -> bytes:
        self.calls.append((operation, ""))
        self._fail_if_asked()
        if not sealed.startswith(_MAGIC) or b"\n" not in sealed:
            raise KmsCiphertextRejected("InvalidCiphertextException", "", 400)
        key_id, body = sealed[len(_MAGIC):].split(b"\n", 1)
        name = key_id.decode()
        if name not in self.keys:
            raise KmsKeyGone("InvalidCiphertextException", "", 400)
        caller.resources.append(f"key:{name}")
        key = self._usable(name)
        aad = json.dumps(dict(context), sort_keys=True).encode()
        try:
            return AESGCM(key.secret).decrypt(body[:12], body[12:], aad)
        except (InvalidTag, ValueError):
            raise KmsCiphertextRejected("InvalidCiphertextException", "", 400) from None
