"""What the CLI prints, against the live server: every listing a table with a header by
default, `--output json` (the AWS records) and `text` (tab-separated) before or after the
subcommand, the AWS CLI's argument names, and every failure as one line with no traceback.

Every test works under its own uuid names: the server is shared by the whole session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from typer.testing import CliRunner

from paramstore.cli import app
from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY, free_port
from tests.helpers import printed_record, printed_table

runner = CliRunner()


@pytest.fixture
def cli(paramstore):
    return paramstore


@pytest.fixture
def user(cli) -> str:
    name = f"out-{uuid.uuid4().hex[:8]}"
    cli("iam", "create-user", "--user-name", name)
    return name


def place(server) -> list[str]:
    return ["--data-dir", str(server.data_dir)] + (["--database-url", server.database_url]
                                                    if server.database_url else [])


def one_line_failure(result, code: int, starts: str = "paramstore: ") -> str:
    """Exit `code`, nothing on stdout, exactly one `paramstore: ...` line on stderr, no traceback."""
    stdout, stderr = (result.stdout, result.stderr)
    returncode = getattr(result, "exit_code", getattr(result, "returncode", None))
    assert returncode == code, (returncode, stdout, stderr)
    assert stdout == "", stdout
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts), stderr
    assert "Traceback" not in stderr
    if hasattr(result, "exception") and result.exception is not None:
        assert isinstance(result.exception, SystemExit), result.exception
    return lines[0]


# --- tables, json, text ----------------------------------------------------------------------

def test_every_listing_is_a_table_with_a_header_by_default(cli, server, base, user):
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"}]}
    cli("iam", "create-role", f"out-role-{uuid.uuid4().hex[:8]}", "--assume-role-policy-document", json.dumps(trust))
    cli("params", "put", f"{base}/a", "1")
    cli("params", "put", f"{base}/a", "2", "--overwrite")
    cli("iam", "create-access-key", user)
    listings = {
        ("iam", "list-users"): ["NAME", "ARN", "USER ID", "CREATED"],
        ("iam", "list-roles"): ["NAME", "ARN", "ROLE ID", "CREATED"],
        ("iam", "list-access-keys", "--user-name", user): ["ACCESS KEY ID", "STATUS", "USER NAME", "CREATED"],
        ("params", "ls", base): ["NAME", "TYPE", "VERSION", "LAST MODIFIED"],
        ("params", "history", base + "/a"): ["VERSION", "LABELS", "TYPE", "LAST MODIFIED", "USER"],
        ("audit", "ls", "--limit", "5", *place(server)): ["SEQ", "TIME", "EVENT", "PRINCIPAL", "ACCESS KEY",
                                                          "SOURCE IP", "RESOURCES", "OUTCOME"],
    }
    for args, header in listings.items():
        got, rows = printed_table(cli(*args).stdout)
        assert got == header, args
        assert rows and all(len(row) == len(header) for row in rows), (args, rows)
    assert [row[0] for row in printed_table(cli("params", "history", base + "/a").stdout)[1]] == ["1", "2"]
    assert user in [row[0] for row in printed_table(cli("iam", "list-users").stdout)[1]]


def test_output_json_is_the_aws_records(cli, server, base, user):
    cli("params", "put", f"{base}/db", "--type", "SecureString", input="s3cret")
    users = json.loads(cli("iam", "list-users", "--output", "json").stdout)
    mine = next(u for u in users if u["UserName"] == user)
    assert mine["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/{user}" and mine["UserId"].startswith("AIDA")
    assert mine["CreateDate"].endswith("Z")

    listed = json.loads(cli("params", "ls", base, "--output", "json").stdout)
    assert [(p["Name"], p["Type"], p["Version"]) for p in listed] == [(f"{base}/db", "SecureString", 1)]
    history = json.loads(cli("params", "history", f"{base}/db", "--output", "json").stdout)
    assert history[0]["Version"] == 1 and "Value" not in history[0]  # values only with --decrypt
    decrypted = json.loads(cli("params", "history", f"{base}/db", "--decrypt", "--output", "json").stdout)
    assert decrypted[0]["Value"] == "s3cret"
    assert json.loads(cli("params", "get", f"{base}/db", "--output", "json").stdout)["Name"] == f"{base}/db"
    assert json.loads(cli("params", "put", f"{base}/n", "1", "--output", "json").stdout) == {"Version": 1,
                                                                                             "Tier": "Standard"}
    assert json.loads(cli("iam", "whoami", "--output", "json").stdout)["Account"] == ACCOUNT_ID
    key = json.loads(cli("iam", "create-access-key", user, "--output", "json").stdout)
    assert key["UserName"] == user and len(key["SecretAccessKey"]) == 40
    keys = json.loads(cli("iam", "list-access-keys", user, "--output", "json").stdout)
    assert [k["AccessKeyId"] for k in keys] == [key["AccessKeyId"]]
    events = json.loads(cli("audit", "ls", "--limit", "3", "--output", "json", *place(server)).stdout)
    assert len(events) == 3 and {"seq", "event_name", "principal_arn", "event_time_iso"} <= set(events[0])
    # a command that returns no record prints nothing, as the AWS CLI does
    assert cli("params", "rm", f"{base}/n", "--output", "json").stdout == ""


def test_output_text_is_tab_separated_without_a_header(cli, base, user):
    cli("params", "put", f"{base}/a", "with\ttab")
    cli("params", "put", f"{base}/b", "2", "--type", "StringList")
    lines = cli("params", "ls", base, "--output", "text").stdout.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [[f"{base}/a", "String", "1"], [f"{base}/b", "StringList", "1"]]
    users = [line.split("\t") for line in cli("iam", "list-users", "--output", "text").stdout.splitlines()]
    assert [user, f"arn:aws:iam::{ACCOUNT_ID}:user/{user}"] in [row[:2] for row in users]
    assert all(len(row) == 4 for row in users)
    # one record per line: a value holding a tab or newline is quoted
    shown = cli("params", "history", f"{base}/a", "--decrypt", "--output", "text").stdout.splitlines()
    assert len(shown) == 1 and shown[0].split("\t")[-1] == '"with\\ttab"'
    whoami = cli("iam", "whoami", "--output", "text").stdout
    assert whoami.rstrip("\n").split("\t") == [f"arn:aws:iam::{ACCOUNT_ID}:root", ACCOUNT_ID, ACCOUNT_ID]


def test_output_goes_before_or_after_the_subcommand(cli, user):
    forms = [["--output", "json", "iam", "list-users"], ["iam", "--output", "json", "list-users"],
             ["iam", "list-users", "--output", "json"], ["iam", "list-users", "--output=json"]]
    for args in forms:
        assert user in [u["UserName"] for u in json.loads(cli(*args).stdout)], args
    bad = cli("iam", "list-users", "--output", "yaml", ok=False)
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_the_default_comes_from_the_environment_and_shell_defaults_stay(cli, monkeypatch, base, user):
    cli("params", "put", f"{base}/token", "abc")
    monkeypatch.setenv("PARAMSTORE_OUTPUT", "json")
    assert user in [u["UserName"] for u in json.loads(cli("iam", "list-users").stdout)]
    assert cli("params", "get", f"{base}/token").stdout == "abc\n"  # `$(paramstore params get ...)` still works
    assert cli("params", "get", f"{base}/token", "--output", "text").stdout.startswith(f"{base}/token\tString\t1\tabc")
    monkeypatch.setenv("PARAMSTORE_OUTPUT", "yaml")
    assert "PARAMSTORE_OUTPUT" in one_line_failure(cli("iam", "list-users", ok=False), 2)


def test_root_key_status_is_a_table_and_json_with_json_as_an_alias(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("PARAMSTORE_")]:
        monkeypatch.delenv(name)
    where = ["--data-dir", str(tmp_path / "store")]
    shown = runner.invoke(app, ["admin", "root-key", "status", *where])
    assert shown.exit_code == 0, shown.output
    *listing, progress = shown.stdout.splitlines()
    header, rows = printed_table("\n".join(listing))
    assert header == ["VERSION", "CURRENT", "KIND", "WHERE", "STATE", "CREATED", "VALUES"]
    assert rows[0][:3] == ["1", "true", "legacy"]
    assert progress.startswith("rewrap: ")
    as_json = json.loads(runner.invoke(app, ["admin", "root-key", "status", "--json", *where]).stdout)
    assert json.loads(runner.invoke(app, ["--output", "json", "admin", "root-key", "status", *where]).stdout) == as_json
    assert as_json["current"] == 1 and as_json["versions"][0]["current"] is True
    text = runner.invoke(app, ["admin", "root-key", "status", "--output", "text", *where]).stdout
    assert text.split("\t")[:3] == ["1", "true", "legacy"] and "rewrap" not in text


# --- the AWS CLI's argument names ------------------------------------------------------------

def _policy(*parameters: str) -> dict:
    arns = [f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter{name}" for name in parameters]
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameter",
                                                    "Resource": arns}]}


def test_put_user_policy_takes_a_file_url_or_inline_json_and_it_takes_effect(cli, monkeypatch, tmp_path, base, user):
    cli("params", "put", "--name", f"{base}/a", "--value", "value-a", "--type", "String")
    cli("params", "put", "--name", f"{base}/b", "--value", "value-b", "--description", "b")
    key = json.loads(cli("iam", "create-access-key", "--user-name", user, "--output", "json").stdout)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(_policy(f"{base}/a")))
    cli("iam", "put-user-policy", "--user-name", user, "--policy-name", "read-a",
        "--policy-document", f"file://{policy}")

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    assert cli("params", "get", "--name", f"{base}/a").stdout == "value-a\n"
    one_line_failure(cli("params", "get", "--name", f"{base}/b", ok=False), 1, "paramstore: AccessDeniedException: ")

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    assert cli("iam", "put-user-policy", "--user-name", user, "--policy-name", "read-b",
               "--policy-document", json.dumps(_policy(f"{base}/b"))).stdout == f"put policy read-b on user {user}\n"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    assert cli("params", "get", "--name", f"{base}/b").stdout == "value-b\n"


def test_roles_and_parameters_with_the_aws_cli_names(cli, base, monkeypatch):
    role = f"out-role-{uuid.uuid4().hex[:8]}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID},
                                                     "Action": "sts:AssumeRole"}]}
    created = printed_record(cli("iam", "create-role", "--role-name", role,
                         "--assume-role-policy-document", json.dumps(trust)).stdout)
    assert created["ARN"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{role}" and created["NAME"] == role
    cli("iam", "put-role-policy", "--role-name", role, "--policy-name", "read",
        "--policy-document", json.dumps(_policy(f"{base}/secret")))
    cli("params", "put", "--name", f"{base}/secret", "--value", "first", "--type", "SecureString")
    cli("params", "put", "--name", f"{base}/secret", "--value", "second", "--type", "SecureString", "--overwrite",
        "--tier", "Standard")
    assert cli("params", "get", "--name", f"{base}/secret", "--with-decryption").stdout == "second\n"
    assert [row[0] for row in printed_table(cli("params", "history", "--name", f"{base}/secret").stdout)[1]] == ["1", "2"]
    assert printed_table(cli("params", "ls", "--path", base).stdout)[1][0][0] == f"{base}/secret"

    session = json.loads(cli("iam", "assume-role", "--role-arn", created["ARN"], "--role-session-name", "s1",
                             "--output", "json").stdout)
    assert session["AssumedRoleUser"]["Arn"].endswith(f"assumed-role/{role}/s1")
    for variable, field in (("AWS_ACCESS_KEY_ID", "AccessKeyId"), ("AWS_SECRET_ACCESS_KEY", "SecretAccessKey"),
                            ("AWS_SESSION_TOKEN", "SessionToken")):
        monkeypatch.setenv(variable, session["Credentials"][field])
    assert cli("params", "get", "--name", f"{base}/secret", "--with-decryption").stdout == "second\n"
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)

    assert "deleted" in cli("params", "rm", "--name", f"{base}/secret").stdout
    one_line_failure(cli("iam", "create-role", "--role-name", role, ok=False), 2,
                     "paramstore: missing --assume-role-policy-document")
    one_line_failure(cli("iam", "create-user", "a", "--user-name", "b", ok=False), 2)


def test_put_value_from_a_file_url_drops_one_newline_like_from_file(cli, tmp_path, base):
    (tmp_path / "v.txt").write_text("line\n\n")
    cli("params", "put", "--name", f"{base}/f", "--value", f"file://{tmp_path / 'v.txt'}")
    assert json.loads(cli("params", "get", f"{base}/f", "--output", "json").stdout)["Value"] == "line\n"
    cli("params", "put", "--name", f"{base}/raw", "--value", f"file://{tmp_path / 'v.txt'}", "--raw")
    assert json.loads(cli("params", "get", f"{base}/raw", "--json").stdout)["Value"] == "line\n\n"


def test_put_help_says_how_files_and_stdin_are_read(cli):
    shown = " ".join(cli("params", "put", "--help").stdout.split())
    assert "exactly one trailing newline" in shown and "--raw keeps every byte" in shown


# --- one-line errors -------------------------------------------------------------------------

def test_errors_are_one_line_in_process(cli, monkeypatch, tmp_path, base, server):
    assert one_line_failure(cli("params", "get", f"{base}/missing", ok=False), 1).startswith(
        "paramstore: ParameterNotFound: ")
    one_line_failure(cli("iam", "delete-user", "--user-name", f"nobody-{uuid.uuid4().hex[:6]}", ok=False), 1,
                     "paramstore: NoSuchEntity: ")
    line = one_line_failure(cli("params", "put", f"{base}/x", "--from-file", str(tmp_path / "nope"), ok=False), 2)
    assert line == f"paramstore: cannot read {tmp_path / 'nope'}: No such file or directory"
    one_line_failure(cli("iam", "put-user-policy", "--user-name", "u", "--policy-name", "p", "--policy-document",
                         f"file://{tmp_path / 'nope.json'}", ok=False), 2, "paramstore: cannot read ")
    bad = tmp_path / "bad.json"
    bad.write_text('{"/a": 1}')
    one_line_failure(cli("params", "import", str(bad), ok=False), 2)
    one_line_failure(cli("params", "put", "--name", "", "--value", "x", ok=False), 2, "paramstore: invalid request: ")
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["iam", "list-users"], ["params", "ls", "/"], ["iam", "whoami"]):
        line = one_line_failure(cli(*args, "--endpoint-url", url, ok=False), 2)
        assert line == f"paramstore: cannot connect to {url} (is the server running? see --endpoint-url)"
    tls = server.url.replace("http://", "https://")
    one_line_failure(cli("iam", "whoami", "--endpoint-url", tls, ok=False), 2, f"paramstore: TLS failure with {tls}")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    one_line_failure(cli("iam", "list-users", ok=False), 2, "paramstore: no AWS credentials found")


def test_a_value_quoted_in_a_failure_is_masked(cli, base):
    secret = "never-shown-" + uuid.uuid4().hex
    result = cli("params", "put", f"{base}/p", "--allowed-pattern", "^[0-9]+$", ok=False, input=secret)
    assert secret not in result.output
    one_line_failure(result, 1, "paramstore: ParameterPatternMismatchException: ")


def _paramstore(*args: str, server, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PARAMSTORE_"))}
    environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
                   AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                   AWS_EC2_METADATA_DISABLED="true", PARAMSTORE_ENDPOINT_URL=server.url)
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "paramstore", *args], env=environ, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_no_traceback_from_the_real_command(server, base, tmp_path):
    """As people run it: a separate process, whose stderr would show a traceback if one escaped."""
    one_line_failure(_paramstore("params", "get", f"{base}/missing", server=server), 1,
                     "paramstore: ParameterNotFound: ")
    one_line_failure(_paramstore("iam", "whoami", server=server, PARAMSTORE_ENDPOINT_URL=f"http://127.0.0.1:"
                                 f"{free_port()}"), 2, "paramstore: cannot connect to ")
    one_line_failure(_paramstore("iam", "create-role", "--role-name", "r", "--assume-role-policy-document",
                                 f"file://{tmp_path / 'missing.json'}", server=server), 2, "paramstore: cannot read ")
    one_line_failure(_paramstore("params", "ls", "/", server=server,
                                 PARAMSTORE_ENDPOINT_URL=server.url.replace("http://", "https://")), 2,
                     "paramstore: TLS failure with ")
    listed = _paramstore("iam", "list-users", "--output", "json", server=server)
    assert listed.returncode == 0 and isinstance(json.loads(listed.stdout), list), listed.stderr

