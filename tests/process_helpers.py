"""Start `paramstore serve` as a real subprocess (for multi-process and restart tests)."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import boto3
import httpx
from botocore.config import Config

from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, free_port


class ServerProcess:
    def __init__(self, data_dir: Path, database_url: Optional[str] = None, root_key_b64: Optional[str] = None,
                 extra_args: tuple[str, ...] = (), env: Optional[dict[str, str]] = None,
                 tls_ca: Optional[Path] = None) -> None:
        """`tls_ca`: the server serves HTTPS (its --tls-* flags in `extra_args`), and clients
        trust this CA."""
        self.port = free_port()
        self.tls_ca = tls_ca
        self.database_url = database_url
        self.root_key_b64 = root_key_b64
        self.url = f"{'https' if tls_ca else 'http'}://127.0.0.1:{self.port}"
        extra_env, env = env or {}, dict(os.environ)
        env.update(PARAMSTORE_ADMIN_ACCESS_KEY_ID=ACCESS_KEY_ID, PARAMSTORE_ADMIN_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY)
        env.pop("PARAMSTORE_ROOT_KEY", None)
        if root_key_b64:
            env["PARAMSTORE_ROOT_KEY"] = root_key_b64
        env.update(extra_env)
        args = [sys.executable, "-m", "paramstore", "serve", "--port", str(self.port), "--data-dir", str(data_dir)]
        if database_url:
            args += ["--database-url", database_url]
        args += list(extra_args)
        Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log_path = Path(data_dir) / f"server-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 30) -> "ServerProcess":
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log()}")
            try:
                verify = ssl.create_default_context(cafile=str(self.tls_ca)) if self.tls_ca else True
                if httpx.get(self.url + "/health", timeout=1, verify=verify).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become ready: " + self.log())

    def wait_exit(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def client(self, service: str = "kms"):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                            aws_secret_access_key=SECRET_ACCESS_KEY, config=Config(retries={"total_max_attempts": 1}),
                            verify=str(self.tls_ca) if self.tls_ca else None)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
