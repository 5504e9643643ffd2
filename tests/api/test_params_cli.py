"""`paramstore params ...` against the live server, with credentials from the environment.

Every test works under its own uuid path: the server is shared by the whole session."""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paramstore.cli import app
from paramstore.cli.params import dotenv_quote, env_name, parse_dotenv, refused_variable
from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, free_port

runner = CliRunner()
APPS = Path(__file__).resolve().parent.parent / "apps"

TRICKY = {
    "plain": "simple-value_1.2",
    "spaces": "hello world",
    "quotes": "it's a \"quoted\" 'value'",
    "newlines": "line one\nline two\n\nline four",
    "equals": "a=b=c==",
    "unicode": "h\u00e9llo \u2603 \u65e5\u672c \U0001f511",
    "shell": "$HOME ${PATH} `whoami` $(id) \\n not-a-newline \\",
    "hash": "#not a comment # either",
    "blank-edges": "  padded\t",
    "crlf": "windows\r\nline",
    "empty-ish": " ",
}


@pytest.fixture
def aws_env(cli_environment):
    """The test credentials and server in the environment, and no stray AWS config."""
    return cli_environment


@pytest.fixture
def cli(paramstore):
    return functools.partial(paramstore, "params")


@pytest.fixture
def base() -> str:
    return f"/t-{uuid.uuid4().hex[:10]}"


def _failed(result, code: int = 1, error: str | None = None) -> str:
    """A failure: exit `code`, nothing on stdout, one `paramstore: Code: message` line on stderr."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paramstore: "), result.stderr
    if error is not None:
        assert lines[0].startswith(f"paramstore: {error}: "), result.stderr
    return lines[0]


# --- put / get -------------------------------------------------------------------------------

def test_put_get_versions_and_overwrite(cli, ssm, base):
    name = f"{base}/greeting"
    assert cli("put", name, "hello").stdout.strip() == "Version: 1  Tier: Standard"
    assert cli("get", name).stdout == "hello\n"

    _failed(cli("put", name, "again", ok=False), error="ParameterAlreadyExists")
    assert cli("put", name, "hello again", "--overwrite", "--description", "v2").stdout.startswith("Version: 2")
    assert cli("get", name).stdout == "hello again\n"
    assert cli("get", name, "--version", "1").stdout == "hello\n"

    full = json.loads(cli("get", name, "--json").stdout)
    assert full["Name"] == name and full["Value"] == "hello again" and full["Version"] == 2
    assert full["Type"] == "String" and full["ARN"].endswith(f":parameter{name}")
    assert full["LastModifiedDate"].endswith("Z")
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    assert described[0]["Description"] == "v2"


def test_put_reads_stdin_and_files(cli, tmp_path, base):
    cli("put", f"{base}/dash", "-", input="from stdin\n")
    assert cli("get", f"{base}/dash").stdout == "from stdin\n"  # one trailing newline dropped

    cli("put", f"{base}/omitted", input="two\nlines\n")
    assert cli("get", f"{base}/omitted", "--json").stdout.count("two\\nlines\"") == 1

    content = "-----BEGIN KEY-----\nabc\u00e9=\n-----END KEY-----\n"
    (tmp_path / "key.pem").write_bytes(content.encode())
    cli("put", f"{base}/file", "--from-file", str(tmp_path / "key.pem"), "--type", "SecureString")
    value = json.loads(cli("get", f"{base}/file", "--decrypt", "--json").stdout)["Value"]
    assert value == content[:-1]  # as with stdin: exactly one trailing newline dropped
    cli("put", f"{base}/raw-file", "--from-file", str(tmp_path / "key.pem"), "--raw", "--type", "SecureString")
    value = json.loads(cli("get", f"{base}/raw-file", "--decrypt", "--json").stdout)["Value"]
    assert value == content  # --raw: every byte
    cli("put", f"{base}/raw-stdin", "--raw", input="kept\n\n")
    assert json.loads(cli("get", f"{base}/raw-stdin", "--json").stdout)["Value"] == "kept\n\n"
    cli("put", f"{base}/two-newlines", input="one dropped\n\n")
    assert json.loads(cli("get", f"{base}/two-newlines", "--json").stdout)["Value"] == "one dropped\n"

    missing = _failed(cli("put", f"{base}/nofile", "--from-file", str(tmp_path / "nope"), ok=False), 2)
    assert "cannot read" in missing
    _failed(cli("put", f"{base}/both", "x", "--from-file", str(tmp_path / "key.pem"), ok=False), 2)


def test_secure_string_needs_decrypt(cli, ssm, base, kms):
    name = f"{base}/db/password"
    secret = "s3cr3t-\u00e9-" + uuid.uuid4().hex
    out = cli("put", name, "--type", "SecureString", input=secret).stdout
    assert out.startswith("Version: 1")
    assert cli("get", name, "--decrypt").stdout == secret + "\n"
    assert secret not in cli("get", name).stdout

    key_id = kms.create_key(Description="params cli")["KeyMetadata"]["KeyId"]
    cli("put", name, "--type", "SecureString", "--key-id", key_id, "--overwrite", input=secret + "2")
    parameter = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert parameter["Value"] == secret + "2"
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"][0]
    assert key_id in described["KeyId"]


def test_put_options_tier_pattern_data_type(cli, ssm, base):
    name = f"{base}/port"
    assert cli("put", name, "--tier", "Advanced", "--allowed-pattern", r"^\d+$", "--data-type", "text",
               input="8080").stdout.strip() == "Version: 1  Tier: Advanced"
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"][0]
    assert described["Tier"] == "Advanced" and described["AllowedPattern"] == r"^\d+$"
    assert described["DataType"] == "text"

    secret_looking = "not-a-port-" + uuid.uuid4().hex
    failed = cli("put", name, "--overwrite", "--allowed-pattern", r"^\d+$", input=secret_looking, ok=False)
    line = _failed(failed, error="ParameterPatternMismatchException")
    assert secret_looking not in failed.output and line

    cli("put", f"{base}/list", "a,b,c", "--type", "StringList")
    assert cli("get", f"{base}/list").stdout == "a,b,c\n"


def test_get_errors(cli, base):
    _failed(cli("get", f"{base}/missing", ok=False), error="ParameterNotFound")
    cli("put", f"{base}/one", "1")
    _failed(cli("get", f"{base}/one", "--version", "7", ok=False), error="ParameterVersionNotFound")
    _failed(cli("get", f"{base}/one", "--version", "1", "--label", "x", ok=False), 2)


# --- labels and history ----------------------------------------------------------------------

def test_labels_and_history(cli, base):
    name = f"{base}/feature"
    cli("put", name, "v1", "--label", "stable", "--label", "first")
    cli("put", name, "v2", "--overwrite", "--type", "String", "--label", "canary")
    cli("put", name, "v3", "--overwrite")
    assert cli("get", name, "--label", "stable").stdout == "v1\n"
    assert cli("get", name, "--label", "canary").stdout == "v2\n"

    assert "version 3: stable" in cli("label", name, "stable").stdout  # moves the label to the latest
    assert cli("get", name, "--label", "stable").stdout == "v3\n"
    cli("label", name, "old", "--version", "1")

    rows = [line.split() for line in cli("history", name).stdout.strip().splitlines()]
    assert rows[0][:3] == ["VERSION", "LABELS", "TYPE"]
    by_version = {row[0]: row for row in rows[1:]}
    assert set(by_version) == {"1", "2", "3"}
    assert set(by_version["1"][1].split(",")) == {"first", "old"}
    assert by_version["2"][1] == "canary" and by_version["3"][1] == "stable"
    assert all(row[2] == "String" for row in rows[1:])
    assert "v2" not in cli("history", name).stdout

    stored_anyway = cli("put", name, "v4", "--overwrite", "--label", "aws-reserved", ok=False)
    assert stored_anyway.exit_code == 1 and stored_anyway.stdout.startswith("Version: 4")
    assert stored_anyway.stderr.startswith(f"paramstore: {name} version 4 was stored, but InvalidLabels: ")
    assert cli("get", name).stdout == "v4\n"

    assert "removed from" in cli("unlabel", name, "--version", "1", "old").stdout
    _failed(cli("unlabel", name, "--version", "1", "never-there", ok=False), error="InvalidLabels")
    _failed(cli("label", name, "1-starts-with-digit", ok=False), error="InvalidLabels")
    _failed(cli("label", f"{base}/missing", "x", ok=False), error="ParameterNotFound")


def test_history_decrypt_shows_values(cli, base):
    name = f"{base}/rotating"
    cli("put", name, "--type", "SecureString", input="first secret")
    cli("put", name, "--type", "SecureString", "--overwrite", input="second\nsecret")
    plain = cli("history", name).stdout
    assert "first secret" not in plain and "second" not in plain
    shown = cli("history", name, "--decrypt").stdout.splitlines()
    assert shown[0].split()[-1] == "VALUE"
    assert shown[1].endswith("first secret") and shown[2].endswith('"second\\nsecret"')


# --- ls / rm ---------------------------------------------------------------------------------

def test_ls_one_level_and_recursive(cli, base):
    cli("put", f"{base}/a", "1")
    cli("put", f"{base}/b", "--type", "SecureString", input="hidden-value")
    cli("put", f"{base}/sub/c", "3")
    cli("put", f"{base}/sub/deeper/d", "4", "--type", "StringList")

    rows = [line.split() for line in cli("ls", base).stdout.strip().splitlines()]
    assert rows[0] == ["NAME", "TYPE", "VERSION", "LAST", "MODIFIED"]
    assert [r[:3] for r in rows[1:]] == [[f"{base}/a", "String", "1"], [f"{base}/b", "SecureString", "1"]]

    out = cli("ls", base, "--recursive").stdout
    names = [line.split()[0] for line in out.strip().splitlines()[1:]]
    assert names == [f"{base}/a", f"{base}/b", f"{base}/sub/c", f"{base}/sub/deeper/d"]
    assert "hidden-value" not in out
    assert cli("ls", f"{base}/nothing-here").stdout.strip().splitlines() == ["NAME  TYPE  VERSION  LAST MODIFIED"]


def test_ls_pages_through_many(cli, ssm, base):
    for i in range(57):
        ssm.put_parameter(Name=f"{base}/many/p{i:02d}", Value=str(i), Type="String")
    lines = cli("ls", f"{base}/many").stdout.strip().splitlines()[1:]
    assert [line.split()[0] for line in lines] == [f"{base}/many/p{i:02d}" for i in range(57)]


def test_rm_one_and_many(cli, ssm, base):
    cli("put", f"{base}/solo", "x")
    assert cli("rm", f"{base}/solo").stdout.strip() == f"deleted {base}/solo"
    _failed(cli("get", f"{base}/solo", ok=False), error="ParameterNotFound")
    _failed(cli("rm", f"{base}/solo", ok=False), error="ParameterNotFound")

    names = [f"{base}/bulk/n{i:02d}" for i in range(23)]
    for name in names:
        ssm.put_parameter(Name=name, Value="v", Type="String")
    result = cli("rm", *names, f"{base}/bulk/absent", ok=False)
    assert result.exit_code == 1
    assert sorted(result.stdout.split("\n")[:-1]) == sorted(f"deleted {n}" for n in names)
    assert result.stderr.strip() == f"paramstore: ParameterNotFound: {base}/bulk/absent"
    assert ssm.get_parameters_by_path(Path=f"{base}/bulk")["Parameters"] == []


# --- export / import -------------------------------------------------------------------------

def _put_tricky(ssm, path: str) -> dict[str, str]:
    expected = {}
    for i, (key, value) in enumerate(TRICKY.items()):
        kind = "SecureString" if i % 2 else "String"
        ssm.put_parameter(Name=f"{path}/{key}", Value=value, Type=kind)
        expected[f"{path}/{key}"] = value
    return expected


def test_export_dotenv_is_read_back_exactly_by_python_dotenv(cli, ssm, base):
    from dotenv import dotenv_values

    expected = _put_tricky(ssm, f"{base}/app")
    ssm.put_parameter(Name=f"{base}/app/nested/db.host-name", Value="db.internal", Type="String")
    out = cli("export", f"{base}/app").stdout
    parsed = dotenv_values(stream=io.StringIO(out), interpolate=False)
    want = {env_name(name): value for name, value in expected.items()} | {"DB_HOST_NAME": "db.internal"}
    assert parsed == want
    assert parse_dotenv(out) == want
    assert "PLAIN=simple-value_1.2\n" in out

    shallow = parse_dotenv(cli("export", f"{base}/app", "--no-recursive").stdout)
    assert "DB_HOST_NAME" not in shallow and shallow["QUOTES"] == TRICKY["quotes"]

    encrypted = parse_dotenv(cli("export", f"{base}/app", "--no-decrypt").stdout)
    assert encrypted["PLAIN"] == TRICKY["plain"]  # a String is a String
    assert encrypted["SPACES"] != TRICKY["spaces"]  # a SecureString stays encrypted


def test_export_json(cli, ssm, base):
    expected = _put_tricky(ssm, f"{base}/app")
    assert json.loads(cli("export", f"{base}/app", "--format", "json").stdout) == expected


def test_export_refuses_two_parameters_with_one_variable_name(cli, ssm, base):
    ssm.put_parameter(Name=f"{base}/x/api-key", Value="first-key-value", Type="String")
    ssm.put_parameter(Name=f"{base}/y/API_KEY", Value="second-key-value", Type="String")
    result = cli("export", base, ok=False)
    line = _failed(result, 2)
    assert f"{base}/x/api-key and {base}/y/API_KEY both become API_KEY" in line
    assert "key-value" not in result.output
    assert json.loads(cli("export", base, "--format", "json").stdout) == {f"{base}/x/api-key": "first-key-value",
                                                                           f"{base}/y/API_KEY": "second-key-value"}
    assert cli("export", f"{base}/x").stdout == "API_KEY=first-key-value\n"


def test_dotenv_round_trip(cli, ssm, base, tmp_path):
    _put_tricky(ssm, f"{base}/src")
    env_file = tmp_path / "app.env"
    env_file.write_text(cli("export", f"{base}/src").stdout, encoding="utf-8")
    out = cli("import", str(env_file), "--prefix", f"{base}/dst").stdout
    assert out.strip().endswith(f"imported {len(TRICKY)} of {len(TRICKY)} parameters")
    again = parse_dotenv(cli("export", f"{base}/dst").stdout)
    assert again == {env_name(key): value for key, value in TRICKY.items()}
    parameter = ssm.get_parameter(Name=f"{base}/dst/QUOTES", WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString" and parameter["Value"] == TRICKY["quotes"]


def test_json_round_trip_keeps_full_names(cli, ssm, base, tmp_path):
    expected = _put_tricky(ssm, f"{base}/src")
    exported = tmp_path / "params.json"
    exported.write_text(cli("export", f"{base}/src", "--format", "json").stdout, encoding="utf-8")
    cli("import", str(exported), "--prefix", f"{base}/copy", "--type", "String")
    copied = json.loads(cli("export", f"{base}/copy", "--format", "json").stdout)
    assert copied == {f"{base}/copy{name}": value for name, value in expected.items()}
    assert ssm.get_parameter(Name=f"{base}/copy{base}/src/plain")["Parameter"]["Type"] == "String"

    # into the same names: refused one by one without --overwrite, values never shown
    for name in expected:
        ssm.delete_parameter(Name=name)
    ssm.put_parameter(Name=f"{base}/src/quotes", Value="existing", Type="String")
    result = cli("import", str(exported), ok=False)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"paramstore: {base}/src/quotes: ParameterAlreadyExists: ")
    assert f"imported {len(TRICKY) - 1} of {len(TRICKY)}" in result.stdout
    assert all(value not in result.output for value in TRICKY.values() if len(value) > 3)
    cli("import", str(exported), "--overwrite", "--key-id", "alias/aws/ssm")
    assert json.loads(cli("export", f"{base}/src", "--format", "json").stdout) == expected


def test_import_stdin_and_bad_input(cli, ssm, base, tmp_path):
    cli("import", "-", "--prefix", base, "--type", "String",
        input="# settings\nexport LOG_LEVEL=debug  # inline comment\nGREETING='hi there'\n")
    assert ssm.get_parameter(Name=f"{base}/LOG_LEVEL")["Parameter"]["Value"] == "debug"
    assert ssm.get_parameter(Name=f"{base}/GREETING")["Parameter"]["Value"] == "hi there"
    cli("import", "-", "--prefix", "/", "--type", "String", input=f"{base[1:]}-rooted=yes\n")
    assert ssm.get_parameter(Name=f"{base}-rooted")["Parameter"]["Value"] == "yes"

    bad = tmp_path / "bad.env"
    bad.write_text("OK=1\nthis is not an assignment\n")
    assert "line 2" in _failed(cli("import", str(bad), "--prefix", base, ok=False), 2)
    unterminated = tmp_path / "open.env"
    unterminated.write_text('A="never closed\n')
    assert "unterminated" in _failed(cli("import", str(unterminated), ok=False), 2)
    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]")
    _failed(cli("import", str(not_object), ok=False), 2)
    numbers = tmp_path / "n.json"
    numbers.write_text('{"/a": 1}')
    _failed(cli("import", str(numbers), "--prefix", base, ok=False), 2)
    _failed(cli("import", str(tmp_path / "absent.env"), ok=False), 2)


def test_import_shows_progress_on_a_terminal(server, base, tmp_path):
    """A bar on a terminal's stderr; a pipe gets none (see the tests above: stderr stays empty)."""
    import pty

    env_file = tmp_path / "many.env"
    env_file.write_text("".join(f"KEY_{i}=value-{i}\n" for i in range(40)))
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "paramstore", "params", "import", str(env_file),
                               "--prefix", base, "--type", "String"],
                              env=_subprocess_env(server), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=slave, text=True, timeout=120)
        os.close(slave)
        slave = -1
        screen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode == 0 and proc.stdout.strip() == "imported 40 of 40 parameters"
    assert b"importing" in screen and b"100%" in screen, screen


@pytest.mark.parametrize("value", list(TRICKY.values()) + ["", "'", '"', "\\", "a\\'b", "\u00a0nbsp"])
def test_dotenv_quote_round_trips(value):
    from dotenv import dotenv_values

    line = f"KEY={dotenv_quote(value)}\n"
    assert parse_dotenv(line) == {"KEY": value}
    assert dotenv_values(stream=io.StringIO(line), interpolate=False) == {"KEY": value}


def test_env_name():
    assert env_name("/myapp/prod/db-password") == "DB_PASSWORD"
    assert env_name("/a/b/api.key-v2") == "API_KEY_V2"
    assert env_name("top-level") == "TOP_LEVEL"


# --- endpoints, credentials, connections -----------------------------------------------------

def test_endpoint_from_aws_variables_and_option(cli, aws_env, monkeypatch, base):
    cli("put", f"{base}/where", "here")
    monkeypatch.delenv("PARAMSTORE_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", aws_env.url)
    assert cli("get", f"{base}/where").stdout == "here\n"
    monkeypatch.delenv("AWS_ENDPOINT_URL_SSM")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env.url)
    assert cli("get", f"{base}/where").stdout == "here\n"
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    result = runner.invoke(app, ["params", "--endpoint-url", aws_env.url, "get", f"{base}/where"])
    assert result.exit_code == 0 and result.stdout == "here\n"


def test_connection_refused_is_one_line(cli, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PARAMSTORE_ENDPOINT_URL", url)
    line = _failed(cli("get", "/anything", ok=False), 2)
    assert line == f"paramstore: cannot connect to {url} (is the server running? see --endpoint-url)"
    result = cli("put", "/anything", ok=False, input="do-not-echo-me")
    assert result.exit_code == 2 and "do-not-echo-me" not in result.output


def test_without_credentials(cli, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert "no AWS credentials" in _failed(cli("get", "/x", ok=False), 2)


def test_wrong_secret_is_reported_by_code(cli, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    _failed(cli("ls", "/", ok=False), error="InvalidSignatureException")


# --- exec ------------------------------------------------------------------------------------

def _subprocess_env(server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true", PARAMSTORE_ENDPOINT_URL=server.url)
    return env


def _paramstore(*args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paramstore", "params", *args], env=env, input=input,
                          capture_output=True, text=True, timeout=60)


def test_exec_puts_parameters_in_the_environment(server, ssm, base):
    ssm.put_parameter(Name=f"{base}/db-password", Value=TRICKY["quotes"] + "\n" + TRICKY["unicode"],
                      Type="SecureString")
    ssm.put_parameter(Name=f"{base}/log.level", Value="debug", Type="String")
    ssm.put_parameter(Name=f"{base}/HOME", Value="/srv/app", Type="String")
    ssm.put_parameter(Name=f"{base}/deeper/not-included", Value="x", Type="String")
    env = _subprocess_env(server) | {"LOG_LEVEL": "info-from-parent", "KEPT": "kept"}
    names = ["DB_PASSWORD", "LOG_LEVEL", "HOME", "NOT_INCLUDED", "KEPT"]

    proc = _paramstore("exec", "--allow-env", "HOME", base, "--", sys.executable, str(APPS / "print_env.py"),
                       *names, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"DB_PASSWORD": TRICKY["quotes"] + "\n" + TRICKY["unicode"],
                                       "LOG_LEVEL": "debug", "HOME": "/srv/app", "NOT_INCLUDED": None,
                                       "KEPT": "kept"}

    proc = _paramstore("exec", "--recursive", "--allow-env", "HOME", base, "--", sys.executable,
                       str(APPS / "print_env.py"), *names, env=env)
    assert json.loads(proc.stdout)["NOT_INCLUDED"] == "x"


def _touch(marker: Path) -> list[str]:
    """A child that leaves `marker` behind if it is ever started."""
    return [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]


def test_exec_refuses_variables_that_change_how_programs_run(server, ssm, base, tmp_path):
    ssm.put_parameter(Name=f"{base}/ld-preload", Value="/nonexistent/preload-secret.so", Type="SecureString")
    ssm.put_parameter(Name=f"{base}/path", Value=str(tmp_path), Type="String")
    ssm.put_parameter(Name=f"{base}/db-password", Value="s3cret-value", Type="SecureString")
    env = _subprocess_env(server)
    marker = tmp_path / "started"

    proc = _paramstore("exec", base, "--", *_touch(marker), env=env)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paramstore: refusing to set "), proc.stderr
    assert f"LD_PRELOAD (from {base}/ld-preload)" in lines[0] and f"PATH (from {base}/path)" in lines[0]
    assert "--allow-env" in lines[0] and "DB_PASSWORD" not in lines[0]
    assert "preload-secret" not in proc.stderr and str(tmp_path) not in proc.stderr
    assert not marker.exists()

    # one allowed, the other still refused; names are matched whatever their case
    proc = _paramstore("exec", "--allow-env", "ld_preload", base, "--", *_touch(marker), env=env)
    assert proc.returncode == 2 and "PATH (from " in proc.stderr and "LD_PRELOAD" not in proc.stderr
    assert not marker.exists()

    names = ["LD_PRELOAD", "PATH", "DB_PASSWORD"]
    proc = _paramstore("exec", "--allow-env", "LD_PRELOAD", "--allow-env", "path", base, "--", sys.executable,
                       str(APPS / "print_env.py"), *names, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"LD_PRELOAD": "/nonexistent/preload-secret.so", "PATH": str(tmp_path),
                                       "DB_PASSWORD": "s3cret-value"}


def test_exec_refuses_interpreter_and_aws_variables(server, ssm, base, tmp_path):
    ssm.put_parameter(Name=f"{base}/PYTHONSTARTUP", Value=str(tmp_path / "evil.py"), Type="String")
    ssm.put_parameter(Name=f"{base}/deeper/aws.endpoint-url", Value="http://203.0.113.1", Type="String")
    env = _subprocess_env(server)
    marker = tmp_path / "started"

    proc = _paramstore("exec", "--recursive", base, "--", *_touch(marker), env=env)
    assert proc.returncode == 2, proc.stderr
    assert f"PYTHONSTARTUP (from {base}/PYTHONSTARTUP)" in proc.stderr
    assert f"AWS_ENDPOINT_URL (from {base}/deeper/aws.endpoint-url)" in proc.stderr
    assert not marker.exists()


def test_exec_with_no_parameters_runs_nothing(server, ssm, base, tmp_path):
    env = _subprocess_env(server)
    marker = tmp_path / "started"

    proc = _paramstore("exec", f"{base}/typo", "--", *_touch(marker), env=env)
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr
    assert proc.stderr.startswith(f"paramstore: no parameters under {base}/typo ")
    assert len(proc.stderr.strip().splitlines()) == 1 and "--allow-empty" in proc.stderr
    assert not marker.exists()

    # only deeper levels: empty without --recursive, with a hint
    ssm.put_parameter(Name=f"{base}/deeper/level", Value="x", Type="String")
    proc = _paramstore("exec", base, "--", *_touch(marker), env=env)
    assert proc.returncode == 1 and "--recursive" in proc.stderr, proc.stderr
    assert not marker.exists()
    proc = _paramstore("exec", "--recursive", base, "--", *_touch(marker), env=env)
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()

    marker.unlink()
    proc = _paramstore("exec", "--allow-empty", f"{base}/typo", "--", *_touch(marker), env=env)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert marker.exists()


@pytest.mark.parametrize("variable", [
    "PATH", "path", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "PYTHONPATH",
    "PYTHONSTARTUP", "PYTHONHOME", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS", "CDPATH",
    "GLOBIGNORE", "NODE_OPTIONS", "NODE_PATH", "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB", "GEM_PATH",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH", "GCONV_PATH", "HOME", "SHELL", "TMPDIR",
    "MALLOC_CHECK_", "GLIBC_TUNABLES", "OPENSSL_CONF", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
    "AWS_CA_BUNDLE", "AWS_PROFILE", "PARAMSTORE_ENDPOINT_URL", "HTTPS_PROXY", "GIT_SSH_COMMAND",
])
def test_refused_variables(variable):
    assert refused_variable(variable, set())
    assert not refused_variable(variable, {variable.upper()})


@pytest.mark.parametrize("variable", ["DB_PASSWORD", "LOG_LEVEL", "API_KEY", "PATHNAME", "MY_PATH", "HOMEPAGE",
                                      "ENVIRONMENT", "APP_ENV", "SHELL_COLOR", "DATABASE_URL", "TMP_BUCKET"])
def test_ordinary_variables_pass(variable):
    assert not refused_variable(variable, set())


def test_exec_passes_the_exit_code_and_reports_failures(server, ssm, base):
    ssm.put_parameter(Name=f"{base}/code", Value="7", Type="String")
    env = _subprocess_env(server)
    proc = _paramstore("exec", base, "--", sys.executable, "-c", "import os, sys; sys.exit(int(os.environ['CODE']))",
                       env=env)
    assert proc.returncode == 7, proc.stderr

    proc = _paramstore("exec", base, "--", "no-such-program-" + uuid.uuid4().hex, env=env)
    assert proc.returncode == 127 and proc.stderr.startswith("paramstore: cannot run no-such-program-")

    env["PARAMSTORE_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    proc = _paramstore("exec", base, "--", sys.executable, "-c", "print('must not run')", env=env)
    assert proc.returncode == 2 and proc.stdout == "" and "cannot connect" in proc.stderr


def _read_until(fd: int, wanted: bytes, seen: bytearray, deadline: float) -> None:
    import select
    import time

    while wanted not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no {wanted!r} on the terminal; saw {bytes(seen)!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        assert chunk, f"terminal closed before {wanted!r}; saw {bytes(seen)!r}"
        seen += chunk


def _type_when_hidden(fd: int, text: str, deadline: float) -> None:
    """Type once the terminal stops echoing: getpass flushes whatever was typed before that."""
    import termios
    import time

    while termios.tcgetattr(fd)[3] & termios.ECHO:
        assert time.monotonic() < deadline, "the terminal kept echoing"
        time.sleep(0.01)
    os.write(fd, text.encode() + b"\n")


def _reap(pid: int, grace: float = 5.0) -> int:
    """The child's wait status, killing it if it has not ended within `grace` seconds."""
    import time

    end = time.monotonic() + grace
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def test_put_at_a_terminal_asks_without_echo(server, ssm, base):
    """No VALUE and stdin a terminal: asked twice, and the typed value never shows on screen."""
    import pty
    import time

    name, secret = f"{base}/typed", "typed-" + uuid.uuid4().hex
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.execve(sys.executable, [sys.executable, "-m", "paramstore", "params", "put", name,
                                   "--type", "SecureString"], _subprocess_env(server))
    seen = bytearray()
    deadline = time.monotonic() + 60
    try:
        _read_until(fd, b"Value:", seen, deadline)
        _type_when_hidden(fd, secret, deadline)
        _read_until(fd, b"Repeat for confirmation:", seen, deadline)
        _type_when_hidden(fd, secret, deadline)
        _read_until(fd, b"Tier: Standard", seen, deadline)
    finally:
        status = _reap(pid)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, bytes(seen)
    assert secret.encode() not in seen
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == secret


def test_subprocess_put_from_pipe_and_get_into_shell(server, base):
    env = _subprocess_env(server)
    put = _paramstore("put", f"{base}/token", "--type", "SecureString", env=env, input="piped-secret\n")
    assert put.returncode == 0 and put.stdout.strip() == "Version: 1  Tier: Standard", put.stderr
    got = subprocess.run(["sh", "-c", f'TOKEN="$("{sys.executable}" -m paramstore params get {base}/token '
                                      f'--decrypt)"; printf "[%s]" "$TOKEN"'],
                         env=env, capture_output=True, text=True, timeout=60)
    assert got.stdout == "[piped-secret]", got.stderr


def test_a_value_quoted_by_the_server_is_masked():
    from paramstore.cli.errors import redacted

    assert redacted("bad value hunter2-x for /a", ("hunter2-x",)) == "bad value *** for /a"
    # a short value only where it stands alone, so the message stays readable
    assert redacted("value v invalid: v1 vv", ("v",)) == "value *** invalid: v1 vv"
