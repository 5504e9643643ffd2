"""`paramstore params ...`: read and write SSM parameters, export them, and run programs with them.

Each command calls a running server through boto3's ssm client, signed with the usual AWS
credential chain (AWS_ACCESS_KEY_ID / AWS_PROFILE / ~/.aws/...).  The server is
`--endpoint-url`, else env PARAMSTORE_ENDPOINT_URL, AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL,
else http://127.0.0.1:8080.

Values never have to appear on a command line (where `ps` and shell history would see them):
`put` and `import` read them from a file or stdin, and no error message repeats a value.
Arguments also take the AWS CLI's names (`put --name N --value V`, `get --name N
--with-decryption`); what each command prints is cli/output.py's, its errors cli/errors.py's.
"""

from __future__ import annotations

import contextlib
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

import paramstore.cli.arguments as arguments
import paramstore.cli.output as output
from paramstore.cli.endpoints import (ServiceClient, client_group, endpoint_option, profile_option, region_option,
                                      resolve_endpoint)
from paramstore.cli.errors import SERVICE_ERROR, aws_error, fail, hidden, report
from paramstore.cli.programs import EXEC_REFUSED_VARIABLES as EXEC_REFUSED_VARIABLES  # README names it here
from paramstore.cli.programs import refuse_unsafe, run
from paramstore.cli.programs import refused_variable as refused_variable  # where the tests look for it

DELETE_BATCH = 10  # DeleteParameters takes at most 10 names
NOTHING_UNDER_PATH = 1  # `exec` with no parameter to give the program: it is not run

params_app = typer.Typer(help="SSM parameters: put, get, list, history, labels, export/import, exec; the AWS "
                              "CLI's argument names work too.  Listings print a table; --output json|table|text.",
                         no_args_is_help=True, cls=client_group())


class ParameterType(str, Enum):
    String = "String"
    StringList = "StringList"
    SecureString = "SecureString"


class Tier(str, Enum):
    Standard = "Standard"
    Advanced = "Advanced"
    IntelligentTiering = "Intelligent-Tiering"


class Format(str, Enum):
    dotenv = "dotenv"
    json = "json"


@params_app.callback()
def _options(ctx: typer.Context, endpoint_url: Optional[str] = endpoint_option("AWS_ENDPOINT_URL_SSM"),
             region: Optional[str] = region_option(), profile: Optional[str] = profile_option()) -> None:
    ctx.obj = ServiceClient("ssm", resolve_endpoint(endpoint_url, "AWS_ENDPOINT_URL_SSM"), region, profile,
                            attempts=2)


def _ssm(ctx: typer.Context) -> ServiceClient:
    return ctx.obj


def _name_option() -> Any:
    return typer.Option(None, "--name", show_default=False, help="The parameter, as the AWS CLI names it.")


def _name_argument() -> Any:
    return typer.Argument(None, metavar="NAME", show_default=False, help="The parameter (or --name).")


def _decrypt_option(what: str) -> Any:
    return typer.Option(False, "--decrypt", "--with-decryption", help=what)


PARAMETER_COLUMNS: list[output.Column] = [("NAME", "Name"), ("TYPE", "Type"), ("VERSION", "Version"),
                                          ("LAST MODIFIED", "LastModifiedDate")]
VALUE_COLUMNS = PARAMETER_COLUMNS[:3] + [("VALUE", "Value")] + PARAMETER_COLUMNS[3:] + [("ARN", "ARN")]
PUT_COLUMNS: list[output.Column] = [("VERSION", "Version"), ("TIER", "Tier")]


# --- values in and out -----------------------------------------------------------------------
def env_name(parameter_name: str) -> str:
    """The environment variable for a parameter: its last path segment, upper-cased, '-' and '.' as '_'."""
    return parameter_name.rsplit("/", 1)[-1].upper().replace("-", "_").replace(".", "_")


def _by_env_name(parameters: list[dict]) -> dict[str, str]:
    """NAME -> value; two parameters with one variable name are an error, not a silent pick."""
    out: dict[str, str] = {}
    origin: dict[str, str] = {}
    for param in parameters:
        key = env_name(param["Name"])
        if key in origin:
            fail(f"{origin[key]} and {param['Name']} both become {key}; narrow the path or use --no-recursive")
        origin[key], out[key] = param["Name"], param["Value"]
    return out


_DOTENV_PLAIN = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.,/:@+%")
_DOTENV_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
                   "\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}


def dotenv_quote(value: str) -> str:
    """A value as dotenv reads it back exactly: bare when plain, in single quotes when that
    needs no escapes, else double quotes with backslash escapes (python-dotenv, docker compose)."""
    if value and all(ch in _DOTENV_PLAIN for ch in value):
        return value
    if "'" not in value and "\\" not in value and all(ch.isprintable() for ch in value):
        return f"'{value}'"
    return '"' + "".join(_DOTENV_ESCAPES.get(ch, ch) for ch in value) + '"'


_DOUBLE_QUOTE_UNESCAPES = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f",
                           "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class DotenvError(ValueError):
    pass


def parse_dotenv(text: str) -> dict[str, str]:
    """KEY=value lines: `export ` prefixes, # comments, bare, 'single' and "double" quoted
    values (quoted ones may span lines), with python-dotenv's escapes."""
    out: dict[str, str] = {}
    pos, line, n = 0, 1, len(text)

    def error(message: str) -> None:
        raise DotenvError(f"line {line}: {message}")

    while pos < n:
        end = text.find("\n", pos)
        end = n if end < 0 else end
        stripped = text[pos:end].strip()
        if not stripped or stripped.startswith("#"):
            pos, line = end + 1, line + 1
            continue
        # key
        cur = pos + (len(text[pos:end]) - len(text[pos:end].lstrip()))
        if text.startswith("export", cur) and cur + 6 < end and text[cur + 6] in " \t":
            cur += 6
            while cur < end and text[cur] in " \t":
                cur += 1
        key_start = cur
        while cur < end and (text[cur].isalnum() or text[cur] in "_.-"):
            cur += 1
        key = text[key_start:cur]
        while cur < end and text[cur] in " \t":
            cur += 1
        if not key or cur >= end or text[cur] != "=":
            error("expected KEY=value")
        cur += 1
        while cur < end and text[cur] in " \t":
            cur += 1
        start_line = line
        if cur < n and text[cur] in "'\"":
            quote, cur = text[cur], cur + 1
            chars: list[str] = []
            while True:
                if cur >= n:
                    line = start_line
                    error(f"{key}: unterminated {quote}-quoted value")
                ch = text[cur]
                if ch == quote:
                    cur += 1
                    break
                if ch == "\\" and cur + 1 < n:
                    nxt = text[cur + 1]
                    if quote == "'" and nxt in "\\'":
                        chars.append(nxt)
                        cur += 2
                        continue
                    if quote == '"' and nxt in _DOUBLE_QUOTE_UNESCAPES:
                        chars.append(_DOUBLE_QUOTE_UNESCAPES[nxt])
                        cur += 2
                        continue
                if ch == "\n":
                    line += 1
                chars.append(ch)
                cur += 1
            value = "".join(chars)
            end = text.find("\n", cur)
            end = n if end < 0 else end
            rest = text[cur:end].strip()
            if rest and not rest.startswith("#"):
                error(f"{key}: unexpected text after the closing quote")
        else:
            raw = text[cur:end]
            hash_at = next((i for i, ch in enumerate(raw) if ch == "#" and (i == 0 or raw[i - 1] in " \t")), None)
            value = (raw if hash_at is None else raw[:hash_at]).strip()
        out[key] = value
        pos, line = end + 1, line + 1
    return out


def _parameters_under(ssm: ServiceClient, path: str, recursive: bool, decrypt: bool) -> list[dict]:
    found = ssm.pages("get_parameters_by_path", "Parameters", Path=path, Recursive=recursive,
                      WithDecryption=decrypt, MaxResults=10)
    return sorted(found, key=lambda p: p["Name"])


# --- commands --------------------------------------------------------------------------------
# one line per paragraph: this typer keeps a docstring's line breaks in --help
_PUT_HELP = "\n\n".join((
    "Create a parameter, or a new version of one with --overwrite; prints `Version: N  Tier: T` "
    "(with --output, that record).",
    "The value comes from VALUE or --value, from a file (--from-file PATH, or --value file://PATH), or from "
    "stdin ('-', or no value at all; at a terminal it is asked for without echo).  A file and stdin are read "
    "the same way: exactly one trailing newline (\\n or \\r\\n) is dropped, so `echo s3cret | paramstore "
    "params put NAME` and a file an editor saved both store `s3cret`; --raw keeps every byte, a final newline "
    "too.  A value on the command line is seen by ps and shell history: prefer stdin or a file for secrets.",
))


@params_app.command("put", help=_PUT_HELP)
def put(
    ctx: typer.Context,
    name_arg: Optional[str] = _name_argument(),
    value_arg: Optional[str] = typer.Argument(
        None, metavar="VALUE", show_default=False,
        help="The value; '-' or omitted reads stdin (prefer stdin or --from-file for secrets)."),
    name: Optional[str] = _name_option(),
    value: Optional[str] = typer.Option(
        None, "--value", show_default=False,
        help="The value as the AWS CLI names it; file://PATH reads it from a file, as --from-file does."),
    from_file: Optional[Path] = typer.Option(
        None, "--from-file", "-f",
        help="Read the value from this file ('-': stdin). As with stdin, one trailing newline is dropped."),
    raw: bool = typer.Option(False, "--raw", help="Keep every byte of a file or stdin, a final newline too."),
    type_: ParameterType = typer.Option(ParameterType.String, "--type", help="Parameter type."),
    key_id: Optional[str] = typer.Option(None, help="KMS key for a SecureString (default: alias/aws/ssm)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing parameter (a new version)."),
    tier: Optional[Tier] = typer.Option(None, help="Storage tier."),
    description: Optional[str] = typer.Option(None, help="Description."),
    label: Optional[list[str]] = typer.Option(None, "--label", help="Label the new version (repeatable)."),
    allowed_pattern: Optional[str] = typer.Option(None, help="Regular expression every value must match."),
    data_type: Optional[str] = typer.Option(None, help="text, aws:ec2:image or aws:ssm:integration."),
) -> None:
    """Create a parameter, or a new version of one (help: _PUT_HELP)."""
    if name is not None and value_arg is None:  # `put --name NAME VALUE`: the one positional is the value
        name_arg, value_arg = None, name_arg
    parameter = arguments.required(name, name_arg, "--name")
    secret = arguments.read_value(value, value_arg, from_file, raw, "--value")
    args: dict[str, Any] = dict(Name=parameter, Value=secret, Type=type_.value, Overwrite=overwrite)
    for field, given in (("KeyId", key_id), ("Tier", tier.value if tier else None), ("Description", description),
                         ("AllowedPattern", allowed_pattern), ("DataType", data_type)):
        if given is not None:
            args[field] = given
    ssm = _ssm(ctx)
    with hidden(ctx, secret):
        result = ssm.call("put_parameter", **args)
    result.setdefault("Tier", "Standard")
    if output.requested(ctx) is None:
        typer.echo(f"Version: {result['Version']}  Tier: {result['Tier']}")
    else:
        output.show_one(ctx, result, PUT_COLUMNS)
    if label:
        _label(ssm, parameter, result["Version"], label,
               failure_prefix=f"{parameter} version {result['Version']} was stored, but ")


@params_app.command("get")
def get(
    ctx: typer.Context,
    name_arg: Optional[str] = _name_argument(),
    name: Optional[str] = _name_option(),
    version: Optional[int] = typer.Option(None, help="A past version (default: the latest)."),
    label: Optional[str] = typer.Option(None, help="The version carrying this label."),
    decrypt: bool = _decrypt_option("Decrypt a SecureString."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole Parameter as JSON (--output json)."),
) -> None:
    """Print a parameter's value alone, so that `$(paramstore params get NAME)` works (--output: the Parameter)."""
    parameter_name = arguments.required(name, name_arg, "--name")
    if version is not None and label is not None:
        fail("give --version or --label, not both")
    selector = f":{version}" if version is not None else f":{label}" if label is not None else ""
    parameter = _ssm(ctx).call("get_parameter", Name=parameter_name + selector, WithDecryption=decrypt)["Parameter"]
    if as_json or output.requested(ctx) is not None:
        output.show_one(ctx, parameter, VALUE_COLUMNS, fmt=output.for_records(ctx, as_json))
    else:
        typer.echo(parameter["Value"])


@params_app.command("ls")
def ls(
    ctx: typer.Context,
    path_arg: Optional[str] = typer.Argument(None, metavar="PATH", show_default=False,
                                             help="A path such as /myapp/prod (default: /)."),
    path: Optional[str] = typer.Option(None, "--path", show_default=False, help="The path, as the AWS CLI names it."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Include every level below PATH."),
) -> None:
    """List the parameters under PATH (from their metadata: no value is fetched or decrypted)."""
    where = arguments.either(path, path_arg, "--path") or "/"
    filters = [{"Key": "Path", "Option": "Recursive" if recursive else "OneLevel", "Values": [where]}]
    found = sorted(_ssm(ctx).pages("describe_parameters", "Parameters", ParameterFilters=filters, MaxResults=50),
                   key=lambda p: p["Name"])
    output.show_list(ctx, found, PARAMETER_COLUMNS)


@params_app.command("history")
def history(
    ctx: typer.Context,
    name_arg: Optional[str] = _name_argument(),
    name: Optional[str] = _name_option(),
    decrypt: bool = _decrypt_option("Show each version's value, decrypted."),
) -> None:
    """Every version of a parameter, with its labels and who changed it (values only with --decrypt)."""
    versions = _ssm(ctx).pages("get_parameter_history", "Parameters", WithDecryption=decrypt, MaxResults=50,
                               Name=arguments.required(name, name_arg, "--name"))
    records = [v if decrypt else {k: field for k, field in v.items() if k != "Value"}
               for v in sorted(versions, key=lambda p: p["Version"])]
    columns: list[output.Column] = [("VERSION", "Version"), ("LABELS", "Labels"), ("TYPE", "Type"),
                                    ("LAST MODIFIED", "LastModifiedDate"), ("USER", "LastModifiedUser")]
    output.show_list(ctx, records, columns + ([("VALUE", "Value")] if decrypt else []))


def _label(ssm: ServiceClient, name: str, version: Optional[int], labels: list[str], failure_prefix: str = "") -> int:
    """Attach labels; returns the labelled version.  Labels the server refuses fail the command."""
    args: dict[str, Any] = dict(Name=name, Labels=labels)
    if version is not None:
        args["ParameterVersion"] = version
    result = ssm.call("label_parameter_version", **args)
    if result.get("InvalidLabels"):
        fail(f"{failure_prefix}InvalidLabels: not valid as labels: {', '.join(result['InvalidLabels'])}",
             SERVICE_ERROR)
    return result.get("ParameterVersion", version)


@params_app.command("label")
def label(
    ctx: typer.Context,
    name: str,
    labels: list[str] = typer.Argument(..., help="Labels to attach (moved from another version if there)."),
    version: Optional[int] = typer.Option(None, "--version", "--parameter-version",
                                          help="The version to label (default: the latest)."),
) -> None:
    """Attach labels to a version, so readers can ask for NAME:LABEL instead of a number."""
    labelled = _label(_ssm(ctx), name, version, labels)
    output.tell(ctx, f"labelled {name} version {labelled}: {', '.join(labels)}")


@params_app.command("unlabel")
def unlabel(
    ctx: typer.Context,
    name: str,
    labels: list[str] = typer.Argument(..., help="Labels to remove."),
    version: int = typer.Option(..., "--version", "--parameter-version", help="The version carrying the labels."),
) -> None:
    """Remove labels from a version."""
    result = _ssm(ctx).call("unlabel_parameter_version", Name=name, ParameterVersion=version, Labels=labels)
    if result.get("RemovedLabels"):
        output.tell(ctx, f"removed from {name} version {version}: {', '.join(result['RemovedLabels'])}")
    if result.get("InvalidLabels"):
        fail(f"InvalidLabels: not on version {version}: {', '.join(result['InvalidLabels'])}", SERVICE_ERROR)


@params_app.command("rm")
def rm(
    ctx: typer.Context,
    names_arg: Optional[list[str]] = typer.Argument(None, metavar="NAME", show_default=False,
                                                    help="Parameters to delete."),
    names_opt: Optional[list[str]] = typer.Option(None, "--name", "--names", show_default=False,
                                                  help="A parameter to delete, as the AWS CLI names it (repeatable)."),
) -> None:
    """Delete parameters with all their versions; names that are not there are reported and fail."""
    names = (names_opt or []) + (names_arg or [])
    if not names:
        arguments.missing("--name")
    ssm = _ssm(ctx)
    if len(names) == 1:
        ssm.call("delete_parameter", Name=names[0])
        output.tell(ctx, f"deleted {names[0]}")
        return
    missing: list[str] = []
    for start in range(0, len(names), DELETE_BATCH):
        result = ssm.call("delete_parameters", Names=names[start:start + DELETE_BATCH])
        for deleted in result.get("DeletedParameters", []):
            output.tell(ctx, f"deleted {deleted}")
        missing.extend(result.get("InvalidParameters", []))
    if missing:
        fail(f"ParameterNotFound: {', '.join(missing)}", SERVICE_ERROR)


@params_app.command("export")
def export(
    ctx: typer.Context,
    path: str,
    format_: Format = typer.Option(Format.dotenv, "--format", help="dotenv (KEY=value) or json (name: value)."),
    recursive: bool = typer.Option(True, "--recursive/--no-recursive", help="Include every level below PATH."),
    decrypt: bool = typer.Option(True, "--decrypt/--no-decrypt", help="Decrypt SecureString values."),
) -> None:
    """Print the parameters under PATH as a .env file or a JSON object, for tools that want files."""
    found = _parameters_under(_ssm(ctx), path, recursive, decrypt)
    if format_ is Format.json:
        typer.echo(json.dumps({p["Name"]: p["Value"] for p in found}, indent=2, ensure_ascii=False))
        return
    for key, value in _by_env_name(found).items():
        typer.echo(f"{key}={dotenv_quote(value)}")


@params_app.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="A .env file or a JSON object ('-' for stdin)."),
    format_: Optional[Format] = typer.Option(None, "--format",
                                             help="dotenv or json (default: by extension, .json is JSON)."),
    prefix: str = typer.Option("", help="Put each name under this path, e.g. /myapp/prod."),
    type_: ParameterType = typer.Option(ParameterType.SecureString, "--type",
                                        help="Type of every imported parameter (an env file is usually secrets)."),
    key_id: Optional[str] = typer.Option(None, help="KMS key for SecureString values."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing parameters (new versions)."),
) -> None:
    """Create one parameter per entry of a .env or JSON file (the formats that `export` prints)."""
    from botocore.exceptions import ClientError

    ssm = _ssm(ctx)
    text = arguments.read_text_file(file).replace("\r\n", "\n").replace("\r", "\n")  # universal newlines
    fmt = format_ or (Format.json if file.suffix.lower() == ".json" else Format.dotenv)
    entries = _parse_import(text, fmt, file)
    items = [(f"{prefix.rstrip('/')}/{key.lstrip('/')}" if prefix else key, value)
             for key, value in entries.items()]
    failures = 0
    # a bar for people watching; click would still print its label once into a pipe or log
    bar = typer.progressbar(items, label="importing", file=sys.stderr) if sys.stderr.isatty() \
        else contextlib.nullcontext(items)
    with bar as progress:
        for name, value in progress:
            args: dict[str, Any] = dict(Name=name, Value=value, Type=type_.value, Overwrite=overwrite)
            if key_id is not None:
                args["KeyId"] = key_id
            with hidden(ctx, value):
                try:
                    ssm.call("put_parameter", **args)
                except ClientError as exc:  # a refused entry does not stop the others (no answer does)
                    report(f"{name}: {aws_error(exc)}", secrets=(value,))
                    failures += 1
    output.tell(ctx, f"imported {len(items) - failures} of {len(items)} parameters")
    if failures:
        raise typer.Exit(SERVICE_ERROR)


def _parse_import(text: str, fmt: Format, file: Path) -> dict[str, str]:
    if fmt is Format.json:
        try:
            data = json.loads(text)
        except ValueError as exc:
            fail(f"{file}: not JSON ({exc.msg} at line {exc.lineno})")
        if not isinstance(data, dict):
            fail(f"{file}: expected a JSON object of name: value")
        bad = [key for key, value in data.items() if not isinstance(value, str)]
        if bad:
            fail(f"{file}: values must be strings (not for {', '.join(bad)})")
        return data
    try:
        return parse_dotenv(text)
    except DotenvError as exc:
        fail(f"{file}: {exc}")


# one line per paragraph: this typer keeps a docstring's line breaks in --help
_EXEC_HELP = "\n\n".join((
    "Run a program with the parameters under PATH as environment variables (decrypted).",
    "/myapp/prod/db-password becomes DB_PASSWORD, overriding any variable of that name, so an application "
    "gets its configuration at startup without a line of SSM code: "
    "`paramstore params exec /myapp/prod -- python app.py`.",
    "Variables that change how a program runs rather than configure it are refused: PATH, HOME, SHELL, "
    "TMPDIR, LD_*, DYLD_*, PYTHON*, NODE_OPTIONS, JAVA_TOOL_OPTIONS, BASH_ENV, IFS, PS4, CA bundles "
    "(SSL_CERT_FILE, REQUESTS_CA_BUNDLE, ...), proxies, AWS_* and PARAMSTORE_* among others.  A parameter "
    "that would set one stops the command (exit 2) before the program starts; name the variable with "
    "--allow-env to let it through.",
    "When no parameter is under PATH (a typo, or one level too high without --recursive) the program is "
    "not run and the exit code is 1, unless --allow-empty is given.",
))


@params_app.command("exec", help=_EXEC_HELP)
def exec_(
    ctx: typer.Context,
    path: str,
    command: list[str] = typer.Argument(..., help="The program and its arguments (after --)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Include every level below PATH."),
    allow_env: Optional[list[str]] = typer.Option(
        None, "--allow-env", metavar="NAME",
        help="Let a parameter set this variable although it changes how programs run, e.g. PATH (repeatable)."),
    allow_empty: bool = typer.Option(False, "--allow-empty",
                                     help="Run the program even when no parameter is under PATH."),
) -> None:
    """Run a program with the parameters under PATH as environment variables (help: _EXEC_HELP)."""
    found = _parameters_under(_ssm(ctx), path, recursive, decrypt=True)
    if not found and not allow_empty:
        hint = "" if recursive else "; deeper levels need --recursive"
        fail(f"no parameters under {path} (nothing run{hint}; --allow-empty runs it anyway)", NOTHING_UNDER_PATH)
    refuse_unsafe([(env_name(p["Name"]), p["Name"]) for p in found], allow_env, "a parameter")
    run(command, _by_env_name(found))
