"""A SoftHSM2 token of the test's own: a config file and a token directory under tmp.

PKCS#11 tests need `softhsm2-util` and its module (Debian's softhsm2).  They skip
without it, except with PARAMSTORE_REQUIRE_PKCS11=1 (as in CI), where a missing SoftHSM2
is an error: those tests must run there."""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

MODULE_CANDIDATES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                     "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so")
USER_PIN = "4321-test-pin"
SO_PIN = "so-pin-1234"


def softhsm_module() -> str:
    found = shutil.which("softhsm2-util") and next((m for m in MODULE_CANDIDATES if Path(m).exists()), None)
    if not found:
        if os.environ.get("PARAMSTORE_REQUIRE_PKCS11") == "1":
            raise RuntimeError("PARAMSTORE_REQUIRE_PKCS11=1 but SoftHSM2 is not installed (apt-get install softhsm2)")
        pytest.skip("SoftHSM2 is not installed")
    return found


@dataclass
class SoftHsm:
    directory: Path
    module: str
    token: str = "paramstore-test"

    @property
    def conf(self) -> Path:
        return self.directory / "softhsm2.conf"

    def env(self, pin: str = USER_PIN) -> dict[str, str]:
        """What a server or the CLI needs to reach the token (the PIN in the environment)."""
        return {"SOFTHSM2_CONF": str(self.conf), "PARAMSTORE_PKCS11_PIN": pin,
                "PARAMSTORE_PKCS11_MODULE": self.module}

    def uri(self, label: str, token: str | None = None) -> str:
        return f"pkcs11:token={token or self.token};object={label}"

    @contextmanager
    def session(self, rw: bool = False) -> Iterator[Any]:
        """A logged-in session on this token from the test process.  SoftHSM2 reads its
        config at C_Initialize, and python-pkcs11 keeps one library per process, so the
        module is re-initialised for this token's config."""
        import pkcs11

        previous = os.environ.get("SOFTHSM2_CONF")
        os.environ["SOFTHSM2_CONF"] = str(self.conf)
        try:
            lib = pkcs11.lib(self.module)
            lib.reinitialize()
            with lib.get_token(token_label=self.token).open(user_pin=USER_PIN, rw=rw) as session:
                yield session
        finally:
            if previous is None:
                os.environ.pop("SOFTHSM2_CONF", None)
            else:
                os.environ["SOFTHSM2_CONF"] = previous

    def init_token(self) -> None:
        (self.directory / "tokens").mkdir(parents=True, exist_ok=True)
        self.conf.write_text(f"directories.tokendir = {self.directory / 'tokens'}\nobjectstore.backend = file\n"
                             "log.level = ERROR\nslots.removable = false\n")
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", self.token, "--so-pin", SO_PIN,
                        "--pin", USER_PIN], env={**os.environ, "SOFTHSM2_CONF": str(self.conf)}, check=True,
                       capture_output=True)


def make_softhsm(directory: Path) -> SoftHsm:
    hsm = SoftHsm(directory, softhsm_module())
    hsm.init_token()
    return hsm
