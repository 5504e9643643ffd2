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


#: the client options accepted before or after the subcommand, as with the AWS CLI
GLOBAL_OPTIONS = ("--endpoint-url", "--region", "--profile")


def hoist_global_options(args: list[str]) -> list[str]:
    """`paramstore params get NAME --endpoint-url U` as well as `paramstore params
    --endpoint-url U get NAME`: the group's own options move in front of the subcommand,
    wherever they were given (up to a `--`, after which everything belongs to a program)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            if "=" in arg or i + 1 >= len(args):
                front.append(arg)
                i += 1
            else:
                front.extend(args[i:i + 2])
                i += 2
            continue
        rest.append(arg)
        i += 1
    return front + rest


def client_group() -> type:
    """The Typer group class for client command groups: it hoists the global options."""
    from typer.core import TyperGroup

    class ClientGroup(TyperGroup):
        def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]  # click's own untyped signature
            return super().parse_args(ctx, hoist_global_options(list(args)))

    return ClientGroup
