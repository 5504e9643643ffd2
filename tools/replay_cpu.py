"""Server CPU per request without boto3 in the loop: one request, signed once, replayed over
one keep-alive connection; the server process's CPU time (from /proc) divided by requests.

    python tools/replay_cpu.py --url http://127.0.0.1:5101 --pid PID [--url ... --pid ...] \\
        --target AmazonSSM.GetParameter --body '{"Name": "/bench/p", "WithDecryption": true}'

Several servers are measured in alternating rounds (A/B in one run, ABBA order).  Credentials come from
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; the request must succeed (HTTP 200) on each.
The signature stays valid for 5 minutes: keep `--requests * --rounds` modest.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def signed(url: str, target: str, body: bytes, region: str) -> dict:
    service = {"AmazonSSM": "ssm", "secretsmanager": "secretsmanager"}.get(target.split(".")[0], "kms")
    request = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    SigV4Auth(creds, service, region).add_auth(request)
    return dict(request.headers.items())


def run(url: str, pid: int, headers: dict, body: bytes, n: int) -> float:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    conn.request("POST", "/", body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise SystemExit(f"{url}: HTTP {response.status} {payload[:200]!r}")
    before = cpu_seconds(pid)
    for _ in range(n):
        conn.request("POST", "/", body=body, headers=headers)
        conn.getresponse().read()
    used = cpu_seconds(pid) - before
    conn.close()
    return used / n * 1e6


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", action="append", required=True)
    p.add_argument("--pid", action="append", type=int, required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--body", default="{}")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    body = a.body.encode()
    results: dict[str, list[float]] = {u: [] for u in a.url}
    servers = list(zip(a.url, a.pid))
    for i in range(a.rounds):
        # ABBA: alternate which server goes first, so warm-up and drift don't favour one
        for url, pid in (servers if i % 2 == 0 else servers[::-1]):
            results[url].append(run(url, pid, signed(url, a.target, body, a.region), body, a.requests))
    out: dict = {url: {"median_us": round(statistics.median(v), 1), "rounds_us": [round(x, 1) for x in v]}
                 for url, v in results.items()}
    if len(a.url) == 2:  # A/B: the median of the per-round ratios (rounds alternate, so pairs share conditions)
        first, second = results[a.url[0]], results[a.url[1]]
        out["paired_ratio_median"] = round(statistics.median(x / y for x, y in zip(first, second)), 3)
    print(json.dumps({"target": a.target, "results": out}))


if __name__ == "__main__":
    main()
