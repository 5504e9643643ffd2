"""What a cache fill costs with each root: the unwrap of one key's material, and a whole
cold key load (`KmsCore.key`: one SQL read and the unwrap), with the root in process
memory (a key file) and in a SoftHSM2 token.

    .venv/bin/python tools/root_fill_bench.py [--keys 300] [--rounds 5]

Needs softhsm2-util (Debian's softhsm2).  Prints microseconds per operation, the median
of the rounds.  Only cache fills reach the root: a warm request never does."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")


def softhsm(directory: Path) -> str:
    module = next((m for m in MODULES if Path(m).exists()), None)
    if module is None or shutil.which("softhsm2-util") is None:
        sys.exit("softhsm2 is not installed (apt-get install softhsm2)")
    (directory / "tokens").mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ.update(SOFTHSM2_CONF=str(conf), PARAMSTORE_PKCS11_PIN="1234", PARAMSTORE_PKCS11_MODULE=module)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--so-pin", "5678", "--pin", "1234"],
                   check=True, capture_output=True)
    uri = "pkcs11:token=bench;object=bench-root"
    from kms_core.crypto.pkcs11_root import Pkcs11Uri, init_hsm_key

    init_hsm_key(Pkcs11Uri.parse(uri))
    return uri


def per_op(run: Callable[[int], object], n: int, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(n):
            run(i)
        times.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(times)


def measure(label: str, data_dir: Path, uri: str | None, keys: int, rounds: int) -> None:
    from kms_core.audit import AuditLog
    from paramstore.bootstrap import open_store
    from paramstore.settings import Settings

    store = open_store(Settings(data_dir=data_dir, root_key_uri=uri))
    store.db.audit_log = AuditLog(store.db, store.root, store.kms.clock)
    kms = store.kms
    from kms_core.storage.tables import KeyTable
    from kms_core.storage.unit_of_work import writing

    key_ids = []
    with writing(store.db, store.root) as work:
        for _ in range(keys):
            key_id = os.urandom(16).hex()
            now = kms.clock()
            work.keys.insert(KeyTable(key_id=key_id, account_id="111122223333", region="us-east-1",
                                      key_usage="ENCRYPT_DECRYPT", key_spec="SYMMETRIC_DEFAULT", origin="AWS_KMS",
                                      key_manager="CUSTOMER", key_state="Enabled", creation_date=now, policy="{}"),
                             now)
            key_ids.append(key_id)
    material = os.urandom(32)
    wrapped = store.root.wrap(material, "bench|row")
    unwrap = per_op(lambda i: store.root.unwrap(wrapped, "bench|row"), 2000, rounds)
    wrap = per_op(lambda i: store.root.wrap(material, "bench|row"), 2000, rounds)

    def cold(i: int) -> None:
        if i == 0:
            kms.changed()  # drop the caches: every load below is a fill
        kms.key(key_ids[i])

    fill = per_op(cold, len(key_ids), rounds)
    warm = per_op(lambda i: kms.key(key_ids[i]), len(key_ids), rounds)
    print(f"{label:22s} unwrap {unwrap:7.1f} us   wrap {wrap:7.1f} us   cold key load {fill:7.1f} us   "
          f"warm key load {warm:5.2f} us")
    store.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        uri = softhsm(base / "hsm")
        measure("root in a key file", base / "file", None, args.keys, args.rounds)
        measure("root in SoftHSM2", base / "token", uri, args.keys, args.rounds)


if __name__ == "__main__":
    main()
