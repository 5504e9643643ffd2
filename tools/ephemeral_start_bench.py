"""Time from process start to the first successful signed request, for `paramstore serve
--ephemeral` (or, with --data-dir-mode, a normal start on a new data dir).

    .venv/bin/python tools/ephemeral_start_bench.py [-n 20] [--data-dir-mode | --compare]

Each run starts the server on a free port with the access key in
PARAMSTORE_ADMIN_ACCESS_KEY_ID / _SECRET_ACCESS_KEY, calls SSM DescribeParameters (signed
with that key) until it succeeds, and stops the server with SIGTERM.  The client (boto3)
is imported and built before the clock starts.  Prints every time, the median and the p90.
With --compare the two kinds of start alternate, so both see the same machine load.
The figures are in docs/testing-apps.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

ACCESS_KEY_ID = "AKIAEPHEMERALBENCH01"
SECRET = "ephemeral-bench-secret-0123456789abcdefgh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(data_dir_mode: bool) -> float:
    port = free_port()
    ssm = boto3.client("ssm", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET,
                       config=Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=30))
    env = dict(os.environ, PARAMSTORE_ADMIN_ACCESS_KEY_ID=ACCESS_KEY_ID, PARAMSTORE_ADMIN_SECRET_ACCESS_KEY=SECRET)
    with tempfile.TemporaryDirectory() as cwd:
        args = [sys.executable, "-m", "paramstore", "serve", "--port", str(port)]
        args += ["--data-dir", os.path.join(cwd, "data")] if data_dir_mode else ["--ephemeral"]
        started = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    ssm.describe_parameters()
                    return time.perf_counter() - started
                except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError):
                    if proc.poll() is not None:
                        raise SystemExit(f"the server exited with {proc.returncode}") from None
                    time.sleep(0.005)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def report(label: str, times: list[float]) -> None:
    times = sorted(times)
    p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
    print(f"{label}: {len(times)} starts, time to first successful signed request (s):")
    print("  " + " ".join(f"{t:.3f}" for t in times))
    print(f"  median {statistics.median(times):.3f}  p90 {p90:.3f}  min {times[0]:.3f}  max {times[-1]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20, help="starts to time (default 20)")
    parser.add_argument("--data-dir-mode", action="store_true",
                        help="time `serve --data-dir NEW_DIR` instead of `serve --ephemeral`")
    parser.add_argument("--compare", action="store_true", help="time both, alternating")
    options = parser.parse_args()
    modes = [False, True] if options.compare else [options.data_dir_mode]
    for data_dir_mode in modes:
        one_start(data_dir_mode)  # warm the file system cache; not counted
    times: dict[bool, list[float]] = {mode: [] for mode in modes}
    for _ in range(options.n):
        for data_dir_mode in modes:
            times[data_dir_mode].append(one_start(data_dir_mode))
    for data_dir_mode in modes:
        report("serve --data-dir (new)" if data_dir_mode else "serve --ephemeral", times[data_dir_mode])


if __name__ == "__main__":
    main()
