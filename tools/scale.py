"""Does cost stay flat as the store grows?  Fill a store in steps (1k, 100k, 1M parameters
by default, and keys alongside) through the bulk path, and after each step time every
operation against a real server on that store: server CPU per operation (all of the
server's threads, from /proc/<pid>/task/*/schedstat) and the client's p50.

    python tools/scale.py --data-dir /tmp/scale-sqlite
    python tools/scale.py --database-url postgresql://postgres@127.0.0.1:5432/scale --data-dir /tmp/scale-pg

The store holds parameters within AWS's quotas: up to 99,000 per account and Region
(8,000 Standard, the rest Advanced: room for new ones under both quotas), in as many
accounts as the size needs, the first being the one the requests use.  Names are
`/scale/svc<k>/p<n>` (50 to a folder); every fifth has three versions, every tenth a
label, each a tag team=t0..t9.  Keys: a tenth of the parameter count, up to --keys
(90,000 in the requests' account, the rest in a second), each with an alias, every fifth
with a grant.  The result goes to --out as JSON and is printed as a Markdown table
(ratios against the first size).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import boto3
import httpx
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ACCESS_KEY_ID = "AKIASCALE00000000000"
SECRET = "scale-secret-not-for-production"
ACCOUNT = "111122223333"
REGION = "us-east-1"
PER_ACCOUNT = 99_000
STANDARD_PER_ACCOUNT = 8_000
KEYS_IN_FIRST_ACCOUNT = 90_000
FOLDER = 50


def account_of(index: int) -> str:
    return ACCOUNT if index < PER_ACCOUNT else f"{200000000000 + index // PER_ACCOUNT:012d}"


def parameter_name(index: int) -> str:
    local = index % PER_ACCOUNT
    return f"/scale/svc{local // FOLDER}/p{local}"


def bulk_parameters(start: int, stop: int) -> Iterator:
    from paramstore.ssm.storage.bulk import BulkParameter

    for i in range(start, stop):
        local = i % PER_ACCOUNT
        versions = 3 if local % 5 == 0 else 1
        yield BulkParameter(
            account_id=account_of(i), region=REGION, name=parameter_name(i),
            values=[f"value-{i}-v{v}" for v in range(1, versions + 1)],
            type="StringList" if local % 4 == 3 else "String",
            tier="Standard" if local < STANDARD_PER_ACCOUNT else "Advanced",
            labels={"stable": 1} if local % 10 == 0 else {}, tags={"team": f"t{local % 10}"})


def bulk_keys(start: int, stop: int) -> Iterator:
    from kms_core.storage.bulk import BulkKey

    for n in range(start, stop):
        account = ACCOUNT if n < KEYS_IN_FIRST_ACCOUNT else "200000000099"
        yield BulkKey(account, REGION, description=f"scale key {n}", alias=f"alias/scale/k{n}",
                      grantees=[f"arn:aws:iam::{account}:role/app{n % 7}"] if n % 5 == 0 else [])


def fill(settings, params: tuple[int, int], keys: tuple[int, int]) -> tuple[float, list[str]]:
    """Fill in-process through the bulk paths; (seconds taken, the new keys' ids)."""
    from kms_core.storage.bulk import insert_keys
    from paramstore.bootstrap import open_store
    from paramstore.ssm.storage.bulk import insert_parameters

    store = open_store(settings)
    started = time.perf_counter()
    try:
        now = time.time()
        insert_parameters(store.db, store.params.kms_port, bulk_parameters(*params), now,
                          f"arn:aws:iam::{ACCOUNT}:root")
        ids = insert_keys(store.db, store.root, bulk_keys(*keys), now)
    finally:
        store.close()
    return time.perf_counter() - started, ids


def sizes_on_disk(settings) -> dict:
    """Bytes the Parameter Store's tables take, and how many versions they hold."""
    from sqlalchemy import text

    from kms_core.storage.session import Database

    db = Database(settings.resolved_database_url())
    tables = ("ssm_parameter", "ssm_parameter_version", "ssm_parameter_label", "ssm_parameter_tag")
    try:
        with db.engine.connect() as conn:
            versions = conn.execute(text("SELECT count(*) FROM ssm_parameter_version")).scalar_one()
            if db.is_sqlite:
                try:
                    ssm = conn.execute(text(
                        "SELECT sum(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_master WHERE "
                        f"tbl_name IN ({', '.join(repr(t) for t in tables)}))")).scalar_one()
                except Exception:  # no dbstat in this SQLite build
                    ssm = None
                whole = sum(p.stat().st_size for p in Path(settings.data_dir).glob("paramstore.db*"))
            else:
                ssm = sum(conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar_one() for t in tables)
                whole = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    finally:
        db.dispose()
    return {"versions": versions, "ssm_bytes": ssm, "database_bytes": whole,
            "bytes_per_version": round(ssm / versions) if ssm and versions else None}


class Server:
    def __init__(self, data_dir: Path, database_url: str | None, port: int) -> None:
        env = dict(os.environ, PARAMSTORE_ADMIN_ACCESS_KEY_ID=ACCESS_KEY_ID,
                   PARAMSTORE_ADMIN_SECRET_ACCESS_KEY=SECRET)
        args = [sys.executable, "-m", "paramstore", "serve", "--port", str(port), "--data-dir", str(data_dir)]
        if database_url:
            args += ["--database-url", database_url]
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(Path(data_dir) / "scale-server.log", "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        for _ in range(600):
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit("server did not start")

    def cpu_ns(self) -> int:
        total = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass  # a thread that ended between the listing and the read
        return total

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                            aws_secret_access_key=SECRET, config=Config(retries={"total_max_attempts": 1}))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def measure(server: Server, call: Callable[[int], object], n: int, warmup: int = 20) -> dict:
    for i in range(warmup):
        call(-1 - i)
    latencies = []
    before = server.cpu_ns()
    for i in range(n):
        started = time.perf_counter()
        call(i)
        latencies.append(time.perf_counter() - started)
    used = server.cpu_ns() - before
    return {"cpu_us": round(used / n / 1000, 1), "p50_ms": round(statistics.median(latencies) * 1000, 2)}


def operations(server: Server, size: int, key_ids: list[str], rng: random.Random,
               gone: set[int]) -> dict[str, Callable]:
    """The timed calls; `gone`: bulk parameters deleted by earlier steps (this one's are added)."""
    ssm, kms = server.client("ssm"), server.client("kms")
    held = min(size, PER_ACCOUNT)  # parameters in the requests' account
    picks = rng.sample([i for i in range(held) if i not in gone], min(held - len(gone), 2000))
    reads, deletes = picks[: len(picks) // 2], picks[len(picks) // 2:]
    gone.update(deletes)
    # the same number of distinct folders and keys at every size, so the server's caches
    # behave alike and only the store's size differs
    folders = rng.sample(range(max(1, held // FOLDER)), min(20, max(1, held // FOLDER)))
    for i in range(20):
        ssm.put_parameter(Name=f"/scale/hot/{size}/s{i}", Value=f"secret-{i}", Type="SecureString", Overwrite=True)
    mine = rng.sample(key_ids[:KEYS_IN_FIRST_ACCOUNT], min(20, len(key_ids)))

    def pick(pool: list, i: int):
        return pool[i % len(pool)]

    return {
        "GetParameter (bulk String, cold)": lambda i: ssm.get_parameter(
            Name=parameter_name(pick(reads, i)), WithDecryption=True),
        "GetParameter (SecureString, warm)": lambda i: ssm.get_parameter(
            Name=f"/scale/hot/{size}/s{i % 20}", WithDecryption=True),
        "PutParameter (new)": lambda i: ssm.put_parameter(
            Name=f"/scale/new/{size}/{'w' if i < 0 else 'n'}{abs(i)}", Value="v", Type="SecureString"),
        "PutParameter (overwrite)": lambda i: ssm.put_parameter(
            Name=parameter_name(pick(reads, i)), Value=f"over-{i}", Overwrite=True),
        "GetParametersByPath (10)": lambda i: ssm.get_parameters_by_path(
            Path=f"/scale/svc{pick(folders, i)}", MaxResults=10, WithDecryption=True),
        "DescribeParameters (Name BeginsWith)": lambda i: ssm.describe_parameters(ParameterFilters=[
            {"Key": "Name", "Option": "BeginsWith", "Values": [f"/scale/svc{pick(folders, i)}/"]}]),
        "DescribeParameters (tag filter)": lambda i: ssm.describe_parameters(ParameterFilters=[
            {"Key": "tag:team", "Values": [f"t{i % 10}"]}]),
        "LabelParameterVersion": lambda i: ssm.label_parameter_version(
            Name=parameter_name(pick(reads, i)), ParameterVersion=1, Labels=[f"l{abs(i) % 9}"]),
        "DeleteParameter": lambda i: ssm.delete_parameter(Name=parameter_name(deletes[i + 20])),
        "Encrypt (20 bulk keys)": lambda i: kms.encrypt(KeyId=pick(mine, i), Plaintext=b"x" * 32),
        "CreateKey": lambda i: kms.create_key(),
        "ListAliases (a page of 50)": lambda i: kms.list_aliases(Limit=50),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--database-url")
    p.add_argument("--sizes", default="1000,100000,1000000")
    p.add_argument("--keys", type=int, default=100_000, help="keys at the largest size (a tenth of the parameters)")
    p.add_argument("--ops", type=int, default=450, help="timed calls per operation")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median is reported)")
    p.add_argument("--port", type=int, default=5190)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    os.environ.update(PARAMSTORE_ADMIN_ACCESS_KEY_ID=ACCESS_KEY_ID, PARAMSTORE_ADMIN_SECRET_ACCESS_KEY=SECRET)
    from paramstore.settings import Settings

    settings = Settings(data_dir=args.data_dir, database_url=args.database_url, account_id=ACCOUNT)
    sizes = [int(s) for s in args.sizes.split(",")]
    if max(sizes) > 20 * PER_ACCOUNT:
        raise SystemExit("sizes above 1,980,000 need more accounts than the naming scheme spreads over")
    have_params = have_keys = 0
    key_ids: list[str] = []
    results = []
    rng = random.Random(7)
    gone: set[int] = set()
    for size in sizes:
        want_keys = min(args.keys, size // 10)
        seconds, ids = fill(settings, (have_params, size), (have_keys, want_keys))
        key_ids += ids
        print(f"filled to {size} parameters and {want_keys} keys in {seconds:.0f} s", file=sys.stderr)
        have_params, have_keys = size, want_keys
        server = Server(args.data_dir, args.database_url, args.port)
        try:
            calls = operations(server, size, key_ids, rng, gone)
            rounds: dict[str, list[dict]] = {name: [] for name in calls}
            per_round = args.ops // args.rounds
            for r in range(args.rounds):  # interleaved rounds: a sweep or checkpoint taints one, not all
                for name, call in calls.items():
                    rounds[name].append(measure(server, lambda i, call=call, r=r: call(
                        i if i < 0 else r * per_round + i), per_round, warmup=20 if r == 0 else 0))
            timed = {name: {"cpu_us": statistics.median(m["cpu_us"] for m in ms),
                            "p50_ms": statistics.median(m["p50_ms"] for m in ms)} for name, ms in rounds.items()}
        finally:
            server.stop()
        results.append({"parameters": size, "keys": want_keys, "fill_seconds": round(seconds, 1),
                        "disk": sizes_on_disk(settings), "operations": timed})
        print(json.dumps(results[-1]), file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    first = results[0]["operations"]
    header = " | ".join(f"{r['parameters']:,} CPU µs (p50 ms)" for r in results)
    print(f"| operation | {header} | CPU ratio, largest ÷ smallest |")
    print("|---|" + "---|" * (len(results) + 1))
    for name in first:
        cells = " | ".join(f"{r['operations'][name]['cpu_us']} ({r['operations'][name]['p50_ms']})" for r in results)
        ratio = results[-1]["operations"][name]["cpu_us"] / first[name]["cpu_us"]
        print(f"| {name} | {cells} | {ratio:.2f} |")
    for r in results:
        print(f"\n{r['parameters']:,} parameters: {json.dumps(r['disk'])}, filled in {r['fill_seconds']} s")


if __name__ == "__main__":
    main()
