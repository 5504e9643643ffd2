"""Server CPU per request of Secrets Manager GetSecretValue against Parameter Store
GetParameter of a SecureString (WithDecryption), on one server in the same run: each
request signed once and replayed over a keep-alive connection (no boto3 in the loop), the
two alternating round by round (ABBA), the server's CPU from /proc.  Optionally the same
pair under wrk (server-only capacity).

    python tools/secrets_bench.py [--database-url URL] [--rounds 7] [--requests 3000] [--wrk 5]

Starts its own server (`paramstore serve`, a temporary data dir) on a free port, with the
default AWS-managed keys (aws/ssm, aws/secretsmanager) and a value of the same size in both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_cpu import run, signed  # noqa: E402

KEY_ID, SECRET = "AKIABENCHMARK0000000", "bench-secret-not-for-production"
REGION = "us-east-1"
VALUE = "postgres://app:" + "p" * 40 + "@db.internal:5432/app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, target: str, body: str, seconds: int, lua: Path) -> float:
    """Requests per second wrk gets from the server with one signed request replayed."""
    headers = signed(url, target, body.encode(), REGION)
    env = dict(os.environ, AWS_TARGET=target, AWS_BODY=body, AWS_SERVICE=target.split(".")[0],
               AWS_DATE=headers["X-Amz-Date"], AWS_AUTH=headers["Authorization"])
    out = subprocess.run(["wrk", "-t1", "-c4", f"-d{seconds}s", "-s", str(lua), url + "/"], env=env,
                         capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("Requests/sec:"))
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors for {target}:\n{out}")
    return float(line.split()[1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--database-url")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--wrk", type=int, default=0, help="seconds of wrk per target and round (0: skip)")
    p.add_argument("--bench-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "bench"))
    a = p.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)
    data = Path(tempfile.mkdtemp(prefix="secrets-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [str(Path(sys.executable).parent / "paramstore"), "serve", "--port", str(port), "--data-dir", str(data)]
    if a.database_url:
        args += ["--database-url", a.database_url]
    server = subprocess.Popen(args, env=dict(os.environ, PARAMSTORE_ADMIN_ACCESS_KEY_ID=KEY_ID,
                                             PARAMSTORE_ADMIN_SECRET_ACCESS_KEY=SECRET),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        clients = {s: boto3.client(s, endpoint_url=url, region_name=REGION) for s in ("ssm", "secretsmanager")}
        for _ in range(200):
            try:
                clients["ssm"].describe_parameters(MaxResults=1)
                break
            except Exception:
                time.sleep(0.05)
        name = f"bench-{int(time.time())}"
        clients["ssm"].put_parameter(Name="/" + name, Value=VALUE, Type="SecureString")
        clients["secretsmanager"].create_secret(Name=name, SecretString=VALUE)
        requests = {
            "GetParameter(SecureString)": ("AmazonSSM.GetParameter",
                                           json.dumps({"Name": "/" + name, "WithDecryption": True})),
            "GetSecretValue": ("secretsmanager.GetSecretValue", json.dumps({"SecretId": name})),
        }
        cpu: dict[str, list[float]] = {k: [] for k in requests}
        rps: dict[str, list[float]] = {k: [] for k in requests}
        order = list(requests)
        lua = Path(a.bench_dir) / "wrk_aws_json.lua"
        for i in range(a.rounds):
            for label in (order if i % 2 == 0 else order[::-1]):
                target, body = requests[label]
                cpu[label].append(run(url, server.pid, signed(url, target, body.encode(), REGION), body.encode(),
                                      a.requests))
                if a.wrk:
                    rps[label].append(wrk(url, target, body, a.wrk, lua))
        first, second = order
        report = {"database": "postgresql" if a.database_url else "sqlite",
                  "server_cpu_us_per_op": {k: round(statistics.median(v), 1) for k, v in cpu.items()},
                  "rounds_us": {k: [round(x, 1) for x in v] for k, v in cpu.items()},
                  "cpu_ratio_secret_to_parameter": round(statistics.median(
                      s / g for s, g in zip(cpu[second], cpu[first])), 3)}
        if a.wrk:
            report["wrk_req_per_s"] = {k: round(statistics.median(v)) for k, v in rps.items()}
        print(json.dumps(report))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
