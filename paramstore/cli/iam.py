"""`paramstore iam ...`: manage users, roles, access keys and policies through the IAM/STS API.

Each command calls a running server with boto3 (the iam and sts clients) at
`--endpoint-url` (env PARAMSTORE_ENDPOINT_URL, else AWS_ENDPOINT_URL_IAM or AWS_ENDPOINT_URL,
default http://127.0.0.1:8080; cli/endpoints.py), signed with the usual AWS credential
chain (AWS_ACCESS_KEY_ID / AWS_PROFILE / ~/.aws/...).  Arguments take the AWS CLI's names
(`--user-name`, `--policy-document file://policy.json`); the older positional form still works.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import typer

import paramstore.cli.arguments as arguments
import paramstore.cli.output as output
from paramstore.cli.endpoints import (ServiceClient, client_group, endpoint_option, profile_option, region_option,
                                      resolve_endpoint)
from paramstore.cli.errors import fail

iam_app = typer.Typer(help="Users, roles, access keys and identity policies (IAM/STS API), with the AWS CLI's "
                           "argument names.  Listings print a table; --output json|table|text.",
                      no_args_is_help=True, cls=client_group())

_AWS_TAG = re.compile(r"Key=(?P<key>[^,]*),Value=(?P<value>.*)")


@iam_app.callback()
def _options(ctx: typer.Context, endpoint_url: Optional[str] = endpoint_option("AWS_ENDPOINT_URL_IAM"),
             region: Optional[str] = region_option(), profile: Optional[str] = profile_option()) -> None:
    endpoint = resolve_endpoint(endpoint_url, "AWS_ENDPOINT_URL_IAM")
    ctx.obj = {service: ServiceClient(service, endpoint, region, profile, attempts=1) for service in ("iam", "sts")}


def _call(ctx: typer.Context, service: str, method: str, **kwargs: Any) -> dict:
    return ctx.obj[service].call(method, **kwargs)


def _tags(values: Optional[list[str]]) -> list[dict]:
    """KEY=VALUE, or the AWS CLI's shorthand Key=KEY,Value=VALUE."""
    out = []
    for item in values or []:
        aws = _AWS_TAG.fullmatch(item)
        key, eq, value = (aws["key"], "=", aws["value"]) if aws else item.partition("=")
        if not eq:
            fail(f"a tag is KEY=VALUE or Key=KEY,Value=VALUE, not {item!r}")
        out.append({"Key": key, "Value": value})
    return out


def _tag_option() -> Any:
    return typer.Option(None, "--tag", "--tags", help="KEY=VALUE or Key=KEY,Value=VALUE (repeatable).")


def _columns(entity: str) -> list[output.Column]:
    return [("NAME", f"{entity}Name"), ("ARN", "Arn"), (f"{entity.upper()} ID", f"{entity}Id"),
            ("CREATED", "CreateDate")]


ACCESS_KEY_COLUMNS: list[output.Column] = [("ACCESS KEY ID", "AccessKeyId"), ("STATUS", "Status"),
                                           ("USER NAME", "UserName"), ("CREATED", "CreateDate")]
NEW_ACCESS_KEY_COLUMNS = ACCESS_KEY_COLUMNS[:1] + [("SECRET ACCESS KEY", "SecretAccessKey")] + ACCESS_KEY_COLUMNS[1:]
CALLER_COLUMNS: list[output.Column] = [("ARN", "Arn"), ("ACCOUNT", "Account"), ("USER ID", "UserId")]
SESSION_COLUMNS: list[output.Column] = [
    ("ACCESS KEY ID", lambda r: r["Credentials"]["AccessKeyId"]),
    ("SECRET ACCESS KEY", lambda r: r["Credentials"]["SecretAccessKey"]),
    ("SESSION TOKEN", lambda r: r["Credentials"]["SessionToken"]),
    ("EXPIRATION", lambda r: r["Credentials"]["Expiration"]),
    ("ARN", lambda r: r.get("AssumedRoleUser", {}).get("Arn")),
]


# Users and roles: the same commands, told apart by `entity` ("User" or "Role"), which
# names the API's methods (create_user), parameters (UserName) and results (Users).
def _create(ctx: typer.Context, entity: str, **args: Any) -> None:
    output.show_one(ctx, _call(ctx, "iam", f"create_{entity.lower()}", **args)[entity], _columns(entity))


def _list(ctx: typer.Context, entity: str) -> None:
    output.show_list(ctx, list(ctx.obj["iam"].pages(f"list_{entity.lower()}s", f"{entity}s", token="Marker")),
                     _columns(entity))


def _delete(ctx: typer.Context, entity: str, name: str) -> None:
    _call(ctx, "iam", f"delete_{entity.lower()}", **{f"{entity}Name": name})
    output.tell(ctx, f"deleted {entity.lower()} {name}")


def _positional(metavar: str, option: str) -> Any:
    """An optional positional argument, the older form of an AWS CLI option."""
    return typer.Argument(None, metavar=metavar, show_default=False, help=f"Same as {option} (the older form).")


def _named(option: str, what: str) -> Any:
    return typer.Option(None, option, show_default=False, help=what)


USER_NAME_HELP = "The user's name."
ROLE_NAME_HELP = "The role's name."
POLICY_DOCUMENT_HELP = "The policy: file://PATH or inline JSON, as the AWS CLI takes it (or a plain path)."


# --- users -----------------------------------------------------------------------------------
@iam_app.command("create-user")
def create_user(ctx: typer.Context, user_name_arg: Optional[str] = _positional("USER_NAME", "--user-name"),
                user_name: Optional[str] = _named("--user-name", USER_NAME_HELP),
                path: str = typer.Option("/", help="IAM path, e.g. /team/."),
                tag: Optional[list[str]] = _tag_option()) -> None:
    """Create an IAM user; prints it."""
    _create(ctx, "User", UserName=arguments.required(user_name, user_name_arg, "--user-name"), Path=path,
            Tags=_tags(tag))


@iam_app.command("list-users")
def list_users(ctx: typer.Context) -> None:
    """List the account's IAM users: NAME, ARN, USER ID, CREATED."""
    _list(ctx, "User")


@iam_app.command("delete-user")
def delete_user(ctx: typer.Context, user_name_arg: Optional[str] = _positional("USER_NAME", "--user-name"),
                user_name: Optional[str] = _named("--user-name", USER_NAME_HELP)) -> None:
    """Delete an IAM user (its access keys and policies must be deleted first)."""
    _delete(ctx, "User", arguments.required(user_name, user_name_arg, "--user-name"))


# --- roles -----------------------------------------------------------------------------------
@iam_app.command("create-role")
def create_role(ctx: typer.Context, role_name_arg: Optional[str] = _positional("ROLE_NAME", "--role-name"),
                role_name: Optional[str] = _named("--role-name", ROLE_NAME_HELP),
                assume_role_policy_document: Optional[str] = _named(
                    "--assume-role-policy-document", "The trust policy: file://PATH or inline JSON (or a plain path)."),
                trust_policy: Optional[str] = _named("--trust-policy", "The trust policy's file (older form)."),
                path: str = typer.Option("/", help="IAM path."),
                description: str = typer.Option("", help="Description."),
                max_session_duration: int = typer.Option(3600, help="Seconds (3600..43200)."),
                tag: Optional[list[str]] = _tag_option()) -> None:
    """Create an IAM role with a trust policy; prints it."""
    trust = arguments.required(assume_role_policy_document, trust_policy, "--assume-role-policy-document")
    args: dict = dict(RoleName=arguments.required(role_name, role_name_arg, "--role-name"),
                      AssumeRolePolicyDocument=arguments.document(trust), Path=path,
                      MaxSessionDuration=max_session_duration, Tags=_tags(tag))
    if description:
        args["Description"] = description
    _create(ctx, "Role", **args)


@iam_app.command("list-roles")
def list_roles(ctx: typer.Context) -> None:
    """List the account's IAM roles: NAME, ARN, ROLE ID, CREATED."""
    _list(ctx, "Role")


@iam_app.command("delete-role")
def delete_role(ctx: typer.Context, role_name_arg: Optional[str] = _positional("ROLE_NAME", "--role-name"),
                role_name: Optional[str] = _named("--role-name", ROLE_NAME_HELP)) -> None:
    """Delete an IAM role (its policies must be deleted first)."""
    _delete(ctx, "Role", arguments.required(role_name, role_name_arg, "--role-name"))


# --- access keys -----------------------------------------------------------------------------
@iam_app.command("create-access-key")
def create_access_key(ctx: typer.Context, user_name_arg: Optional[str] = _positional("USER_NAME", "--user-name"),
                      user_name: Optional[str] = _named("--user-name", USER_NAME_HELP)) -> None:
    """Create an access key for a user; prints the key id and the secret (shown only this once)."""
    key = _call(ctx, "iam", "create_access_key",
                UserName=arguments.required(user_name, user_name_arg, "--user-name"))["AccessKey"]
    output.show_one(ctx, key, NEW_ACCESS_KEY_COLUMNS)


@iam_app.command("list-access-keys")
def list_access_keys(ctx: typer.Context, user_name_arg: Optional[str] = _positional("USER_NAME", "--user-name"),
                     user_name: Optional[str] = _named("--user-name", "The user (default: the caller).")) -> None:
    """List a user's access keys (default: the caller's own): ACCESS KEY ID, STATUS, USER NAME, CREATED."""
    name = arguments.either(user_name, user_name_arg, "--user-name")
    args = {"UserName": name} if name else {}
    output.show_list(ctx, list(ctx.obj["iam"].pages("list_access_keys", "AccessKeyMetadata", token="Marker", **args)),
                     ACCESS_KEY_COLUMNS)


# --- policies --------------------------------------------------------------------------------
def _put_policy_command(entity: str) -> None:
    """`put-user-policy` and `put-role-policy`: one command, told apart by `entity`."""
    option, metavar, kind = f"--{entity.lower()}-name", f"{entity.upper()}_NAME", entity.lower()

    def put_policy(ctx: typer.Context, name_arg: Optional[str] = _positional(metavar, option),
                   policy_name_arg: Optional[str] = _positional("POLICY_NAME", "--policy-name"),
                   policy_file_arg: Optional[str] = _positional("POLICY_FILE", "--policy-document"),
                   name: Optional[str] = _named(option, f"The {kind}'s name."),
                   policy_name: Optional[str] = _named("--policy-name", "The policy's name."),
                   policy_document: Optional[str] = _named("--policy-document", POLICY_DOCUMENT_HELP)) -> None:
        named = arguments.required(name, name_arg, option)
        policy = arguments.required(policy_name, policy_name_arg, "--policy-name")
        document = arguments.document(arguments.required(policy_document, policy_file_arg, "--policy-document"))
        _call(ctx, "iam", f"put_{kind}_policy", **{f"{entity}Name": named}, PolicyName=policy, PolicyDocument=document)
        output.tell(ctx, f"put policy {policy} on {kind} {named}")

    put_policy.__doc__ = (f"Attach (or replace) an inline identity policy on a {kind}: "
                          f"{option} N --policy-name P --policy-document file://policy.json (or N P policy.json).")
    iam_app.command(f"put-{kind}-policy")(put_policy)


_put_policy_command("User")
_put_policy_command("Role")


# --- STS -------------------------------------------------------------------------------------
@iam_app.command("assume-role")
def assume_role(
    ctx: typer.Context,
    role_arn_arg: Optional[str] = _positional("ROLE_ARN", "--role-arn"),
    session_name_arg: Optional[str] = _positional("SESSION_NAME", "--role-session-name"),
    role_arn: Optional[str] = _named("--role-arn", "The role to assume."),
    role_session_name: Optional[str] = _named("--role-session-name", "The session name."),
    duration_seconds: int = typer.Option(3600, help="Seconds (900..the role's maximum)."),
) -> None:
    """Assume a role; prints `export AWS_...` lines for eval "$(...)", or with --output the credentials."""
    arn = arguments.either(role_arn, role_arn_arg, "--role-arn")
    session = arguments.either(role_session_name, session_name_arg, "--role-session-name")
    if not arn or not session:
        arguments.missing("--role-arn", "--role-session-name")
    found = _call(ctx, "sts", "assume_role", RoleArn=arn, RoleSessionName=session, DurationSeconds=duration_seconds)
    if output.requested(ctx) is not None:
        output.show_one(ctx, found, SESSION_COLUMNS)
        return
    creds = found["Credentials"]
    typer.echo(f"export AWS_ACCESS_KEY_ID={creds['AccessKeyId']}")
    typer.echo(f"export AWS_SECRET_ACCESS_KEY={creds['SecretAccessKey']}")
    typer.echo(f"export AWS_SESSION_TOKEN={creds['SessionToken']}")
    typer.echo(f"# expires {output.when(creds['Expiration'])}")


@iam_app.command("whoami")
def whoami(ctx: typer.Context) -> None:
    """Who the current credentials are (sts:GetCallerIdentity): ARN, ACCOUNT, USER ID."""
    output.show_one(ctx, _call(ctx, "sts", "get_caller_identity"), CALLER_COLUMNS)
