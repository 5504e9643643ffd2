"""`paramstore serve --ephemeral`: a throwaway store in a temporary directory.

Each server runs as a real process in an empty working directory, with TMPDIR and HOME
pointing at empty directories of the test's own, so "nothing is written anywhere else"
and "the temporary directory is gone after exit" are checked on the file system.  (How
fast it starts is measured by tools/ephemeral_start_bench.py, not asserted here.)
"""

from __future__ import annotations

import base64
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import boto3
import pytest
from botocore.config import Config

READY_TIMEOUT = 60  # generous: this checks that it starts, not how fast


class EphemeralProcess:
    def __init__(self, tmp_path: Path, *args: str, env: Optional[dict[str, str]] = None) -> None:
        self.cwd, self.tmpdir, self.home = tmp_path / "cwd", tmp_path / "tmp", tmp_path / "home"
        for path in (self.cwd, self.tmpdir, self.home):
            path.mkdir(parents=True)
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("PARAMSTORE_", "AWS_"))}
        environ.update(TMPDIR=str(self.tmpdir), HOME=str(self.home), **(env or {}))
        self.stderr_path = tmp_path / "stderr.txt"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "paramstore", "serve", "--ephemeral", "--port", "0", *args],
                                     cwd=self.cwd, env=environ, stdout=subprocess.PIPE, stderr=self._stderr)
        self.output = ""
        self.exports: dict[str, str] = {}

    def read_exports(self) -> dict[str, str]:
        """The export lines it prints once it listens (its last one names the endpoint)."""
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + READY_TIMEOUT
        while "PARAMSTORE_ENDPOINT_URL=" not in self.output:
            if time.monotonic() > deadline or not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"no endpoint printed: {self.output!r} {self.stderr()}")
            chunk = os.read(self.proc.stdout.fileno(), 65536).decode()
            if not chunk:
                raise AssertionError(f"exited with {self.proc.wait()}: {self.output!r} {self.stderr()}")
            self.output += chunk
        for line in self.output.splitlines():
            if line.startswith("export "):
                name, _, value = line[len("export "):].partition("=")
                self.exports[name] = value
        return self.exports

    def client(self, service: str, access_key_id: Optional[str] = None, secret: Optional[str] = None):
        return boto3.client(service, endpoint_url=self.exports[f"AWS_ENDPOINT_URL_{service.upper()}"],
                            region_name=self.exports["AWS_DEFAULT_REGION"],
                            aws_access_key_id=access_key_id or self.exports["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=secret or self.exports["AWS_SECRET_ACCESS_KEY"],
                            config=Config(retries={"total_max_attempts": 1}, read_timeout=READY_TIMEOUT))

    def store_dirs(self) -> list[Path]:
        return sorted(self.tmpdir.glob("paramstore-ephemeral-*"))

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self._stderr.close()

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


@pytest.fixture
def start(tmp_path):
    started: list[EphemeralProcess] = []

    def start(*args: str, env: Optional[dict[str, str]] = None) -> EphemeralProcess:
        process = EphemeralProcess(tmp_path / str(len(started)), *args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def everything_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_printed_credentials_work_and_nothing_is_left_behind(start, signum):
    server = start()
    exports = server.read_exports()
    assert exports["AWS_ENDPOINT_URL_KMS"] == exports["AWS_ENDPOINT_URL_SSM"] == exports["PARAMSTORE_ENDPOINT_URL"]
    assert exports["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == exports["PARAMSTORE_ENDPOINT_URL"]
    assert exports["AWS_ACCESS_KEY_ID"].startswith("AKIA") and len(exports["AWS_SECRET_ACCESS_KEY"]) == 40

    ssm = server.client("ssm")
    ssm.put_parameter(Name="/myapp/db-password", Value="s3cret", Type="SecureString")
    assert ssm.get_parameter(Name="/myapp/db-password", WithDecryption=True)["Parameter"]["Value"] == "s3cret"
    assert server.client("kms").list_aliases()["Aliases"]  # the same key signs KMS

    # while it runs: the store, its audit trail and its root key in its own temporary directory, and nowhere else
    (store_dir,) = server.store_dirs()
    assert {"paramstore.db", "paramstore-audit.db", "root.key", "store.json"} <= set(everything_under(store_dir))
    assert everything_under(server.cwd) == [] and everything_under(server.home) == []

    assert server.stop(signum) == 0
    assert everything_under(server.tmpdir) == []
    assert everything_under(server.cwd) == [] and everything_under(server.home) == []


def test_credentials_from_the_environment_are_used_and_not_printed(start):
    secret = "environment-secret-0123456789abcdefghijk"
    server = start(env={"PARAMSTORE_ADMIN_ACCESS_KEY_ID": "AKIAFROMENVIRONMENT1", "PARAMSTORE_ADMIN_SECRET_ACCESS_KEY": secret})
    exports = server.read_exports()
    assert exports["AWS_ACCESS_KEY_ID"] == "AKIAFROMENVIRONMENT1"
    assert "AWS_SECRET_ACCESS_KEY" not in exports and secret not in server.output

    kms = server.client("kms", secret=secret)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"hi")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hi"
    assert server.stop() == 0


def test_the_seed_file_applies(start, tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text("""
accounts:
  - id: "444455556666"
    users:
      - name: app
        policies:
          use: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: ["kms:Encrypt", "kms:Decrypt"], Resource: "*"}]}
        access_keys: [{id: AKIASEEDEDAPPUSER001, secret: seeded-secret}]
    keys:
      - id: 1234abcd-12ab-34cd-56ef-1234567890ab
        aliases: [alias/app]
""")
    server = start("--seed", str(seed))
    server.read_exports()

    kms = server.client("kms", access_key_id="AKIASEEDEDAPPUSER001", secret="seeded-secret")
    blob = kms.encrypt(KeyId="alias/app", Plaintext=b"seeded")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["KeyId"].endswith("key/1234abcd-12ab-34cd-56ef-1234567890ab")
    assert server.stop() == 0
    assert everything_under(server.tmpdir) == []


def test_the_root_key_is_new_for_every_run_and_never_the_environments(start):
    env_key = base64.b64encode(b"\x11" * 32).decode()
    keys = []
    for _ in range(2):
        server = start(env={"PARAMSTORE_ROOT_KEY": env_key})
        server.read_exports()
        (store_dir,) = server.store_dirs()
        keys.append((store_dir / "root.key").read_bytes())
        assert server.stop() == 0
    assert keys[0] != keys[1]
    assert all(b"\x11" * 32 not in key and env_key.encode() not in key for key in keys)


def test_a_data_dir_or_database_url_with_ephemeral_is_one_line_exit_2(start):
    for args in (("--data-dir", "somewhere"), ("--database-url", "sqlite:////tmp/x.db")):
        server = start(*args)
        assert server.proc.wait(timeout=READY_TIMEOUT) == 2
        lines = server.stderr().strip().splitlines()
        assert lines == ["paramstore: cannot start: --ephemeral makes its own store in a temporary directory; "
                         "drop --data-dir and --database-url"]
        assert everything_under(server.cwd) == [] and everything_under(server.tmpdir) == []
        server.stop()


def test_an_ephemeral_start_does_without_alembic(tmp_path):
    """The snapshot (kms_core/storage/sqlite_snapshot.py) replaces the migrations: alembic,
    a tenth of a second to import, stays out of an ephemeral server's process."""
    code = """
import sys
from paramstore.ephemeral import EphemeralServer
from paramstore.settings import Settings
server = EphemeralServer(Settings(port=0, admin_access_key_id=None, admin_secret_access_key=None))
server.start()
try:
    print(server.create_account().account_id)
finally:
    server.close()
print(sorted(m for m in sys.modules if m == "alembic" or m.startswith("alembic.")))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARAMSTORE_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**env, "TMPDIR": str(tmp_path)},
                         capture_output=True, text=True, timeout=READY_TIMEOUT)
    assert out.returncode == 0, out.stderr
    account, modules = out.stdout.splitlines()
    assert len(account) == 12 and modules == "[]"
    assert everything_under(tmp_path) == []
