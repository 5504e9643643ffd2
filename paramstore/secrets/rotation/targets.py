"""What a RotationLambdaARN can name here, where there is no Lambda.

A secret's RotationLambdaARN (`arn:aws:lambda:<region>:<account>:function:<name>`) names a
rotation target by its function name; the ARN's account and Region must be the secret's.
Two kinds:

- **generators** (built in, no configuration): `paramstore-rotate-random` replaces the
  whole value with a new random password; `paramstore-rotate-json-password` replaces the
  `password` field of a JSON secret.  An operator's targets file can add others with a
  different field, length or excluded characters.
- **webhooks** (only from the operator's targets file): an HTTPS endpoint called once per
  step with the event a rotation Lambda gets, `{"Step", "SecretId", "ClientRequestToken"}`,
  signed so the receiver can tell it came from this server:
  `X-Paramstore-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>`.

Targets come only from the operator: an API caller who may call RotateSecret can choose
among them but can never make the server call a URL of its own choosing.  Each configured
target names the accounts whose secrets may use it (`"accounts"`, required), and naming a
target needs `lambda:InvokeFunction` on its ARN, as on AWS.

The targets file (`--rotation-targets FILE`, PARAMSTORE_ROTATION_TARGETS) is JSON:
    {"targets": [
      {"name": "orders-db", "type": "webhook", "url": "https://rotator.internal/rotate",
       "signing_key_file": "/etc/paramstore/orders-db.key", "ca_bundle": "/etc/ssl/internal-ca.pem",
       "timeout_seconds": 30, "accounts": ["111122223333"]},
      {"name": "api-token", "type": "generate", "field": "token", "length": 48,
       "exclude_characters": "\\"'\\\\", "accounts": "*"}
    ]}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

_LAMBDA_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([A-Za-z0-9_-]{1,140})"
                         r"(?::[A-Za-z0-9_$-]+)?\Z")
SIGNATURE_HEADER = "X-Paramstore-Signature"
DEFAULT_TIMEOUT = 30.0


class RotationStepFailed(Exception):
    """A step did not succeed; the message says why (never a secret value)."""


class TargetsFileError(ValueError):
    pass


@dataclass(frozen=True)
class Generator:
    """A new random password, as the whole value or as one field of a JSON object."""

    name: str
    field: Optional[str] = None
    length: int = 32
    exclude_characters: str = ""
    #: the accounts whose secrets may name it; None = every account (the built-ins)
    accounts: Optional[frozenset[str]] = None


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    signing_key: bytes
    ca_bundle: Optional[str] = None
    timeout: float = DEFAULT_TIMEOUT
    #: the accounts whose secrets may name it (a webhook rotates one system's credentials:
    #: the operator says whose); None = every account
    accounts: Optional[frozenset[str]] = None

    def invoke(self, step: str, secret_id: str, token: str, now: Optional[float] = None) -> None:
        """POST the step's event; anything but a 2xx answer fails the step."""
        body = json.dumps({"Step": step, "SecretId": secret_id, "ClientRequestToken": token},
                          separators=(",", ":")).encode()
        stamp = str(int(now if now is not None else time.time()))
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "paramstore-rotation/1",
            SIGNATURE_HEADER: f"t={stamp},v1={sign(self.signing_key, stamp, body)}"})
        context = ssl.create_default_context(cafile=self.ca_bundle)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as answer:
                answer.read(65536)
        except urllib.error.HTTPError as error:
            raise RotationStepFailed(f"the rotation webhook {self.name} answered {step} with HTTP {error.code}") \
                from None
        except (urllib.error.URLError, OSError, ssl.SSLError) as error:
            reason = getattr(error, "reason", error)
            raise RotationStepFailed(f"the rotation webhook {self.name} could not be reached for {step}: "
                                     f"{type(reason).__name__}") from None


Target = Union[Generator, Webhook]


def sign(key: bytes, stamp: str, body: bytes) -> str:
    return hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(key: bytes, header: str, body: bytes, now: float, tolerance: float = 300.0) -> bool:
    """The receiver's check (documented for webhook authors; used by the tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(key, stamp, body), given)


BUILT_IN: dict[str, Target] = {
    "paramstore-rotate-random": Generator("paramstore-rotate-random"),
    "paramstore-rotate-json-password": Generator("paramstore-rotate-json-password", field="password"),
}


class RotationTargets:
    def __init__(self, configured: Optional[dict[str, Target]] = None) -> None:
        self.targets = {**BUILT_IN, **(configured or {})}

    def resolve(self, lambda_arn: str, account_id: str, region: str) -> Optional[Target]:
        match = _LAMBDA_ARN.match(lambda_arn)
        if match is None or match.group(1) != region or match.group(2) != account_id:
            return None
        target = self.targets.get(match.group(3))
        if target is None or (target.accounts is not None and account_id not in target.accounts):
            return None
        return target


def load_targets(path: Optional[Path]) -> RotationTargets:
    """The built-in targets plus the operator's file; TargetsFileError names what is wrong."""
    if path is None:
        return RotationTargets()
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise TargetsFileError(f"rotation targets file {path}: {type(exc).__name__}: cannot be read as JSON") \
            from None
    entries = document.get("targets") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise TargetsFileError(f"rotation targets file {path}: expected {{\"targets\": [...]}}")
    configured: dict[str, Target] = {}
    for i, entry in enumerate(entries, 1):
        configured_target = _target(entry, f"rotation targets file {path}, target {i}")
        configured[configured_target.name] = configured_target
    return RotationTargets(configured)


def _accounts(entry: dict, where: str) -> Optional[frozenset[str]]:
    """"accounts": a list of account ids, or "*" for every account; required."""
    accounts = entry.get("accounts")
    if accounts == "*":
        return None
    if not isinstance(accounts, list) or not accounts or not all(
            isinstance(a, str) and re.fullmatch(r"\d{12}", a) for a in accounts):
        raise TargetsFileError(f"{where}: accounts must be a list of 12-digit account ids, or \"*\"")
    return frozenset(accounts)


def _target(entry: object, where: str) -> Target:
    if not isinstance(entry, dict) or not re.fullmatch(r"[A-Za-z0-9_-]{1,140}", str(entry.get("name", ""))):
        raise TargetsFileError(f"{where}: needs a name of letters, digits, - and _")
    name, kind = entry["name"], entry.get("type")
    accounts = _accounts(entry, where)
    if kind == "generate":
        length = entry.get("length", 32)
        if not isinstance(length, int) or not 1 <= length <= 4096:
            raise TargetsFileError(f"{where}: length must be 1-4096")
        return Generator(name, entry.get("field"), length, str(entry.get("exclude_characters", "")), accounts)
    if kind == "webhook":
        url = str(entry.get("url", ""))
        if not url.startswith("https://"):
            raise TargetsFileError(f"{where}: a webhook url must be https://")
        if "signing_key_file" in entry:
            try:
                key = Path(entry["signing_key_file"]).read_bytes().strip()
            except OSError as exc:
                raise TargetsFileError(f"{where}: signing_key_file: {type(exc).__name__}") from None
        else:
            key = str(entry.get("signing_key", "")).encode()
        if len(key) < 16:
            raise TargetsFileError(f"{where}: a webhook needs a signing key of at least 16 bytes")
        return Webhook(name, url, key, entry.get("ca_bundle"), float(entry.get("timeout_seconds", DEFAULT_TIMEOUT)),
                       accounts)
    raise TargetsFileError(f"{where}: type must be \"generate\" or \"webhook\"")
