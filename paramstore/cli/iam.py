"""`paramstore iam ...`: manage users, roles, access keys and policies through the IAM/STS API.

Each command calls a running server with boto3 (the iam and sts clients) at
`--endpoint-url` (env PARAMSTORE_ENDPOINT_URL, else AWS_ENDPOINT_URL_IAM or AWS_ENDPOINT_URL,
default http://127.0.0.1:8080; cli/endpoints.py), signed with the usual AWS credential
chain (AWS_ACCESS_KEY_ID / AWS_PROFILE / ~/.aws/...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from paramstore.cli.endpoints import DEFAULT_ENDPOINT, client_group, resolve_endpoint


iam_app = typer.Typer(help="Users, roles, access keys and identity policies (IAM/STS API).",
                      no_args_is_help=True, cls=client_group())


class _Clients:
    def __init__(self, endpoint_url: str, region: str, profile: Optional[str]) -> None:
        self.endpoint_url, self.region, self.profile = endpoint_url, region, profile
        self._cache: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        client = self._cache.get(service)
        if client is None:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session(profile_name=self.profile) if self.profile else boto3.session.Session()
            client = session.client(service, endpoint_url=self.endpoint_url, region_name=self.region,
                                    config=Config(retries={"total_max_attempts": 1}))
            self._cache[service] = client
        return client


@iam_app.callback()
def _options(
    ctx: typer.Context,
    endpoint_url: Optional[str] = typer.Option(
        None, envvar="PARAMSTORE_ENDPOINT_URL",
        help="The paramstore server (default: $AWS_ENDPOINT_URL_IAM, $AWS_ENDPOINT_URL, " + DEFAULT_ENDPOINT + ")."),
    region: str = typer.Option("us-east-1", envvar=["AWS_REGION", "AWS_DEFAULT_REGION"], help="Signing region."),
    profile: Optional[str] = typer.Option(None, envvar="AWS_PROFILE", help="AWS credentials profile."),
) -> None:
    ctx.obj = _Clients(resolve_endpoint(endpoint_url, "AWS_ENDPOINT_URL_IAM"), region, profile)


def _call(ctx: typer.Context, service: str, method: str, **kwargs: Any) -> dict:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        response = getattr(ctx.obj(service), method)(**kwargs)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        typer.echo(f"paramstore: {err.get('Code', 'Error')}: {err.get('Message', '')}", err=True)
        raise typer.Exit(1) from None
    except NoCredentialsError:
        typer.echo("paramstore: no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                   "or AWS_PROFILE)", err=True)
        raise typer.Exit(2) from None
    except BotoCoreError as exc:
        typer.echo(f"paramstore: {exc}", err=True)
        raise typer.Exit(2) from None
    response.pop("ResponseMetadata", None)
    return response


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str, sort_keys=False))


def _read_policy(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        typer.echo(f"paramstore: cannot read {path}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None


def _tags(values: Optional[list[str]]) -> list[dict]:
    out = []
    for item in values or []:
        key, eq, value = item.partition("=")
        if not eq:
            typer.echo(f"paramstore: a tag is KEY=VALUE, not {item!r}", err=True)
            raise typer.Exit(2)
        out.append({"Key": key, "Value": value})
    return out


def _paged(ctx: typer.Context, method: str, field: str, **kwargs: Any) -> list:
    items: list = []
    while True:
        page = _call(ctx, "iam", method, **kwargs)
        items.extend(page.get(field, []))
        if not page.get("IsTruncated"):
            return items
        kwargs["Marker"] = page["Marker"]


# Users and roles: the same commands, told apart by `entity` ("User" or "Role"), which
# names the API's methods (create_user), parameters (UserName) and results (Users).
def _create(ctx: typer.Context, entity: str, **args: Any) -> None:
    _print(_call(ctx, "iam", f"create_{entity.lower()}", **args)[entity])


def _list(ctx: typer.Context, entity: str) -> None:
    for item in _paged(ctx, f"list_{entity.lower()}s", f"{entity}s"):
        typer.echo(f"{item[f'{entity}Name']}\t{item['Arn']}\t{item[f'{entity}Id']}")


def _delete(ctx: typer.Context, entity: str, name: str) -> None:
    _call(ctx, "iam", f"delete_{entity.lower()}", **{f"{entity}Name": name})
    typer.echo(f"deleted {entity.lower()} {name}")


def _put_policy(ctx: typer.Context, entity: str, name: str, policy_name: str, policy_file: Path) -> None:
    _call(ctx, "iam", f"put_{entity.lower()}_policy", **{f"{entity}Name": name}, PolicyName=policy_name,
          PolicyDocument=_read_policy(policy_file))
    typer.echo(f"put policy {policy_name} on {entity.lower()} {name}")


# --- users -----------------------------------------------------------------------------------
@iam_app.command("create-user")
def create_user(ctx: typer.Context, user_name: str,
                path: str = typer.Option("/", help="IAM path, e.g. /team/."),
                tag: Optional[list[str]] = typer.Option(None, help="KEY=VALUE (repeatable).")) -> None:
    """Create an IAM user."""
    _create(ctx, "User", UserName=user_name, Path=path, Tags=_tags(tag))


@iam_app.command("list-users")
def list_users(ctx: typer.Context) -> None:
    """List the account's IAM users."""
    _list(ctx, "User")


@iam_app.command("delete-user")
def delete_user(ctx: typer.Context, user_name: str) -> None:
    """Delete an IAM user (its access keys and policies must be deleted first)."""
    _delete(ctx, "User", user_name)


# --- roles -----------------------------------------------------------------------------------
@iam_app.command("create-role")
def create_role(ctx: typer.Context, role_name: str,
                trust_policy: Path = typer.Option(..., "--trust-policy", help="Trust policy JSON file."),
                path: str = typer.Option("/", help="IAM path."),
                description: str = typer.Option("", help="Description."),
                max_session_duration: int = typer.Option(3600, help="Seconds (3600..43200)."),
                tag: Optional[list[str]] = typer.Option(None, help="KEY=VALUE (repeatable).")) -> None:
    """Create an IAM role with a trust policy."""
    args: dict = dict(RoleName=role_name, AssumeRolePolicyDocument=_read_policy(trust_policy), Path=path,
                      MaxSessionDuration=max_session_duration, Tags=_tags(tag))
    if description:
        args["Description"] = description
    _create(ctx, "Role", **args)


@iam_app.command("list-roles")
def list_roles(ctx: typer.Context) -> None:
    """List the account's IAM roles."""
    _list(ctx, "Role")


@iam_app.command("delete-role")
def delete_role(ctx: typer.Context, role_name: str) -> None:
    """Delete an IAM role (its policies must be deleted first)."""
    _delete(ctx, "Role", role_name)


# --- access keys -----------------------------------------------------------------------------
@iam_app.command("create-access-key")
def create_access_key(ctx: typer.Context, user_name: str) -> None:
    """Create an access key for USER_NAME; prints the key id and the secret (shown only once)."""
    key = _call(ctx, "iam", "create_access_key", UserName=user_name)["AccessKey"]
    typer.echo(f"aws_access_key_id = {key['AccessKeyId']}")
    typer.echo(f"aws_secret_access_key = {key['SecretAccessKey']}")


@iam_app.command("list-access-keys")
def list_access_keys(ctx: typer.Context, user_name: Optional[str] = typer.Argument(None)) -> None:
    """List a user's access keys (default: the caller's own)."""
    args = {"UserName": user_name} if user_name else {}
    for key in _paged(ctx, "list_access_keys", "AccessKeyMetadata", **args):
        typer.echo(f"{key['AccessKeyId']}\t{key['Status']}\t{key.get('UserName', '')}")


# --- policies --------------------------------------------------------------------------------
@iam_app.command("put-user-policy")
def put_user_policy(ctx: typer.Context, user_name: str, policy_name: str, policy_file: Path) -> None:
    """Attach (or replace) the inline identity policy POLICY_NAME on a user."""
    _put_policy(ctx, "User", user_name, policy_name, policy_file)


@iam_app.command("put-role-policy")
def put_role_policy(ctx: typer.Context, role_name: str, policy_name: str, policy_file: Path) -> None:
    """Attach (or replace) the inline identity policy POLICY_NAME on a role."""
    _put_policy(ctx, "Role", role_name, policy_name, policy_file)


# --- STS -------------------------------------------------------------------------------------
@iam_app.command("assume-role")
def assume_role(
    ctx: typer.Context,
    role_arn_arg: Optional[str] = typer.Argument(None, metavar="[ROLE_ARN]", show_default=False,
                                                 help="The role (or --role-arn)."),
    session_name_arg: Optional[str] = typer.Argument(None, metavar="[SESSION_NAME]", show_default=False,
                                                     help="The session name (or --role-session-name)."),
    role_arn: Optional[str] = typer.Option(None, "--role-arn", help="The role to assume, as the AWS CLI names it."),
    role_session_name: Optional[str] = typer.Option(None, "--role-session-name",
                                                    help="The session name, as the AWS CLI names it."),
    duration_seconds: int = typer.Option(3600, help="Seconds (900..the role's maximum)."),
) -> None:
    """Assume a role; prints `export AWS_...` lines for a shell (eval "$(paramstore iam assume-role ...)").

    Takes the AWS CLI's --role-arn and --role-session-name, or both positionally."""
    arn, session = role_arn or role_arn_arg, role_session_name or session_name_arg
    if not arn or not session:
        typer.echo("paramstore: assume-role needs --role-arn and --role-session-name", err=True)
        raise typer.Exit(2)
    creds = _call(ctx, "sts", "assume_role", RoleArn=arn, RoleSessionName=session,
                  DurationSeconds=duration_seconds)["Credentials"]
    typer.echo(f"export AWS_ACCESS_KEY_ID={creds['AccessKeyId']}")
    typer.echo(f"export AWS_SECRET_ACCESS_KEY={creds['SecretAccessKey']}")
    typer.echo(f"export AWS_SESSION_TOKEN={creds['SessionToken']}")
    typer.echo(f"# expires {creds['Expiration']}")


@iam_app.command("whoami")
def whoami(ctx: typer.Context) -> None:
    """Who the current credentials are (sts:GetCallerIdentity)."""
    found = _call(ctx, "sts", "get_caller_identity")
    typer.echo(f"Arn: {found['Arn']}\nAccount: {found['Account']}\nUserId: {found['UserId']}")

