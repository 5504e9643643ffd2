"""Concurrent writers on one parameter, through two server processes sharing a database:
every put gets its own version number, with no gaps and no duplicates, and the newest 100
versions stay readable.  On both databases."""

from __future__ import annotations

import base64
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.process_helpers import ServerProcess

WRITERS = 8
PUTS_PER_WRITER = 50


@pytest.fixture
def two_servers(fresh_database, tmp_path):
    root_key = base64.b64encode(os.urandom(32)).decode()
    # 400 durable puts from two processes contend for one SQLite write lock: on a loaded
    # machine a put may wait longer than the 5 s default (tests/api/test_database_stalls.py
    # covers what happens then); this test is about versions, so it gives them 30 s.
    servers = [ServerProcess(tmp_path, fresh_database[1], root_key, extra_args=("--db-timeout", "30")).wait_ready()
               for _ in range(2)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("param_type", ["SecureString"])
def test_eight_writers_fifty_overwrites_each_give_versions_1_to_400(two_servers, param_type):
    name = f"/concurrency/{param_type}/value"
    start = threading.Barrier(WRITERS)

    def writer(index: int) -> list[tuple[int, str]]:
        client = two_servers[index % 2].client("ssm")
        start.wait()
        done = []
        for n in range(PUTS_PER_WRITER):
            value = f"w{index}-n{n}"
            version = client.put_parameter(Name=name, Value=value, Type=param_type, Overwrite=True)["Version"]
            done.append((version, value))
        return done

    with ThreadPoolExecutor(WRITERS) as pool:
        results = [put for batch in pool.map(writer, range(WRITERS)) for put in batch]

    versions = sorted(version for version, _ in results)
    total = WRITERS * PUTS_PER_WRITER
    assert versions == list(range(1, total + 1))  # no gaps, no duplicates

    written = dict(results)
    for server in two_servers:
        ssm = server.client("ssm")
        latest = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        assert latest["Version"] == total
        assert latest["Value"] == written[total]
        history, token = [], None
        while True:
            page = ssm.get_parameter_history(Name=name, WithDecryption=True, **({"NextToken": token} if token else {}))
            history += page["Parameters"]
            token = page.get("NextToken")
            if not token:
                break
        assert [h["Version"] for h in history] == list(range(total - 99, total + 1))
        assert all(h["Value"] == written[h["Version"]] for h in history)
        for version in (total - 99, total - 50, total):
            got = ssm.get_parameter(Name=f"{name}:{version}", WithDecryption=True)["Parameter"]
            assert got["Value"] == written[version]
