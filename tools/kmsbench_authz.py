"""kmsbench with a realistic authorization load on the benchmark key.

Runs the shared kmsbench.py unchanged, except that every key it creates gets a
non-default key policy of 10 statements with conditions and 10 grants, so the measured
Encrypt/Decrypt/GenerateDataKey calls pay for full policy evaluation (and, on the server,
auditing).  Usage: the same arguments as kmsbench.py; BENCH_DIR points at it.

    BENCH_DIR=../shared/bench python tools/kmsbench_authz.py -e ours=http://127.0.0.1:5101 -s kms-encrypt
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.environ.get("BENCH_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench")))
import kmsbench  # noqa: E402


def _policy(account: str) -> str:
    root = f"arn:aws:iam::{account}:root"
    statements = [{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": root},
                   "Action": "kms:*", "Resource": "*"}]
    for i in range(9):
        statements.append({
            "Sid": f"Conditional{i}", "Effect": "Deny" if i % 3 == 0 else "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:EncryptionContext:tenant": f"tenant-{i}"},
                "IpAddress": {"aws:SourceIp": f"10.{i}.0.0/16"},
                "StringLike": {"aws:PrincipalArn": f"arn:aws:iam::{account}:role/app-{i}-*"},
            },
        })
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


_original_create_key = kmsbench._create_key
#: ports of servers (e.g. an older build) that get kmsbench's plain key instead
PLAIN_PORTS = [p for p in os.environ.get("KMSBENCH_PLAIN_PORTS", "").split(",") if p]


def _create_key_with_authz(kms, run_id: str) -> str:
    key_id = _original_create_key(kms, run_id)
    if any(kms.meta.endpoint_url.rstrip("/").endswith(":" + port) for port in PLAIN_PORTS):
        return key_id  # a baseline server benchmarked with the plain key in the same run
    account = kms.describe_key(KeyId=key_id)["KeyMetadata"]["AWSAccountId"]
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=_policy(account))
    for i in range(10):
        kms.create_grant(KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{account}:role/grantee-{i}",
                         Operations=["Decrypt", "Encrypt", "GenerateDataKey"],
                         Constraints={"EncryptionContextSubset": {"tenant": f"t{i}"}})
    return key_id


kmsbench._create_key = _create_key_with_authz

if __name__ == "__main__":
    sys.exit(kmsbench.main())
