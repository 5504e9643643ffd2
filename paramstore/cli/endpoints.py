"""Where the client commands (`paramstore params`, `paramstore iam`) send requests, and the
clients that send them: the same rules for every one, so an app's AWS_ENDPOINT_URL_* settings
work for the CLI too."""

from __future__ import annotations

import os
from typing import Any, Iterator, Optional

import typer

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
    --endpoint-url U get NAME`: the group's own options move in front of the subcommand."""
    return hoist_options(args, GLOBAL_OPTIONS)


def hoist_options(args: list[str], names: tuple[str, ...]) -> list[str]:
    """`args` with the options `names` (and their values) moved to the front, wherever they were
    given (up to a `--`, after which everything belongs to a program)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in names:
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


def endpoint_option(service_variable: str) -> Any:
    """--endpoint-url for a group whose service reads `service_variable` (resolve_endpoint)."""
    return typer.Option(None, envvar="PARAMSTORE_ENDPOINT_URL",
                        help=f"The paramstore server (default: ${service_variable}, $AWS_ENDPOINT_URL, "
                             f"{DEFAULT_ENDPOINT}).")


def region_option() -> Any:
    return typer.Option(None, envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
                        help="Signing region (default: the profile's, else us-east-1).")


def profile_option() -> Any:
    return typer.Option(None, envvar="AWS_PROFILE", help="AWS credentials profile.")


class ServiceClient:
    """One service's boto3 client, made on first use so that --help and argument errors need no
    credentials.  Its failures are left to errors.reported, which prints them as one line."""

    def __init__(self, service: str, endpoint_url: str, region: Optional[str], profile: Optional[str],
                 attempts: int) -> None:
        self.service, self.endpoint_url, self.region, self.profile = service, endpoint_url, region, profile
        self.attempts = attempts
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session(profile_name=self.profile) if self.profile else boto3.session.Session()
            self._client = session.client(
                self.service, endpoint_url=self.endpoint_url,
                region_name=self.region or session.region_name or "us-east-1",
                config=Config(retries={"mode": "standard", "total_max_attempts": self.attempts}, connect_timeout=5))
        return self._client

    def call(self, method: str, **kwargs: Any) -> dict:
        """One operation's response, without its ResponseMetadata."""
        response = getattr(self.client(), method)(**kwargs)
        response.pop("ResponseMetadata", None)
        return response

    def pages(self, method: str, field: str, token: str = "NextToken", **kwargs: Any) -> Iterator[dict]:
        """Every item of a paged listing: `token` is NextToken (SSM) or Marker (IAM)."""
        while True:
            page = self.call(method, **kwargs)
            yield from page.get(field, [])
            if not page.get(token) or page.get("IsTruncated") is False:
                return
            kwargs[token] = page[token]
