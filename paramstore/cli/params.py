"""`paramstore params ...`: read and write SSM parameters, export them, and run programs with them.

Each command calls a running server through boto3's ssm client, signed with the usual AWS
credential chain (AWS_ACCESS_KEY_ID / AWS_PROFILE / ~/.aws/...).  The server is
`--endpoint-url`, else env PARAMSTORE_ENDPOINT_URL, AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL,
else http://127.0.0.1:8080.

Values never have to appear on a command line (where `ps` and shell history would see them):
`put` and `import` read them from a file or stdin, and no error message repeats a value.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Iterator, NoReturn, Optional

import typer

from paramstore.cli.endpoints import DEFAULT_ENDPOINT, client_group, resolve_endpoint

DELETE_BATCH = 10  # DeleteParameters takes at most 10 names
SHORTEST_REDACTED_ANYWHERE = 4

#: Variables that `params exec` will not set from a parameter unless named by --allow-env
#: (shell-style patterns, matched against the upper-cased variable name).  They decide which
#: program runs, what code it loads, which certificates it trusts, where it finds credentials
#: or sends its requests -- not the application's own settings.  Whoever may write one
#: parameter under the path could otherwise run code as whoever runs `exec`, or redirect its
#: traffic and secrets (/app/prod/ld-preload becomes LD_PRELOAD).
EXEC_REFUSED_VARIABLES = (
    # program lookup, the user's files, temporary files
    "PATH", "HOME", "SHELL", "TMPDIR", "TMP", "TEMP", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
    # dynamic loader, C library, character-set modules, resolver
    "LD_*", "DYLD_*", "GLIBC_TUNABLES", "MALLOC_*", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES",
    "RES_OPTIONS", "LOCALDOMAIN",
    # shells run by or as the program
    "BASH_ENV", "ENV", "BASH_FUNC_*", "SHELLOPTS", "BASHOPTS", "PS4", "IFS", "CDPATH", "GLOBIGNORE",
    "PROMPT_COMMAND", "ZDOTDIR",
    # interpreters and runtimes: start-up files, module paths, extra options
    "PYTHON*", "NODE_OPTIONS", "NODE_PATH", "PERL5LIB", "PERL5OPT", "PERLLIB", "PERL5DB", "RUBYOPT", "RUBYLIB",
    "GEM_PATH", "GEM_HOME", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
    # git, which runs the programs these name
    "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_EXEC_PATH", "GIT_CONFIG*",
    # TLS trust and proxies
    "OPENSSL_CONF", "OPENSSL_MODULES", "OPENSSL_ENGINES", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY",
    # AWS and paramstore credentials, profiles, endpoints, CA bundles
    "AWS_*", "PARAMSTORE_*",
)

params_app = typer.Typer(help="SSM parameters: put, get, list, history, labels, export/import, exec.",
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


class _Ssm:
    """The ssm client, made on first use so `--help` and argument errors need no credentials."""

    def __init__(self, endpoint_url: str, region: Optional[str], profile: Optional[str]) -> None:
        self.endpoint_url, self.region, self.profile = endpoint_url, region, profile
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session(profile_name=self.profile) if self.profile else boto3.session.Session()
            self._client = session.client(
                "ssm", endpoint_url=self.endpoint_url, region_name=self.region or session.region_name or "us-east-1",
                config=Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=5))
        return self._client

    def call(self, method: str, redact: tuple[str, ...] = (), about: str = "", **kwargs: Any) -> dict:
        """Call one SSM operation; failures end the command with a one-line `Code: message`
        (after `about: ` when given).

        `redact` lists secret values that must not be repeated should the server's message
        quote them."""
        from botocore.exceptions import (BotoCoreError, ClientError, EndpointConnectionError,
                                         NoCredentialsError)

        try:
            response = getattr(self.client(), method)(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            prefix = f"{about}: " if about else ""
            _fail(f"{prefix}{err.get('Code', 'Error')}: {_redacted(err.get('Message', ''), redact)}", 1)
        except NoCredentialsError:
            _fail("no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)", 2)
        except EndpointConnectionError:
            _fail(f"cannot connect to {self.endpoint_url} (is the server running? see --endpoint-url)", 2)
        except BotoCoreError as exc:
            _fail(_redacted(str(exc), redact), 2)
        response.pop("ResponseMetadata", None)
        return response

    def pages(self, method: str, field: str, **kwargs: Any) -> Iterator[dict]:
        """Every item of a NextToken-paged listing."""
        while True:
            page = self.call(method, **kwargs)
            yield from page.get(field, [])
            if not page.get("NextToken"):
                return
            kwargs["NextToken"] = page["NextToken"]


def _fail(message: str, code: int) -> NoReturn:
    """One line on stderr (an HTML error page from a proxy is folded and cut short)."""
    line = " ".join(message.split())
    if len(line) > 500:
        line = line[:497] + "..."
    typer.echo(f"paramstore: {line}", err=True)
    raise typer.Exit(code)


def _redacted(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced by ***; a very short one only where it stands alone,
    so that a value like "v" does not take every v out of the message."""
    for secret in secrets:
        if len(secret) >= SHORTEST_REDACTED_ANYWHERE:
            text = text.replace(secret, "***")
        elif secret:
            text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", text)
    return text


@params_app.callback()
def _options(
    ctx: typer.Context,
    endpoint_url: Optional[str] = typer.Option(
        None, envvar="PARAMSTORE_ENDPOINT_URL",
        help="The paramstore server (default: $AWS_ENDPOINT_URL_SSM, $AWS_ENDPOINT_URL, " + DEFAULT_ENDPOINT + ")."),
    region: Optional[str] = typer.Option(None, envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
                                         help="Signing region (default: the profile's, else us-east-1)."),
    profile: Optional[str] = typer.Option(None, envvar="AWS_PROFILE", help="AWS credentials profile."),
) -> None:
    ctx.obj = _Ssm(resolve_endpoint(endpoint_url, "AWS_ENDPOINT_URL_SSM"), region, profile)


def _ssm(ctx: typer.Context) -> _Ssm:
    return ctx.obj


# --- formatting ------------------------------------------------------------------------------
def _when(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "" if value is None else str(value)


def _json_default(value: Any) -> str:
    return _when(value) if isinstance(value, datetime) else str(value)


def _one_line(value: str) -> str:
    """A value shown in a table cell: JSON-quoted when it holds anything that would break the row."""
    if any(ch.isspace() and ch != " " or not ch.isprintable() for ch in value):
        return json.dumps(value, ensure_ascii=False)
    return value


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    for row in [headers] + rows:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        typer.echo("  ".join(cells))


# --- values in and out -----------------------------------------------------------------------
def _strip_one_newline(text: str) -> str:
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def _read_value(value: Optional[str], from_file: Optional[Path], raw: bool = False) -> str:
    """The value to store: the argument, --from-file, or stdin.

    A file and stdin are read the same way: exactly one trailing newline is dropped (so
    `echo secret | paramstore params put NAME` and a file an editor saved both store
    `secret`), and `raw` keeps every byte.  At a terminal the value is asked for without
    echo."""
    if from_file is not None:
        if value is not None:
            _fail("give a VALUE or --from-file, not both", 2)
        if str(from_file) == "-":
            text = sys.stdin.read()
        else:
            try:
                text = from_file.read_bytes().decode("utf-8")
            except OSError as exc:
                _fail(f"cannot read {from_file}: {exc.strerror}", 2)
            except UnicodeDecodeError:
                _fail(f"{from_file} is not UTF-8 text", 2)
        return text if raw else _strip_one_newline(text)
    if value is not None and value != "-":
        return value
    if value is None and sys.stdin.isatty():
        return typer.prompt("Value", hide_input=True, confirmation_prompt=True)
    text = sys.stdin.read()
    return text if raw else _strip_one_newline(text)


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
            _fail(f"{origin[key]} and {param['Name']} both become {key}; narrow the path or use --no-recursive", 2)
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


def _parameters_under(ssm: _Ssm, path: str, recursive: bool, decrypt: bool) -> list[dict]:
    found = ssm.pages("get_parameters_by_path", "Parameters", Path=path, Recursive=recursive,
                      WithDecryption=decrypt, MaxResults=10)
    return sorted(found, key=lambda p: p["Name"])


# --- commands --------------------------------------------------------------------------------
@params_app.command("put")
def put(
    ctx: typer.Context,
    name: str,
    value: Optional[str] = typer.Argument(
        None, help="The value; '-' or omitted reads stdin (prefer stdin or --from-file for secrets)."),
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
    """Create a parameter, or a new version of one with --overwrite; prints its version and tier."""
    ssm = _ssm(ctx)
    secret = _read_value(value, from_file, raw)
    args: dict[str, Any] = dict(Name=name, Value=secret, Type=type_.value, Overwrite=overwrite)
    for field, given in (("KeyId", key_id), ("Tier", tier.value if tier else None), ("Description", description),
                         ("AllowedPattern", allowed_pattern), ("DataType", data_type)):
        if given is not None:
            args[field] = given
    result = ssm.call("put_parameter", redact=(secret,), **args)
    version = result["Version"]
    typer.echo(f"Version: {version}  Tier: {result.get('Tier', 'Standard')}")
    if label:
        _label(ssm, name, version, label, failure_prefix=f"{name} version {version} was stored, but ")


@params_app.command("get")
def get(
    ctx: typer.Context,
    name: str,
    version: Optional[int] = typer.Option(None, help="A past version (default: the latest)."),
    label: Optional[str] = typer.Option(None, help="The version carrying this label."),
    decrypt: bool = typer.Option(False, "--decrypt", help="Decrypt a SecureString."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole Parameter as JSON."),
) -> None:
    """Print a parameter's value alone, so that `$(paramstore params get NAME)` works."""
    if version is not None and label is not None:
        _fail("give --version or --label, not both", 2)
    selector = f":{version}" if version is not None else f":{label}" if label is not None else ""
    parameter = _ssm(ctx).call("get_parameter", Name=name + selector, WithDecryption=decrypt)["Parameter"]
    if as_json:
        typer.echo(json.dumps(parameter, indent=2, default=_json_default, ensure_ascii=False))
    else:
        typer.echo(parameter["Value"])


@params_app.command("ls")
def ls(
    ctx: typer.Context,
    path: str = typer.Argument("/", help="A path such as /myapp/prod."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Include every level below PATH."),
) -> None:
    """List the parameters under PATH (from their metadata: no value is fetched or decrypted)."""
    filters = [{"Key": "Path", "Option": "Recursive" if recursive else "OneLevel", "Values": [path]}]
    found = sorted(_ssm(ctx).pages("describe_parameters", "Parameters", ParameterFilters=filters, MaxResults=50),
                   key=lambda p: p["Name"])
    _table(["NAME", "TYPE", "VERSION", "LAST MODIFIED"],
           [[p["Name"], p.get("Type", ""), str(p.get("Version", "")), _when(p.get("LastModifiedDate"))]
            for p in found])


@params_app.command("history")
def history(
    ctx: typer.Context,
    name: str,
    decrypt: bool = typer.Option(False, "--decrypt", help="Show each version's value, decrypted."),
) -> None:
    """Every version of a parameter, with its labels and who changed it."""
    versions = _ssm(ctx).pages("get_parameter_history", "Parameters", Name=name, WithDecryption=decrypt,
                               MaxResults=50)
    headers = ["VERSION", "LABELS", "TYPE", "LAST MODIFIED", "USER"] + (["VALUE"] if decrypt else [])
    rows = []
    for v in sorted(versions, key=lambda p: p["Version"]):
        row = [str(v["Version"]), ",".join(v.get("Labels", [])) or "-", v.get("Type", ""),
               _when(v.get("LastModifiedDate")), v.get("LastModifiedUser", "")]
        rows.append(row + ([_one_line(v.get("Value", ""))] if decrypt else []))
    _table(headers, rows)


def _label(ssm: _Ssm, name: str, version: Optional[int], labels: list[str], failure_prefix: str = "") -> int:
    """Attach labels; returns the labelled version.  Labels the server refuses fail the command."""
    args: dict[str, Any] = dict(Name=name, Labels=labels)
    if version is not None:
        args["ParameterVersion"] = version
    result = ssm.call("label_parameter_version", **args)
    if result.get("InvalidLabels"):
        _fail(f"{failure_prefix}InvalidLabels: not valid as labels: {', '.join(result['InvalidLabels'])}", 1)
    return result.get("ParameterVersion", version)


@params_app.command("label")
def label(
    ctx: typer.Context,
    name: str,
    labels: list[str] = typer.Argument(..., help="Labels to attach (moved from another version if there)."),
    version: Optional[int] = typer.Option(None, help="The version to label (default: the latest)."),
) -> None:
    """Attach labels to a version, so readers can ask for NAME:LABEL instead of a number."""
    labelled = _label(_ssm(ctx), name, version, labels)
    typer.echo(f"labelled {name} version {labelled}: {', '.join(labels)}")


@params_app.command("unlabel")
def unlabel(
    ctx: typer.Context,
    name: str,
    labels: list[str] = typer.Argument(..., help="Labels to remove."),
    version: int = typer.Option(..., help="The version carrying the labels."),
) -> None:
    """Remove labels from a version."""
    result = _ssm(ctx).call("unlabel_parameter_version", Name=name, ParameterVersion=version, Labels=labels)
    if result.get("RemovedLabels"):
        typer.echo(f"removed from {name} version {version}: {', '.join(result['RemovedLabels'])}")
    if result.get("InvalidLabels"):
        _fail(f"InvalidLabels: not on version {version}: {', '.join(result['InvalidLabels'])}", 1)


@params_app.command("rm")
def rm(ctx: typer.Context, names: list[str] = typer.Argument(..., help="Parameters to delete.")) -> None:
    """Delete parameters with all their versions; names that are not there are reported and fail."""
    ssm = _ssm(ctx)
    if len(names) == 1:
        ssm.call("delete_parameter", Name=names[0])
        typer.echo(f"deleted {names[0]}")
        return
    missing: list[str] = []
    for start in range(0, len(names), DELETE_BATCH):
        result = ssm.call("delete_parameters", Names=names[start:start + DELETE_BATCH])
        for deleted in result.get("DeletedParameters", []):
            typer.echo(f"deleted {deleted}")
        missing.extend(result.get("InvalidParameters", []))
    if missing:
        _fail(f"ParameterNotFound: {', '.join(missing)}", 1)


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
    ssm = _ssm(ctx)
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}", 2)
    except UnicodeDecodeError:
        _fail(f"{file} is not UTF-8 text", 2)
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
            try:
                ssm.call("put_parameter", redact=(value,), about=name, **args)
            except typer.Exit as exc:  # reported; a refused entry does not stop the others
                if exc.exit_code != 1:
                    raise
                failures += 1
    typer.echo(f"imported {len(items) - failures} of {len(items)} parameters")
    if failures:
        raise typer.Exit(1)


def _parse_import(text: str, fmt: Format, file: Path) -> dict[str, str]:
    if fmt is Format.json:
        try:
            data = json.loads(text)
        except ValueError as exc:
            _fail(f"{file}: not JSON ({exc.msg} at line {exc.lineno})", 2)
        if not isinstance(data, dict):
            _fail(f"{file}: expected a JSON object of name: value", 2)
        bad = [key for key, value in data.items() if not isinstance(value, str)]
        if bad:
            _fail(f"{file}: values must be strings (not for {', '.join(bad)})", 2)
        return data
    try:
        return parse_dotenv(text)
    except DotenvError as exc:
        _fail(f"{file}: {exc}", 2)


def refused_variable(variable: str, allowed: set[str]) -> bool:
    """Whether `exec` refuses to set `variable` (EXEC_REFUSED_VARIABLES, less the --allow-env names)."""
    upper = variable.upper()
    return upper not in allowed and any(fnmatch.fnmatchcase(upper, pattern) for pattern in EXEC_REFUSED_VARIABLES)


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
        _fail(f"no parameters under {path} (nothing run{hint}; --allow-empty runs it anyway)", 1)
    allowed = {name.upper() for name in allow_env or []}
    refused = [f"{env_name(p['Name'])} (from {p['Name']})" for p in found
               if refused_variable(env_name(p["Name"]), allowed)]
    if refused:
        _fail(f"refusing to set {', '.join(refused)}: a variable that changes how a program runs is taken from "
              "a parameter only when allowed with --allow-env NAME; nothing run", 2)
    values = _by_env_name(found)
    env = {**os.environ, **values}
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        try:
            os.execvpe(command[0], command, env)
        except OSError as exc:
            _fail(f"cannot run {command[0]}: {exc.strerror}", 127)
    try:
        code = subprocess.call(command, env=env)
    except OSError as exc:
        _fail(f"cannot run {command[0]}: {exc.strerror}", 127)
    raise typer.Exit(code)
