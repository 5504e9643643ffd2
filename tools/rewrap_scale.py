"""How long a root-key rotation's rewrap takes as the store grows: fill a store with N keys
(one wrapped key material each), rotate file -> file, and time the rewrap to the end.

    .venv/bin/python tools/rewrap_scale.py [--keys 10000 100000]      (SQLite, a new store per size)

Prints values per second for each size: a flat rate means one pass reads each row once."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def measure(keys: int, data_dir: Path) -> None:
    from kms_core.audit import AuditLog
    from kms_core.storage import root_versions
    from kms_core.storage.bulk import BulkKey, insert_keys
    from kms_core.storage.root_rotation import finish_step
    from paramstore.bootstrap import open_store
    from paramstore.settings import Settings

    store = open_store(Settings(data_dir=data_dir))
    store.db.audit_log = AuditLog(store.db, store.root, store.kms.clock)
    insert_keys(store.db, store.root, (BulkKey("111122223333", "us-east-1") for _ in range(keys)), store.kms.clock())
    started = time.perf_counter()
    root_versions.rotate(store.db, store.root, "file", data_dir, store.kms.clock())
    cursor, steps = root_versions.RewrapCursor(), 0
    while (step := finish_step(store.db, store.root, store.kms.clock, "bench", 500, cursor)) is not None:
        assert not step.stuck, step.stuck
        steps += 1
    took = time.perf_counter() - started
    values = sum(n for per in root_versions.counts(store.db).values() for n in per.values())
    print(f"{keys:>8} keys: {values} values rewrapped in {took:6.2f} s = {values / took:8.0f} values/s "
          f"({steps} steps)")
    store.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    for n in args.keys:
        with tempfile.TemporaryDirectory() as tmp:
            measure(n, Path(tmp))


if __name__ == "__main__":
    main()
