"""`paramstore secrets ...` against the live server, with credentials from the environment.

Every test works under its own uuid names: the server is shared by the whole session."""

from __future__ import annotations

import base64
import functools
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from paramstore.cli.secrets import env_variable, field_text
from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY, free_port
from tests.helpers import printed_record, printed_table

APPS = Path(__file__).resolve().parent.parent / "apps"
TRICKY = "it's a \"quoted\"\nvalue \u00e9 \u2603 $HOME `id` \\n\t"


@pytest.fixture
def cli(paramstore):
    return functools.partial(paramstore, "secrets")


@pytest.fixture
def sm(server):
    return server.client("secretsmanager")


@pytest.fixture
def base() -> str:
    """A unique prefix for one test's secret names."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def no_exec(monkeypatch):
    """In-process commands must fail before the program would replace the test process."""
    def refuse(*args):
        raise AssertionError(f"exec reached: {args[0]}")

    monkeypatch.setattr(os, "execvpe", refuse)


def _failed(result, code: int = 1, error: str | None = None) -> str:
    """A failure: exit `code`, nothing on stdout, one `paramstore: ...` line on stderr, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paramstore: "), result.stderr
    assert "Traceback" not in result.stderr
    if error is not None:
        assert lines[0].startswith(f"paramstore: {error}: "), result.stderr
    return lines[0]


def _described(sm, name: str) -> dict:
    return sm.describe_secret(SecretId=name)


# --- create / get / put ----------------------------------------------------------------------

def test_create_get_put_and_versions(cli, sm, base):
    name = f"{base}/db"
    created = printed_record(cli("create", name, "first").stdout)
    assert created["NAME"] == name and created["ARN"].startswith("arn:aws:secretsmanager:")
    assert cli("get", name).stdout == "first\n"

    put = printed_record(cli("put", name, "second").stdout)
    assert put["STAGES"] == "AWSCURRENT" and put["VERSION ID"] != created["VERSION ID"]
    assert cli("get", name).stdout == "second\n"
    assert cli("get", name, "--stage", "AWSPREVIOUS").stdout == "first\n"
    assert cli("get", name, "--version-id", created["VERSION ID"]).stdout == "first\n"
    assert cli("get", "--secret-id", name, "--version-stage", "AWSCURRENT").stdout == "second\n"
    assert cli("get", created["ARN"]).stdout == "second\n"

    full = json.loads(cli("get", name, "--output", "json").stdout)
    assert full["Name"] == name and full["SecretString"] == "second" and full["VersionStages"] == ["AWSCURRENT"]
    assert full["CreatedDate"].endswith("Z") and full["VersionId"] == put["VERSION ID"]
    assert json.loads(cli("get", name, "--json").stdout) == full
    text = cli("get", name, "--output", "text").stdout.rstrip("\n").split("\t")
    assert text[:4] == [name, put["VERSION ID"], "AWSCURRENT", "second"]

    as_json = json.loads(cli("put", name, "third", "--output", "json").stdout)
    assert as_json["Name"] == name and as_json["VersionStages"] == ["AWSCURRENT"] and "VersionId" in as_json
    _failed(cli("create", name, "again", ok=False), error="ResourceExistsException")


def test_create_and_put_read_stdin_and_files_like_params(cli, sm, tmp_path, base):
    def value(name: str) -> str:
        return sm.get_secret_value(SecretId=name)["SecretString"]

    cli("create", f"{base}/stdin", input="from stdin\n")
    assert value(f"{base}/stdin") == "from stdin"  # one trailing newline dropped
    cli("create", f"{base}/dash", "-", input="two\nlines\n\n")
    assert value(f"{base}/dash") == "two\nlines\n"
    cli("create", f"{base}/raw", "--raw", input="kept\n\n")
    assert value(f"{base}/raw") == "kept\n\n"

    content = "-----BEGIN KEY-----\nabc\u00e9=\n-----END KEY-----\r\n"
    (tmp_path / "key.pem").write_bytes(content.encode())
    cli("create", f"{base}/file", "--from-file", str(tmp_path / "key.pem"))
    assert value(f"{base}/file") == content[:-2]
    cli("put", f"{base}/file", "-f", str(tmp_path / "key.pem"), "--raw")
    assert value(f"{base}/file") == content
    cli("create", "--name", f"{base}/aws", "--secret-string", f"file://{tmp_path / 'key.pem'}")
    assert value(f"{base}/aws") == content[:-2]
    cli("create", "--name", f"{base}/inline", "--secret-string", "inline-value")
    assert value(f"{base}/inline") == "inline-value"
    cli("create", "--name", f"{base}/positional", "positional-value")
    assert value(f"{base}/positional") == "positional-value"
    cli("put", "--secret-id", f"{base}/positional", "--secret-string", TRICKY)
    assert value(f"{base}/positional") == TRICKY
    cli("put", "--secret-id", f"{base}/positional", input=TRICKY + "\n")
    assert value(f"{base}/positional") == TRICKY

    assert "cannot read" in _failed(cli("create", f"{base}/nofile", "-f", str(tmp_path / "nope"), ok=False), 2)
    _failed(cli("create", f"{base}/both", "x", "--from-file", str(tmp_path / "key.pem"), ok=False), 2)
    _failed(cli("create", f"{base}/both", "--secret-string", "x", "--secret-binary", "fileb://x", ok=False), 2)
    _failed(cli("put", ok=False, input="x"), 2, None)
    assert cli("ls", "--filter", f"name={base}/both").stdout.strip().splitlines()[1:] == []


def test_create_with_description_key_and_tags(cli, sm, kms, base):
    key_id = kms.create_key(Description="secrets cli")["KeyMetadata"]["KeyId"]
    name = f"{base}/tagged"
    cli("create", name, "--description", "the db password", "--kms-key-id", key_id,
        "--tag", "team=payments", "--tag", "Key=env,Value=prod=eu", input="s3cret")
    described = _described(sm, name)
    assert described["Description"] == "the db password" and described["KmsKeyId"] == key_id
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {"team": "payments", "env": "prod=eu"}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "s3cret"

    secret = "never-shown-" + uuid.uuid4().hex
    bad_key = cli("create", f"{base}/bad-key", "--kms-key-id", "alias/none-" + uuid.uuid4().hex[:6],
                  input=secret, ok=False)
    assert _failed(bad_key).startswith("paramstore: ") and secret not in bad_key.output
    _failed(cli("create", f"{base}/bad-tag", "--tag", "no-equals", input="x", ok=False), 2)


def test_get_field_of_a_json_secret(cli, sm, base):
    name = f"{base}/json"
    document = {"username": "admin", "password": TRICKY, "port": 5432, "ssl": True, "extra": {"a": [1, "b"]},
                "none": None}
    sm.create_secret(Name=name, SecretString=json.dumps(document))
    assert cli("get", name, "--field", "username").stdout == "admin\n"
    assert cli("get", name, "--field", "password").stdout == TRICKY + "\n"
    assert cli("get", name, "--field", "port").stdout == "5432\n"
    assert cli("get", name, "--field", "ssl").stdout == "true\n"
    assert cli("get", name, "--field", "extra").stdout == '{"a":[1,"b"]}\n'
    assert cli("get", name, "--field", "none").stdout == "null\n"
    assert cli("get", name, "--field", "username", "--output", "json").stdout == "admin\n"  # the field wins

    missing = cli("get", name, "--field", "nope", ok=False)
    assert _failed(missing, 1) == f"paramstore: {name} has no field 'nope'"
    assert "admin" not in missing.output

    plain, listed = f"{base}/plain", f"{base}/list"
    secret = "not-json-" + uuid.uuid4().hex
    sm.create_secret(Name=plain, SecretString=secret)
    sm.create_secret(Name=listed, SecretString=json.dumps(["also-" + secret]))
    for target, kind in ((plain, "its value is not JSON"), (listed, "its value is an array")):
        result = cli("get", target, "--field", "x", ok=False)
        assert _failed(result, 1) == f"paramstore: {target} is not a JSON object ({kind})"
        assert secret not in result.output


def test_binary_secrets_are_written_as_bytes(cli, sm, tmp_path, base):
    data = bytes(range(256)) + b"\n\r\n\x00end\n"
    (tmp_path / "blob.bin").write_bytes(data)
    cli("create", f"{base}/blob", "--secret-binary", f"fileb://{tmp_path / 'blob.bin'}")
    assert sm.get_secret_value(SecretId=f"{base}/blob")["SecretBinary"] == data
    got = cli("get", f"{base}/blob")
    assert got.stdout_bytes == data  # every byte, no newline added

    record = json.loads(cli("get", f"{base}/blob", "--output", "json").stdout)
    assert base64.b64decode(record["SecretBinary"]) == data and "SecretString" not in record

    cli("put", f"{base}/blob", "--secret-binary", "-", input=b"\x01\x02\n")
    assert cli("get", f"{base}/blob").stdout_bytes == b"\x01\x02\n"
    assert cli("get", f"{base}/blob", "--stage", "AWSPREVIOUS").stdout_bytes == data
    sm.create_secret(Name=f"{base}/boto", SecretBinary=b"\xff\xfe")
    assert cli("get", f"{base}/boto").stdout_bytes == b"\xff\xfe"
    assert _failed(cli("get", f"{base}/boto", "--field", "a", ok=False), 1) == \
        f"paramstore: {base}/boto is a binary secret, not a JSON object"


def test_put_with_staging_labels(cli, sm, base):
    name = f"{base}/staged"
    cli("create", name, "live")
    staged = printed_record(cli("put", name, "candidate", "--stage", "CANARY", "--stage", "TESTING").stdout)
    assert set(staged["STAGES"].split(",")) == {"CANARY", "TESTING"}
    assert cli("get", name).stdout == "live\n"  # AWSCURRENT stays where it was
    assert cli("get", name, "--stage", "CANARY").stdout == "candidate\n"
    cli("put", "--secret-id", name, "--secret-string", "pending", "--version-stages", "AWSPENDING")
    assert cli("get", name, "--stage", "AWSPENDING").stdout == "pending\n"
    _failed(cli("get", name, "--stage", "NOPE", ok=False), error="ResourceNotFoundException")


def test_get_errors(cli, base):
    _failed(cli("get", f"{base}/missing", ok=False), error="ResourceNotFoundException")
    cli("create", f"{base}/one", "1")
    _failed(cli("get", f"{base}/one", "--version-id", str(uuid.uuid4()), ok=False), error="ResourceNotFoundException")
    assert _failed(cli("get", ok=False), 2) == "paramstore: missing --secret-id"


# --- ls / history ----------------------------------------------------------------------------

def test_ls_filters_columns_and_formats(cli, sm, base):
    cli("create", f"{base}/b", "--description", "second one", input="hidden-value-b")
    cli("create", f"{base}/a", input="hidden-value-a")
    cli("create", f"{base}-other/c", input="c")

    out = cli("ls", "--filter", f"name={base}/").stdout
    header, rows = printed_table(out)
    assert header == ["NAME", "LAST CHANGED", "ROTATION ENABLED", "DESCRIPTION"]
    assert [row[0] for row in rows] == [f"{base}/a", f"{base}/b"]
    assert rows[0][1].endswith("Z") and rows[0][2] == "false" and rows[0][3] == "-"
    assert rows[1][3] == "second one"
    assert "hidden-value" not in out

    both = printed_table(cli("ls", "--filter", f"name={base}/a", "--filter", f"name={base}-other").stdout)[1]
    assert [row[0] for row in both] == [f"{base}-other/c", f"{base}/a"]  # one key's values are ORed
    anded = printed_table(cli("ls", "--filter", f"name={base}", "--filter", "description=second").stdout)[1]
    assert [row[0] for row in anded] == [f"{base}/b"]

    listed = json.loads(cli("ls", "--filter", f"name={base}/", "--output", "json").stdout)
    assert [s["Name"] for s in listed] == [f"{base}/a", f"{base}/b"]
    assert listed[1]["Description"] == "second one" and "SecretString" not in listed[1]
    lines = cli("ls", "--filter", f"name={base}/", "--output", "text").stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [f"{base}/a", f"{base}/b"]
    assert lines[1].split("\t")[2:] == ["false", "second one"]

    assert printed_table(cli("ls", "--filter", f"name={base}/nothing").stdout) == (
        ["NAME", "LAST CHANGED", "ROTATION ENABLED", "DESCRIPTION"], [])
    _failed(cli("ls", "--filter", "no-equals", ok=False), 2)
    _failed(cli("ls", "--filter", "colour=red", ok=False), 1)  # the server's to refuse


def test_ls_pages_through_many(cli, sm, base):
    names = [f"{base}/many/s{i:03d}" for i in range(105)]
    for name in reversed(names):
        sm.create_secret(Name=name, SecretString="v")
    lines = cli("ls", "--filter", f"name={base}/many/").stdout.strip().splitlines()[1:]
    assert [line.split()[0] for line in lines] == names


def test_history_oldest_first_and_deprecated_versions(cli, sm, base):
    name = f"{base}/rotating"
    first = sm.create_secret(Name=name, SecretString="one")["VersionId"]
    second = sm.put_secret_value(SecretId=name, SecretString="two")["VersionId"]
    third = sm.put_secret_value(SecretId=name, SecretString="three")["VersionId"]

    out = cli("history", name).stdout
    header, rows = printed_table(out)
    assert header == ["VERSION ID", "STAGES", "CREATED"]
    assert [row[:2] for row in rows] == [[second, "AWSPREVIOUS"], [third, "AWSCURRENT"]]
    assert rows[0][2].endswith("Z")
    assert "two" not in out and "three" not in out

    rows = printed_table(cli("history", "--secret-id", name, "--include-deprecated").stdout)[1]
    assert [row[:2] for row in rows] == [[first, "-"], [second, "AWSPREVIOUS"], [third, "AWSCURRENT"]]
    listed = json.loads(cli("history", name, "--output", "json").stdout)
    assert [v["VersionId"] for v in listed] == [second, third] and listed[1]["VersionStages"] == ["AWSCURRENT"]
    _failed(cli("history", f"{base}/missing", ok=False), error="ResourceNotFoundException")


# --- rm / restore ----------------------------------------------------------------------------

def test_rm_restore_and_force(cli, sm, base, clock):
    name = f"{base}/doomed"
    cli("create", name, "value")
    said = cli("rm", name).stdout.strip()
    assert said.startswith(f"{name} will be deleted on ") and f"secrets restore {name}" in said
    when = datetime.strptime(said.split(" on ")[1].split()[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert timedelta(days=30, seconds=-1) <= when - datetime.fromtimestamp(clock(), timezone.utc) <= timedelta(days=30)
    _failed(cli("get", name, ok=False), error="InvalidRequestException")
    assert cli("ls", "--filter", f"name={base}/").stdout.strip().splitlines()[1:] == []
    header, rows = printed_table(cli("ls", "--filter", f"name={base}/", "--include-deleted").stdout)
    assert header == ["NAME", "LAST CHANGED", "ROTATION ENABLED", "DELETION DATE", "DESCRIPTION"]
    assert rows[0][0] == name and rows[0][3] == said.split(" on ")[1].split()[0]

    assert cli("restore", name).stdout == f"restored {name}\n"
    assert cli("get", name).stdout == "value\n"

    record = json.loads(cli("rm", "--secret-id", name, "--recovery-days", "7", "--output", "json").stdout)
    assert record["Name"] == name and record["DeletionDate"].endswith("Z")
    assert json.loads(cli("restore", "--secret-id", name, "--output", "json").stdout)["Name"] == name

    _failed(cli("rm", name, "--recovery-days", "3", ok=False), error="InvalidParameterException")
    _failed(cli("rm", name, "--recovery-days", "7", "--force", ok=False), 2)
    assert cli("rm", name, "--force").stdout == f"deleted {name}\n"
    _failed(cli("get", name, ok=False), error="ResourceNotFoundException")
    _failed(cli("restore", name, ok=False), error="ResourceNotFoundException")


# --- rotate ----------------------------------------------------------------------------------

# the server's built-in rotation targets (paramstore/secrets/rotation/targets.py)
JSON_PASSWORD = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:paramstore-rotate-json-password"
RANDOM = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:paramstore-rotate-random"


def _rotate(cli, *args: str):
    """`secrets rotate ARGS`; xfail while the server has no RotateSecret."""
    result = cli("rotate", *args, ok=False)
    if "UnknownOperationException" in result.stderr:
        pytest.xfail("RotateSecret is not on the server yet (UnknownOperationException)")
    assert result.exit_code == 0, (args, result.output)
    return result


def test_rotate_sets_the_schedule(cli, sm, base):
    name = f"{base}/rotated"
    cli("create", name, "v1")
    shown = printed_record(_rotate(cli, name, "--rotation-lambda-arn", RANDOM, "--every-days", "30",
                                   "--no-immediately").stdout)
    assert shown["NAME"] == name and shown["VERSION ID"] == "-"  # no rotation started
    described = _described(sm, name)
    assert described["RotationEnabled"] is True and described["RotationLambdaARN"] == RANDOM
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert cli("get", name).stdout == "v1\n"  # not rotated now
    header, rows = printed_table(cli("ls", "--filter", f"name={name}").stdout)
    assert rows[0][header.index("ROTATION ENABLED")] == "true"

    _rotate(cli, "--secret-id", name, "--schedule", "rate(10 days)", "--no-rotate-immediately")
    assert _described(sm, name)["RotationRules"]["ScheduleExpression"] == "rate(10 days)"
    _rotate(cli, name, "--rotation-rules", '{"AutomaticallyAfterDays": 7}', "--no-immediately")
    assert _described(sm, name)["RotationRules"]["AutomaticallyAfterDays"] == 7

    unknown = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:no-such-target"
    _failed(cli("rotate", name, "--rotation-lambda-arn", unknown, ok=False), error="AccessDeniedException")


def test_rotate_now_replaces_the_value(cli, sm, server, base):
    name = f"{base}/rotated-now"
    cli("create", name, json.dumps({"username": "app", "password": "old-password"}))
    started = json.loads(_rotate(cli, name, "--rotation-lambda-arn", JSON_PASSWORD, "--output", "json").stdout)
    assert started["Name"] == name and started["VersionId"]
    assert server.app.state.store.secrets.rotations.wait_idle(20), "rotation did not finish"
    assert cli("get", name, "--field", "username").stdout == "app\n"
    assert cli("get", name, "--field", "password").stdout not in ("old-password\n", "")
    assert cli("get", name, "--stage", "AWSPREVIOUS", "--field", "password").stdout == "old-password\n"
    rows = printed_table(cli("history", name).stdout)[1]
    assert rows[-1][:2] == [started["VersionId"], "AWSCURRENT"]


def test_rotate_argument_errors(cli, base):
    for args in (["--every-days", "3", "--schedule", "rate(1 days)"],
                 ["--every-days", "3", "--rotation-rules", "{}"],
                 ["--every-days", "0"],
                 ["--rotation-rules", "[1]"],
                 ["--rotation-rules", "{not json"]):
        result = cli("rotate", f"{base}/x", *args, ok=False)
        assert result.exit_code == 2 and result.stdout == "", (args, result.output)
    assert _failed(cli("rotate", ok=False), 2) == "paramstore: missing --secret-id"


# --- exec ------------------------------------------------------------------------------------

def _subprocess_env(server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PARAMSTORE_"))}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true", PARAMSTORE_ENDPOINT_URL=server.url)
    return env


def _paramstore(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paramstore", "secrets", *args], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def _touch(marker: Path) -> list[str]:
    """A child that leaves `marker` behind if it is ever started."""
    return [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]


def test_exec_puts_the_fields_in_the_environment(server, sm, base):
    name = f"{base}/db"
    sm.create_secret(Name=name, SecretString=json.dumps({"username": "admin", "password": TRICKY, "port": 5432,
                                                         "host.name-1": "db.internal", "ssl": False}))
    env = _subprocess_env(server) | {"DB_PORT": "from-parent", "KEPT": "kept"}
    names = ["DB_USERNAME", "DB_PASSWORD", "DB_PORT", "DB_HOST_NAME_1", "DB_SSL", "KEPT", "USERNAME"]
    proc = _paramstore("exec", name, "--prefix", "DB_", "--", sys.executable, str(APPS / "print_env.py"), *names,
                       env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"DB_USERNAME": "admin", "DB_PASSWORD": TRICKY, "DB_PORT": "5432",
                                       "DB_HOST_NAME_1": "db.internal", "DB_SSL": "false", "KEPT": "kept",
                                       "USERNAME": None}
    assert proc.stderr == ""

    proc = _paramstore("exec", name, "--", sys.executable, str(APPS / "print_env.py"), "USERNAME", "HOST_NAME_1",
                       env=env)
    assert json.loads(proc.stdout) == {"USERNAME": "admin", "HOST_NAME_1": "db.internal"}

    previous = sm.put_secret_value(SecretId=name, SecretString='{"username": "next"}')
    assert previous["VersionStages"] == ["AWSCURRENT"]
    proc = _paramstore("exec", name, "--stage", "AWSPREVIOUS", "--", sys.executable, str(APPS / "print_env.py"),
                       "USERNAME", env=env)
    assert json.loads(proc.stdout) == {"USERNAME": "admin"}


def test_exec_passes_the_exit_code_and_reports_failures(server, sm, base, tmp_path):
    name = f"{base}/code"
    sm.create_secret(Name=name, SecretString='{"code": 7}')
    env = _subprocess_env(server)
    proc = _paramstore("exec", name, "--", sys.executable, "-c", "import os, sys; sys.exit(int(os.environ['CODE']))",
                       env=env)
    assert proc.returncode == 7, proc.stderr

    proc = _paramstore("exec", name, "--", "no-such-program-" + uuid.uuid4().hex, env=env)
    assert proc.returncode == 127 and proc.stderr.startswith("paramstore: cannot run no-such-program-")

    marker = tmp_path / "started"
    proc = _paramstore("exec", f"{base}/missing", "--", *_touch(marker), env=env)
    assert proc.returncode == 1 and proc.stderr.startswith("paramstore: ResourceNotFoundException: ")
    env["PARAMSTORE_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    proc = _paramstore("exec", name, "--", *_touch(marker), env=env)
    assert proc.returncode == 2 and proc.stdout == "" and "cannot connect" in proc.stderr
    assert not marker.exists()


def test_exec_refuses_secrets_that_are_not_json_objects(cli, sm, base, tmp_path, no_exec):
    secret = "not-json-" + uuid.uuid4().hex
    values = {"plain": secret, "array": json.dumps([secret]), "string": json.dumps(secret),
              "number": "42", "null": "null"}
    marker = tmp_path / "started"
    for kind, value in values.items():
        sm.create_secret(Name=f"{base}/{kind}", SecretString=value)
        result = cli("exec", f"{base}/{kind}", "--", *_touch(marker), ok=False)
        line = _failed(result, 1)
        assert line.startswith(f"paramstore: {base}/{kind} is not a JSON object (its value is "), line
        assert secret not in result.output
    sm.create_secret(Name=f"{base}/binary", SecretBinary=b'{"a": "b"}')
    assert _failed(cli("exec", f"{base}/binary", "--", *_touch(marker), ok=False), 1) == \
        f"paramstore: {base}/binary is a binary secret, not a JSON object"

    sm.create_secret(Name=f"{base}/clash", SecretString=json.dumps({"db-host": "one-" + secret,
                                                                    "db_host": "two-" + secret}))
    result = cli("exec", f"{base}/clash", "--", *_touch(marker), ok=False)
    assert _failed(result, 1) == f"paramstore: {base}/clash: the fields 'db-host' and 'db_host' both become DB_HOST"
    assert secret not in result.output
    sm.create_secret(Name=f"{base}/nul", SecretString=json.dumps({"k": "a\u0000" + secret}))
    result = cli("exec", f"{base}/nul", "--", *_touch(marker), ok=False)
    assert "NUL character" in _failed(result, 1) and secret not in result.output
    assert not marker.exists()


def test_exec_refuses_variables_that_change_how_programs_run(server, sm, cli, base, tmp_path, no_exec):
    name = f"{base}/risky"
    sm.create_secret(Name=name, SecretString=json.dumps({"ld_preload": "/nonexistent/preload-secret.so",
                                                         "path": str(tmp_path), "password": "s3cret-value"}))
    marker = tmp_path / "started"
    result = cli("exec", name, "--", *_touch(marker), ok=False)
    line = _failed(result, 2)
    assert line.startswith("paramstore: refusing to set ") and "--allow-env" in line
    assert f"LD_PRELOAD (from field 'ld_preload' of {name})" in line and "PATH (from field 'path'" in line
    assert "PASSWORD" not in line and "preload-secret" not in result.output and str(tmp_path) not in line
    assert not marker.exists()

    # with a prefix, the same fields configure rather than change how programs run
    proc = _paramstore("exec", name, "--prefix", "APP_", "--", sys.executable, str(APPS / "print_env.py"),
                       "APP_LD_PRELOAD", "APP_PATH", env=_subprocess_env(server))
    assert json.loads(proc.stdout) == {"APP_LD_PRELOAD": "/nonexistent/preload-secret.so", "APP_PATH": str(tmp_path)}
    proc = _paramstore("exec", name, "--allow-env", "ld_preload", "--allow-env", "PATH", "--", sys.executable,
                       str(APPS / "print_env.py"), "PASSWORD", env=_subprocess_env(server) | {"PATH": os.defpath})
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"PASSWORD": "s3cret-value"}, proc.stderr


def test_env_variable_and_field_text():
    assert env_variable("username", "DB_") == "DB_USERNAME"
    assert env_variable("password", "DB_") == "DB_PASSWORD"
    assert env_variable("api.key-v2") == "API_KEY_V2"
    assert env_variable("h\u00e9llo wörld", "db.") == "DB_H_LLO_W_RLD"
    assert [field_text(v) for v in ("a b", 1, 2.5, True, None, [1, "x"], {"k": "\u00e9"})] == \
        ["a b", "1", "2.5", "true", "null", '[1,"x"]', '{"k":"\u00e9"}']


# --- endpoints, output, errors ---------------------------------------------------------------

def test_endpoint_from_the_service_variable_and_option(cli, cli_environment, monkeypatch, base):
    cli("create", f"{base}/where", "here")
    monkeypatch.delenv("PARAMSTORE_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", cli_environment.url)
    assert cli("get", f"{base}/where").stdout == "here\n"
    monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER")
    url = f"http://127.0.0.1:{free_port()}"
    line = _failed(cli("get", f"{base}/where", ok=False), 2)
    assert line.startswith("paramstore: cannot connect to http://127.0.0.1:")
    assert cli("get", f"{base}/where", "--endpoint-url", cli_environment.url).stdout == "here\n"
    assert cli("--endpoint-url", cli_environment.url, "get", f"{base}/where").stdout == "here\n"
    monkeypatch.setenv("PARAMSTORE_ENDPOINT_URL", url)
    result = cli("create", f"{base}/nowhere", ok=False, input="do-not-echo-me")
    assert _failed(result, 2) == f"paramstore: cannot connect to {url} (is the server running? see --endpoint-url)"
    assert "do-not-echo-me" not in result.output


def test_output_before_the_subcommand_and_shell_defaults_stay(paramstore, monkeypatch, base):
    paramstore("secrets", "create", f"{base}/token", "abc")
    listed = json.loads(paramstore("--output", "json", "secrets", "ls", "--filter", f"name={base}/").stdout)
    assert [s["Name"] for s in listed] == [f"{base}/token"]
    monkeypatch.setenv("PARAMSTORE_OUTPUT", "json")
    assert paramstore("secrets", "get", f"{base}/token").stdout == "abc\n"  # `$(paramstore secrets get ...)`
    assert json.loads(paramstore("secrets", "history", f"{base}/token").stdout)[0]["VersionStages"] == ["AWSCURRENT"]
    assert "secrets" in paramstore("--help").stdout


def test_without_credentials_and_with_a_wrong_secret(cli, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    _failed(cli("ls", ok=False), error="InvalidSignatureException")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert "no AWS credentials" in _failed(cli("get", "x", ok=False), 2)


def test_no_traceback_from_the_real_command(server, base):
    env = _subprocess_env(server)
    proc = _paramstore("get", f"{base}/missing", env=env)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("paramstore: ResourceNotFoundException: ") and len(proc.stderr.splitlines()) == 1
    proc = subprocess.run([sys.executable, "-m", "paramstore", "secrets", "create", f"{base}/piped"], env=env,
                          input="piped-secret\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = subprocess.run(["sh", "-c", f'V="$("{sys.executable}" -m paramstore secrets get {base}/piped)"; '
                                      'printf "[%s]" "$V"'], env=env, capture_output=True, text=True, timeout=60)
    assert got.stdout == "[piped-secret]", got.stderr
