"""A policy wildcard against a value the caller controls must not stall the server: a
`StringLike` of `*-*-*-*-*-*-x` against 1,000 dashes takes a backtracking regex longer than
any client waits (and blocks every other request meanwhile); the server answers at once."""

from __future__ import annotations

import time

import boto3
from botocore.config import Config

from tests.api.test_authorization import Identities, allow, denied, policy
from tests.conftest import REGION

PATTERN = "*-*-*-*-*-*-x"


def test_hostile_string_like_value_is_answered_quickly(server, kms, key_id):
    ids = Identities(server)
    statement = allow(["kms:Encrypt", "kms:Decrypt"], "arn:aws:kms:*:*:key/*",
                      Condition={"StringLike": {"kms:EncryptionContext:k": PATTERN}})
    _, _, _, key = ids.user(policy(statement))
    # a short read timeout: if matching ever backtracks again this fails instead of hanging
    user = boto3.client("kms", endpoint_url=server.url, region_name=REGION,
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=15, connect_timeout=5))
    user.encrypt(KeyId=key_id, Plaintext=b"warm-up", EncryptionContext={"k": "-" * 6 + "x"})

    started = time.monotonic()
    denied(user.encrypt, KeyId=key_id, Plaintext=b"x", EncryptionContext={"k": "-" * 1000})
    assert time.monotonic() - started < 2

    started = time.monotonic()
    denied(user.encrypt, KeyId=key_id, Plaintext=b"x", EncryptionContext={"k": "-" * 4 + "a" * 996 + "-x"})
    assert time.monotonic() - started < 2

    context = {"k": "-" * 999 + "x"}
    started = time.monotonic()
    blob = user.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext=context)["CiphertextBlob"]
    assert user.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"x"
    assert time.monotonic() - started < 2

    # the server kept serving everyone else
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id
