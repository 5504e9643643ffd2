"""Server time of the console's folder page for a folder of many parameters.

Starts a server on a fresh store (SQLite, or --database-url for PostgreSQL), puts
--count parameters directly in one folder (plus a few sub-folders), signs in, and asks for
the folder's first page --requests times.  The figure is the server's own time per page,
from the Server-Timing header the console sets (sign-in check, every DescribeParameters
call through dispatch, rendering); the client's round trip is shown beside it.

    .venv/bin/python tools/console_bench.py [--count 1000] [--requests 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, start_server  # noqa: E402

FOLDER = "/bench/folder"


def fill(server, count: int) -> None:
    ssm = server.client("ssm")

    def put(i: int) -> None:
        ssm.put_parameter(Name=f"{FOLDER}/param-{i:05d}", Value=f"value-{i}", Type="String")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))
    for sub in ("alpha", "beta", "gamma"):
        ssm.put_parameter(Name=f"{FOLDER}/{sub}/inner", Value="x", Type="String")


def sign_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    form = client.get("/console/signin").text
    token = re.search(r'name="token" value="([^"]*)"', form).group(1)
    response = client.post("/console/signin", data={"token": token, "access_key_id": ACCESS_KEY_ID,
                                                    "secret": SECRET_ACCESS_KEY, "region": "us-east-1"})
    assert response.status_code == 303, response.text
    return client


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        backend = "postgres" if args.database_url else "sqlite"
        server, stop = start_server(Path(tmp) / "data", args.database_url, backend)
        try:
            started = time.time()
            fill(server, args.count)
            print(f"{backend}: {args.count} parameters in {FOLDER}/ (+3 sub-folders), filled in "
                  f"{time.time() - started:.1f} s")
            client = sign_in(server.url)
            server_ms, round_trip_ms = [], []
            for i in range(args.requests + 10):
                t0 = time.perf_counter()
                page = client.get("/console/parameters", params={"path": FOLDER + "/"})
                elapsed = (time.perf_counter() - t0) * 1000
                assert page.status_code == 200 and "param-00000" in page.text and "alpha/" in page.text
                if i >= 10:  # warm-up
                    server_ms.append(float(page.headers["server-timing"].split("dur=")[1]))
                    round_trip_ms.append(elapsed)
            rows = page.text.count("<tr>") - 1
            print(f"first page ({rows} rows of {args.count}), {args.requests} requests:")
            for label, values in (("server time", server_ms), ("round trip", round_trip_ms)):
                print(f"  {label:12s} median {statistics.median(values):6.2f} ms   p90 {percentile(values, .9):6.2f} ms"
                      f"   p99 {percentile(values, .99):6.2f} ms")
        finally:
            stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
