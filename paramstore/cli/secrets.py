"""`paramstore secrets ...`: Secrets Manager secrets: create them, store new values, read,
list, rotate, delete and restore them, and run programs with a JSON secret's fields.

Each command calls a running server through boto3's secretsmanager client, signed with the
usual AWS credential chain (AWS_ACCESS_KEY_ID / AWS_PROFILE / ~/.aws/...).  The server is
`--endpoint-url`, else env PARAMSTORE_ENDPOINT_URL, AWS_ENDPOINT_URL_SECRETS_MANAGER,
AWS_ENDPOINT_URL, else http://127.0.0.1:8080.

As with `paramstore params`: values never have to appear on a command line (`create` and
`put` read them from a file or stdin, dropping exactly one trailing newline unless --raw),
no error message repeats a value, and the AWS CLI's argument names work too (`create --name
N --secret-string S`, `get --secret-id N --version-stage L`).  What each command prints is
cli/output.py's, its errors cli/errors.py's.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any, Optional

import typer

import paramstore.cli.arguments as arguments
import paramstore.cli.output as output
from paramstore.cli.endpoints import (ServiceClient, client_group, endpoint_option, profile_option, region_option,
                                      resolve_endpoint)
from paramstore.cli.errors import SERVICE_ERROR, fail, hidden
from paramstore.cli.iam import _tag_option, _tags
from paramstore.cli.programs import refuse_unsafe, run

SERVICE_VARIABLE = "AWS_ENDPOINT_URL_SECRETS_MANAGER"  # botocore's name for the service's endpoint
PAGE = 100  # ListSecrets and ListSecretVersionIds: the most one page holds
BINARY_FILE_PREFIX = "fileb://"
#: a secret that was read but can't be used as asked (`get --field`, `exec`: not JSON, not an
#: object, no such field): exit 1, as when the server refuses: the request had its answer
UNUSABLE_SECRET = SERVICE_ERROR

secrets_app = typer.Typer(help="Secrets Manager secrets: create, put, get, list, history, rotate, rm/restore, "
                               "exec; the AWS CLI's argument names work too.  Listings print a table; "
                               "--output json|table|text.",
                          no_args_is_help=True, cls=client_group())


@secrets_app.callback()
def _options(ctx: typer.Context, endpoint_url: Optional[str] = endpoint_option(SERVICE_VARIABLE),
             region: Optional[str] = region_option(), profile: Optional[str] = profile_option()) -> None:
    ctx.obj = ServiceClient("secretsmanager", resolve_endpoint(endpoint_url, SERVICE_VARIABLE), region, profile,
                            attempts=2)


def _sm(ctx: typer.Context) -> ServiceClient:
    return ctx.obj


def _id_argument() -> Any:
    return typer.Argument(None, metavar="NAME", show_default=False,
                          help="The secret: its name or ARN (or --secret-id).")


def _id_option() -> Any:
    return typer.Option(None, "--secret-id", show_default=False, help="The secret, as the AWS CLI names it.")


def _value_argument() -> Any:
    return typer.Argument(None, metavar="VALUE", show_default=False,
                          help="The value; '-' or omitted reads stdin (prefer stdin or --from-file for secrets).")


def _secret_string_option() -> Any:
    return typer.Option(None, "--secret-string", show_default=False,
                        help="The value as the AWS CLI names it; file://PATH reads a file, as --from-file does.")


def _from_file_option() -> Any:
    return typer.Option(None, "--from-file", "-f",
                        help="Read the value from this file ('-': stdin); as from stdin, one final newline is dropped.")


def _raw_option() -> Any:
    return typer.Option(False, "--raw", help="Keep every byte of a file or stdin, a final newline too.")


def _secret_binary_option() -> Any:
    return typer.Option(None, "--secret-binary", metavar="fileb://PATH", show_default=False,
                        help="A binary secret: every byte of PATH (fileb://PATH as with the AWS CLI; '-': stdin).")


def _version_id_option() -> Any:
    return typer.Option(None, "--version-id", help="A version by its id (default: the AWSCURRENT one).")


def _stage_option() -> Any:
    return typer.Option(None, "--stage", "--version-stage", help="The version carrying this staging label.")


WRITE_COLUMNS: list[output.Column] = [("NAME", "Name"), ("VERSION ID", "VersionId"), ("ARN", "ARN")]
PUT_COLUMNS = WRITE_COLUMNS[:2] + [("STAGES", "VersionStages")] + WRITE_COLUMNS[2:]
VALUE_COLUMNS: list[output.Column] = [("NAME", "Name"), ("VERSION ID", "VersionId"), ("STAGES", "VersionStages"),
                                      ("VALUE", lambda r: r.get("SecretString", r.get("SecretBinary"))),
                                      ("CREATED", "CreatedDate"), ("ARN", "ARN")]
HISTORY_COLUMNS: list[output.Column] = [("VERSION ID", "VersionId"), ("STAGES", "VersionStages"),
                                        ("CREATED", "CreatedDate")]
DELETE_COLUMNS: list[output.Column] = [("NAME", "Name"), ("DELETION DATE", "DeletionDate"), ("ARN", "ARN")]


# --- values in and out -----------------------------------------------------------------------
def _secret_value(secret_string: Optional[str], value_arg: Optional[str], from_file: Optional[Path], raw: bool,
                  secret_binary: Optional[str]) -> dict[str, Any]:
    """SecretString (read as `params put` reads a value) or SecretBinary (every byte of a file)."""
    if secret_binary is None:
        return {"SecretString": arguments.read_value(secret_string, value_arg, from_file, raw, "--secret-string")}
    if secret_string is not None or value_arg is not None or from_file is not None:
        fail("give --secret-binary or a string value (VALUE, --secret-string, --from-file), not both")
    path = secret_binary[len(BINARY_FILE_PREFIX):] if secret_binary.startswith(BINARY_FILE_PREFIX) else secret_binary
    if path == "-":
        return {"SecretBinary": typer.get_binary_stream("stdin").read()}
    try:
        return {"SecretBinary": Path(os.path.expanduser(path)).read_bytes()}
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


def _as_text(value: dict[str, Any]) -> str:
    """The value as errors.hidden masks it: a binary one only if it is text at all."""
    if "SecretString" in value:
        return str(value["SecretString"])
    try:
        return bytes(value["SecretBinary"]).decode("utf-8")
    except UnicodeDecodeError:
        return ""


def _selector(target: str, version_id: Optional[str], stage: Optional[str]) -> dict[str, Any]:
    """GetSecretValue's arguments: both --version-id and --stage may be given (they must agree)."""
    args: dict[str, Any] = {"SecretId": target}
    if version_id is not None:
        args["VersionId"] = version_id
    if stage is not None:
        args["VersionStage"] = stage
    return args


def _printable(record: dict[str, Any]) -> dict[str, Any]:
    """A GetSecretValue record for --output: SecretBinary as base64, as the AWS CLI shows it."""
    if "SecretBinary" not in record:
        return record
    return {**record, "SecretBinary": base64.b64encode(record["SecretBinary"]).decode("ascii")}


def _json_object(target: str, record: dict[str, Any]) -> dict[str, Any]:
    """The secret's fields: its SecretString must be a JSON object.  The line for one that
    isn't says what it is instead, never what it holds."""
    if "SecretString" not in record:
        fail(f"{target} is a binary secret, not a JSON object", UNUSABLE_SECRET)
    try:
        fields = json.loads(record["SecretString"])
    except (ValueError, RecursionError):
        fail(f"{target} is not a JSON object (its value is not JSON)", UNUSABLE_SECRET)
    if not isinstance(fields, dict):
        kind = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(
            type(fields), "a number")
        fail(f"{target} is not a JSON object (its value is {kind})", UNUSABLE_SECRET)
    return fields


def field_text(value: Any) -> str:
    """A field's value as text: a string as it is, anything else as compact JSON (5432, true, null, {...})."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def env_variable(key: str, prefix: str = "") -> str:
    """The environment variable for a field: PREFIX+KEY upper-cased, every character but A-Z, 0-9 as '_'."""
    return re.sub(r"[^A-Za-z0-9]", "_", prefix + key).upper()


def _variables(target: str, fields: dict[str, Any], prefix: str) -> dict[str, tuple[str, str]]:
    """VARIABLE -> (field, value as text); a field that makes no variable, two fields that make
    one, or a value no environment can hold are errors, not silent picks."""
    out: dict[str, tuple[str, str]] = {}
    for key, value in fields.items():
        variable, text = env_variable(key, prefix), field_text(value)
        if not variable:
            fail(f"{target}: the field {key!r} makes no variable name (give --prefix)", UNUSABLE_SECRET)
        if variable in out:
            fail(f"{target}: the fields {out[variable][0]!r} and {key!r} both become {variable}", UNUSABLE_SECRET)
        if "\0" in text:
            fail(f"{target}: the field {key!r} holds a NUL character, which no environment variable can",
                 UNUSABLE_SECRET)
        out[variable] = (key, text)
    return out


def _filters(given: Optional[list[str]]) -> list[dict[str, Any]]:
    """KEY=VALUE filters as ListSecrets takes them: the values of one key together (ORed)."""
    grouped: dict[str, list[str]] = {}
    for item in given or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            fail(f"a filter is KEY=VALUE (name=PREFIX, description=WORDS, tag-key=K, tag-value=V, all=WORDS), "
                 f"not {item!r}")
        grouped.setdefault(key, []).append(value)
    return [{"Key": key, "Values": values} for key, values in grouped.items()]


def _rotation_rules(every_days: Optional[int], schedule: Optional[str],
                    rotation_rules: Optional[str]) -> Optional[dict[str, Any]]:
    given = [option for option, value in (("--every-days", every_days), ("--schedule", schedule),
                                          ("--rotation-rules", rotation_rules)) if value is not None]
    if len(given) > 1:
        fail(f"give one of {', '.join(given)}, not {len(given)}")
    if every_days is not None:
        return {"AutomaticallyAfterDays": every_days}
    if schedule is not None:
        return {"ScheduleExpression": schedule}
    if rotation_rules is None:
        return None
    try:
        rules = json.loads(arguments.document(rotation_rules))
    except ValueError as exc:
        fail(f"--rotation-rules is not JSON ({exc})")
    if not isinstance(rules, dict):
        fail("--rotation-rules is a JSON object, e.g. {\"AutomaticallyAfterDays\": 30}")
    return rules


# --- commands --------------------------------------------------------------------------------
# one line per paragraph: this typer keeps a docstring's line breaks in --help
_VALUE_HELP = (
    "The value comes from VALUE or --secret-string, from a file (--from-file PATH, or --secret-string "
    "file://PATH), or from stdin ('-', or no value at all; at a terminal it is asked for without echo).  A file "
    "and stdin are read the same way: exactly one trailing newline (\\n or \\r\\n) is dropped, so `echo s3cret | "
    "paramstore secrets put NAME` and a file an editor saved both store `s3cret`; --raw keeps every byte, a final "
    "newline too.  --secret-binary fileb://PATH stores every byte of a file as a binary secret.  A value on the "
    "command line is seen by ps and shell history: prefer stdin or a file.")
_CREATE_HELP = "\n\n".join((
    "Create a secret with its first value (labelled AWSCURRENT); prints its name, version id and ARN.",
    _VALUE_HELP,
))
_PUT_HELP = "\n\n".join((
    "Store a new value of a secret: a new version, which becomes AWSCURRENT (the one before it AWSPREVIOUS) "
    "unless --stage names other labels.",
    _VALUE_HELP,
))


@secrets_app.command("create", help=_CREATE_HELP)
def create(
    ctx: typer.Context,
    name_arg: Optional[str] = typer.Argument(None, metavar="NAME", show_default=False,
                                             help="The secret's name (or --name)."),
    value_arg: Optional[str] = _value_argument(),
    name: Optional[str] = typer.Option(None, "--name", show_default=False, help="The name, as the AWS CLI names it."),
    secret_string: Optional[str] = _secret_string_option(),
    from_file: Optional[Path] = _from_file_option(),
    raw: bool = _raw_option(),
    secret_binary: Optional[str] = _secret_binary_option(),
    description: Optional[str] = typer.Option(None, "--description", help="Description."),
    kms_key_id: Optional[str] = typer.Option(None, "--kms-key-id",
                                             help="KMS key that encrypts it (default: aws/secretsmanager)."),
    tag: Optional[list[str]] = _tag_option(),
) -> None:
    """Create a secret (help: _CREATE_HELP)."""
    if name is not None and value_arg is None:  # `create --name NAME VALUE`: the one positional is the value
        name_arg, value_arg = None, name_arg
    args: dict[str, Any] = {"Name": arguments.required(name, name_arg, "--name")}
    if tag:
        args["Tags"] = _tags(tag)
    for field, given in (("Description", description), ("KmsKeyId", kms_key_id)):
        if given is not None:
            args[field] = given
    value = _secret_value(secret_string, value_arg, from_file, raw, secret_binary)
    with hidden(ctx, _as_text(value)):
        result = _sm(ctx).call("create_secret", **args, **value)
    output.show_one(ctx, result, WRITE_COLUMNS)


@secrets_app.command("put", help=_PUT_HELP)
def put(
    ctx: typer.Context,
    id_arg: Optional[str] = _id_argument(),
    value_arg: Optional[str] = _value_argument(),
    secret_id: Optional[str] = _id_option(),
    secret_string: Optional[str] = _secret_string_option(),
    from_file: Optional[Path] = _from_file_option(),
    raw: bool = _raw_option(),
    secret_binary: Optional[str] = _secret_binary_option(),
    stage: Optional[list[str]] = typer.Option(
        None, "--stage", "--version-stages", metavar="LABEL",
        help="Label the new version with these staging labels instead of AWSCURRENT (repeatable)."),
) -> None:
    """Store a new value of a secret (help: _PUT_HELP)."""
    if secret_id is not None and value_arg is None:  # `put --secret-id NAME VALUE`
        id_arg, value_arg = None, id_arg
    args: dict[str, Any] = {"SecretId": arguments.required(secret_id, id_arg, "--secret-id")}
    if stage:
        args["VersionStages"] = stage
    value = _secret_value(secret_string, value_arg, from_file, raw, secret_binary)
    with hidden(ctx, _as_text(value)):
        result = _sm(ctx).call("put_secret_value", **args, **value)
    output.show_one(ctx, result, PUT_COLUMNS)


_GET_HELP = "\n\n".join((
    "Print a secret's value alone, so that `$(paramstore secrets get NAME)` works: a string as `params get` "
    "prints a value (with a newline after it), a binary secret as its bytes, exactly.",
    "--field KEY prints one field of a JSON object secret instead (a string as it is, anything else as JSON); a "
    "secret that is not a JSON object, or has no such field, fails with exit 1.  With --output (or --json), the "
    "whole record: SecretString or SecretBinary (base64), VersionId, VersionStages, CreatedDate, ARN.",
))


@secrets_app.command("get", help=_GET_HELP)
def get(
    ctx: typer.Context,
    id_arg: Optional[str] = _id_argument(),
    secret_id: Optional[str] = _id_option(),
    version_id: Optional[str] = _version_id_option(),
    stage: Optional[str] = _stage_option(),
    field: Optional[str] = typer.Option(None, "--field", metavar="KEY",
                                        help="Print this field of a JSON object secret."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole record as JSON (--output json)."),
) -> None:
    """Print a secret's value (help: _GET_HELP)."""
    target = arguments.required(secret_id, id_arg, "--secret-id")
    record = _sm(ctx).call("get_secret_value", **_selector(target, version_id, stage))
    if field is not None:
        fields = _json_object(target, record)
        if field not in fields:
            fail(f"{target} has no field {field!r}", UNUSABLE_SECRET)
        typer.echo(field_text(fields[field]))
    elif as_json or output.requested(ctx) is not None:
        output.show_one(ctx, _printable(record), VALUE_COLUMNS, fmt=output.for_records(ctx, as_json))
    elif "SecretBinary" in record:
        stdout = typer.get_binary_stream("stdout")
        stdout.write(record["SecretBinary"])
        stdout.flush()
    else:
        typer.echo(record["SecretString"])


@secrets_app.command("ls")
def ls(
    ctx: typer.Context,
    filter_: Optional[list[str]] = typer.Option(
        None, "--filter", metavar="KEY=VALUE",
        help="name=PREFIX, description=WORDS, tag-key=PREFIX, tag-value=PREFIX or all=WORDS; a leading ! negates "
             "(repeatable: the values of one key are ORed, the keys ANDed)."),
    include_deleted: bool = typer.Option(False, "--include-deleted", "--include-planned-deletion",
                                         help="Also list secrets scheduled for deletion, with their deletion date."),
) -> None:
    """List secrets by name (from their metadata: no value is read)."""
    args: dict[str, Any] = {"MaxResults": PAGE}
    filters = _filters(filter_)
    if filters:
        args["Filters"] = filters
    if include_deleted:
        args["IncludePlannedDeletion"] = True
    found = sorted(_sm(ctx).pages("list_secrets", "SecretList", **args), key=lambda s: s["Name"])
    columns: list[output.Column] = [("NAME", "Name"), ("LAST CHANGED", "LastChangedDate"),
                                    ("ROTATION ENABLED", lambda s: bool(s.get("RotationEnabled")))]
    if include_deleted:
        columns.append(("DELETION DATE", "DeletedDate"))
    output.show_list(ctx, found, columns + [("DESCRIPTION", "Description")])


@secrets_app.command("history")
def history(
    ctx: typer.Context,
    id_arg: Optional[str] = _id_argument(),
    secret_id: Optional[str] = _id_option(),
    include_deprecated: bool = typer.Option(False, "--include-deprecated",
                                            help="Also the versions that no staging label is on any more."),
) -> None:
    """A secret's versions, oldest first, with their staging labels (never their values)."""
    versions = list(_sm(ctx).pages("list_secret_version_ids", "Versions", MaxResults=PAGE,
                                   SecretId=arguments.required(secret_id, id_arg, "--secret-id"),
                                   IncludeDeprecated=include_deprecated))
    # the API lists the newest first; a sort by time alone would leave versions of one second in any order
    output.show_list(ctx, sorted(reversed(versions), key=lambda v: v["CreatedDate"]), HISTORY_COLUMNS)


_ROTATE_HELP = "\n\n".join((
    "Rotate a secret now, or set how it is rotated: --rotation-lambda-arn names the rotation function, "
    "--every-days N or --schedule 'rate(10 days)' / 'cron(0 16 1,15 * ? *)' (or the AWS CLI's --rotation-rules "
    "JSON) when; --no-immediately saves the settings without rotating now (by default the first rotation starts "
    "at once).",
    "Prints the secret's name, ARN and the id of the version a started rotation creates.",
))


@secrets_app.command("rotate", help=_ROTATE_HELP)
def rotate(
    ctx: typer.Context,
    id_arg: Optional[str] = _id_argument(),
    secret_id: Optional[str] = _id_option(),
    rotation_lambda_arn: Optional[str] = typer.Option(None, "--rotation-lambda-arn",
                                                      help="The ARN of the rotation function."),
    every_days: Optional[int] = typer.Option(None, "--every-days", min=1, max=1000,
                                             help="Rotate every N days (AutomaticallyAfterDays)."),
    schedule: Optional[str] = typer.Option(None, "--schedule", metavar="EXPR",
                                           help="Rotate on a rate() or cron() schedule (ScheduleExpression)."),
    rotation_rules: Optional[str] = typer.Option(
        None, "--rotation-rules", metavar="JSON",
        help="RotationRules as the AWS CLI takes them: inline JSON or file://PATH."),
    immediately: Optional[bool] = typer.Option(
        None, "--immediately/--no-immediately", "--rotate-immediately/--no-rotate-immediately",
        show_default=False, help="Rotate now as well (the default), or only save the settings."),
) -> None:
    """Rotate a secret, or set its rotation (help: _ROTATE_HELP)."""
    args: dict[str, Any] = {"SecretId": arguments.required(secret_id, id_arg, "--secret-id")}
    rules = _rotation_rules(every_days, schedule, rotation_rules)
    if rotation_lambda_arn is not None:
        args["RotationLambdaARN"] = rotation_lambda_arn
    if rules is not None:
        args["RotationRules"] = rules
    if immediately is not None:
        args["RotateImmediately"] = immediately
    output.show_one(ctx, _sm(ctx).call("rotate_secret", **args), WRITE_COLUMNS)


@secrets_app.command("rm")
def rm(
    ctx: typer.Context,
    id_arg: Optional[str] = _id_argument(),
    secret_id: Optional[str] = _id_option(),
    recovery_days: Optional[int] = typer.Option(
        None, "--recovery-days", "--recovery-window-in-days", metavar="N",
        help="Days (7 to 30) before it is deleted for good, during which `restore` brings it back (default 30)."),
    force: bool = typer.Option(False, "--force", "--force-delete-without-recovery",
                               help="Delete it now, every version, with no way back."),
) -> None:
    """Schedule a secret for deletion (`restore` brings it back until then), or delete it now with --force."""
    args: dict[str, Any] = {"SecretId": arguments.required(secret_id, id_arg, "--secret-id")}
    if force and recovery_days is not None:
        fail("give --recovery-days or --force, not both")
    if force:
        args["ForceDeleteWithoutRecovery"] = True
    if recovery_days is not None:
        args["RecoveryWindowInDays"] = recovery_days
    result = _sm(ctx).call("delete_secret", **args)
    if output.requested(ctx) is not None:
        output.show_one(ctx, result, DELETE_COLUMNS)
    elif force:
        typer.echo(f"deleted {result['Name']}")
    else:
        typer.echo(f"{result['Name']} will be deleted on {output.when(result['DeletionDate'])} "
                   f"(until then `paramstore secrets restore {result['Name']}` brings it back)")


@secrets_app.command("restore")
def restore(
    ctx: typer.Context,
    id_arg: Optional[str] = _id_argument(),
    secret_id: Optional[str] = _id_option(),
) -> None:
    """Cancel a secret's scheduled deletion."""
    result = _sm(ctx).call("restore_secret", SecretId=arguments.required(secret_id, id_arg, "--secret-id"))
    if output.requested(ctx) is not None:
        output.show_one(ctx, result, [("NAME", "Name"), ("ARN", "ARN")])
    else:
        typer.echo(f"restored {result['Name']}")


# one line per paragraph: this typer keeps a docstring's line breaks in --help
_EXEC_HELP = "\n\n".join((
    "Run a program with the fields of a JSON object secret as environment variables, over this environment.",
    "Each field becomes PREFIX+KEY, upper-cased, with every character but A-Z and 0-9 as '_': with --prefix "
    "DB_, {\"username\": ..., \"password\": ...} becomes DB_USERNAME and DB_PASSWORD, overriding any variable of "
    "that name: `paramstore secrets exec prod/db --prefix DB_ -- python app.py`.  A string is set as it is, any "
    "other value as JSON (5432, true, {...}).  No value is printed; the exit code is the program's.",
    "A secret that is not a JSON object, or two fields that make one variable, stop the command with exit 1 "
    "before the program starts.  Variables that change how a program runs rather than configure it (PATH, "
    "LD_*, PYTHON*, AWS_*, ... as for `params exec`) are refused with exit 2 unless named by --allow-env.",
))


@secrets_app.command("exec", help=_EXEC_HELP)
def exec_(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="The secret: its name or ARN."),
    command: list[str] = typer.Argument(..., help="The program and its arguments (after --)."),
    prefix: str = typer.Option("", "--prefix", help="Put this in front of every variable name, e.g. DB_."),
    version_id: Optional[str] = _version_id_option(),
    stage: Optional[str] = _stage_option(),
    allow_env: Optional[list[str]] = typer.Option(
        None, "--allow-env", metavar="NAME",
        help="Let a field set this variable although it changes how programs run, e.g. PATH (repeatable)."),
) -> None:
    """Run a program with a JSON secret's fields as environment variables (help: _EXEC_HELP)."""
    record = _sm(ctx).call("get_secret_value", **_selector(name, version_id, stage))
    variables = _variables(name, _json_object(name, record), prefix)
    refuse_unsafe([(variable, f"field {key!r} of {name}") for variable, (key, _) in variables.items()], allow_env,
                  "a secret")
    run(command, {variable: text for variable, (_, text) in variables.items()})
