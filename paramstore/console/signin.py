"""Console sign-in: an access key pair (and session token) checked by the SigV4 verifier.

The key pair signs a request here, in memory, and the server's own verifier checks it, so
a console sign-in resolves the principal exactly as an SDK request does (unknown, inactive
or expired keys, STS session tokens).  The secret is used for that one signature and then
dropped.  Attempts are limited per source address.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kms_core.domain.arn import REGION_NAME
from kms_core.domain.errors import AwsError
from kms_core.domain.principal import Principal
from kms_core.protocol.sigv4 import SigV4Verifier

#: sign-in attempts per source address: a burst, then one per `REFILL_SECONDS`
BURST, REFILL_SECONDS = 10, 6.0
_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


class SignInRefused(Exception):
    """Wrong or unusable credentials (the message is safe to show)."""


class AttemptLimiter:
    """Failed sign-ins per source address, as a token bucket: a burst of BURST failures,
    then one more per REFILL_SECONDS.  A blocked address is refused even with the right
    key, so guessing costs time; successful sign-ins cost nothing."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def _tokens(self, source: str) -> float:
        tokens, at = self._buckets.get(source, (float(BURST), self._clock()))
        return min(float(BURST), tokens + (self._clock() - at) / REFILL_SECONDS)

    def blocked(self, source: str) -> bool:
        return self._tokens(source) < 1

    def failed(self, source: str) -> None:
        if len(self._buckets) > 50_000:
            self._buckets.clear()
        self._buckets[source] = (self._tokens(source) - 1, self._clock())

    def reset(self) -> None:
        self._buckets.clear()


def verify_credentials(verifier: SigV4Verifier, access_key_id: str, secret: str, session_token: Optional[str],
                       region: str) -> Principal:
    """The principal a key pair belongs to, or SignInRefused."""
    if not access_key_id or not secret or len(access_key_id) > 128 or len(secret) > 256:
        raise SignInRefused("Enter an access key ID and a secret access key.")
    if not REGION_NAME.match(region):
        raise SignInRefused("Choose a valid Region.")
    url = "https://console.paramstore.invalid/"
    request = AWSRequest(method="POST", url=url, data=_BODY,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(access_key_id, secret, session_token or None), "sts", region).add_auth(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = "console.paramstore.invalid"
    try:
        signed = verifier.verify("POST", "/", "", headers, _BODY, "sts")
    except AwsError:
        raise SignInRefused("The access key ID, secret access key or session token is not valid.") from None
    return signed.identity
