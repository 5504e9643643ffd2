"""kmsbench with asymmetric and HMAC scenarios, in the same style and with the same runner.

Adds to the shared kmsbench.py (unchanged, imported from BENCH_DIR):

  kms-sign-p256      Sign ECDSA_SHA_256, a 1 KiB RAW message, ECC_NIST_P256 key
  kms-sign-rsa2048   Sign RSASSA_PSS_SHA_256, a 1 KiB RAW message, RSA_2048 key
  kms-verify-p256    Verify that ECDSA signature (server-side verification)
  kms-generate-mac   GenerateMac HMAC_SHA_256 over 1 KiB, HMAC_256 key

Usage: the same arguments as kmsbench.py, e.g.
    BENCH_DIR=../shared/bench python tools/kmsbench_asym.py -e ours=http://127.0.0.1:5101 -s kms-sign-p256
(tools/bench.sh runs it beside the floor app with KMSBENCH=tools/kmsbench_asym.py.)
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.environ.get("BENCH_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench")))
import kmsbench  # noqa: E402

MESSAGE = kmsbench.PLAINTEXT_1K
SCENARIOS = {
    # name: (KeySpec, KeyUsage, algorithm)
    "kms-sign-p256": ("ECC_NIST_P256", "SIGN_VERIFY", "ECDSA_SHA_256"),
    "kms-sign-rsa2048": ("RSA_2048", "SIGN_VERIFY", "RSASSA_PSS_SHA_256"),
    "kms-verify-p256": ("ECC_NIST_P256", "SIGN_VERIFY", "ECDSA_SHA_256"),
    "kms-generate-mac": ("HMAC_256", "GENERATE_VERIFY_MAC", "HMAC_SHA_256"),
}

_setup, _make_op = kmsbench.setup, kmsbench.make_op


def setup(scenario: str, kms, ssm, run_id: str) -> dict:
    if scenario not in SCENARIOS:
        return _setup(scenario, kms, ssm, run_id)
    spec, usage, algorithm = SCENARIOS[scenario]
    ctx: dict = {"run_id": run_id, "prefix": f"/kmsbench/{run_id}", "algorithm": algorithm}
    ctx["key_id"] = kms.create_key(Description=f"kmsbench {run_id}", KeySpec=spec,
                                   KeyUsage=usage)["KeyMetadata"]["KeyId"]
    if scenario == "kms-verify-p256":
        ctx["signature"] = kms.sign(KeyId=ctx["key_id"], Message=MESSAGE,
                                    SigningAlgorithm=algorithm)["Signature"]
    return ctx


def make_op(scenario: str, kms, ssm, ctx: dict, worker: int):
    if scenario not in SCENARIOS:
        return _make_op(scenario, kms, ssm, ctx, worker)
    key, algorithm = ctx["key_id"], ctx["algorithm"]
    if scenario.startswith("kms-sign"):
        def op() -> None:
            if not kms.sign(KeyId=key, Message=MESSAGE, SigningAlgorithm=algorithm).get("Signature"):
                raise kmsbench.CheckFailed("Sign returned no Signature")
    elif scenario == "kms-verify-p256":
        signature = ctx["signature"]

        def op() -> None:
            if not kms.verify(KeyId=key, Message=MESSAGE, Signature=signature,
                              SigningAlgorithm=algorithm).get("SignatureValid"):
                raise kmsbench.CheckFailed("Verify did not say SignatureValid")
    else:
        def op() -> None:
            if len(kms.generate_mac(KeyId=key, Message=MESSAGE, MacAlgorithm=algorithm).get("Mac", b"")) != 32:
                raise kmsbench.CheckFailed("GenerateMac: not 32 bytes")
    return op


kmsbench.setup, kmsbench.make_op = setup, make_op
kmsbench.PUBLIC_SCENARIOS.extend(SCENARIOS)

if __name__ == "__main__":
    sys.exit(kmsbench.main())
