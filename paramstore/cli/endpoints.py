"""Where the client commands (`paramstore params`, `paramstore iam`) send requests: the same
rules for every one, so an app's AWS_ENDPOINT_URL_* settings work for the CLI too."""

from __future__ import annotations

import os
from typing import Optional

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"


def resolve_endpoint(given: Optional[str], service_env: str) -> str:
    """--endpoint-url (or PARAMSTORE_ENDPOINT_URL), else the service's AWS variable (e.g.
    AWS_ENDPOINT_URL_SSM), else AWS_ENDPOINT_URL, else the local default."""
    if given:
        return given
    for name in (service_env, "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return os.environ[name]
    return DEFAULT_ENDPOINT
