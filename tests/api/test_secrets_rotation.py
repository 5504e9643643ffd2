"""Secrets Manager rotation without Lambda, through boto3 against a live server: the
built-in generators, scheduled rotations run by the sweeper, and a signed HTTPS webhook
run by the test that does AWS's four steps with its own credentials (and fails setSecret
on demand, which must leave AWSCURRENT where it was)."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import time
import uuid
from contextlib import contextmanager

import boto3
import pytest
from botocore.config import Config
from sqlalchemy import text

from kms_core.storage.audit_file import trail_engine
from paramstore.secrets.rotation.targets import (SIGNATURE_HEADER, RotationTargets, TargetsFileError, Webhook,
                                                 load_targets, verify)
from paramstore.tls import make_dev_cert
from tests.api.test_kms_grants import make_user
from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY
from tests.helpers import expect_error

JSON_PASSWORD = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:paramstore-rotate-json-password"
RANDOM = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:paramstore-rotate-random"
WEBHOOK = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:test-webhook"
SIGNING_KEY = b"0123456789abcdef-test-signing-key"


@pytest.fixture
def sm(server):
    return server.client("secretsmanager")


def wait_rotations(server) -> None:
    assert server.app.state.store.secrets.rotations.wait_idle(20), "rotation did not finish"


def events(server, name: str, arn: str) -> list[dict]:
    with trail_engine(server.app.state.store.db).connect() as conn:
        rows = conn.execute(text("SELECT event_name, principal_arn, resources, detail FROM audit_event "
                                 "WHERE event_name = :n ORDER BY seq"), {"n": name}).all()
    found = [{"principal": r[1], "resources": json.loads(r[2] or "[]"), "detail": json.loads(r[3] or "{}")}
             for r in rows]
    return [e for e in found if arn in e["resources"]]


def new_secret(sm, value: str) -> str:
    return sm.create_secret(Name="rot/" + uuid.uuid4().hex[:10], SecretString=value)["ARN"]


# --- the built-in generators -----------------------------------------------------------------
def test_json_password_rotation_replaces_the_field_and_moves_the_labels(server, sm):
    arn = new_secret(sm, json.dumps({"username": "app", "password": "old-password"}))
    first = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=JSON_PASSWORD,
                             RotationRules={"AutomaticallyAfterDays": 30})["VersionId"]
    wait_rotations(server)
    current = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    assert current["username"] == "app" and current["password"] != "old-password" and len(current["password"]) == 32
    previous = json.loads(sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"])
    assert previous["password"] == "old-password"
    described = sm.describe_secret(SecretId=arn)
    assert described["VersionIdsToStages"] == {token: ["AWSCURRENT"], next(iter(first)): ["AWSPREVIOUS"]}
    assert described["RotationEnabled"] is True and described["RotationLambdaARN"] == JSON_PASSWORD
    assert described["RotationRules"] == {"AutomaticallyAfterDays": 30}
    assert "LastRotatedDate" in described
    assert (described["NextRotationDate"] - described["LastRotatedDate"]).days == 30
    [succeeded] = events(server, "RotationSucceeded", arn)
    assert succeeded["principal"] == "secretsmanager.amazonaws.com" and succeeded["detail"]["versionId"] == token
    steps = [e["detail"]["rotationStep"] for e in events(server, "PutSecretValue", arn)
             + events(server, "UpdateSecretVersionStage", arn)]
    assert steps == ["createSecret", "finishSecret"]


def test_random_rotation_replaces_the_whole_value(server, sm):
    arn = new_secret(sm, "plain-old-value")
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=RANDOM)
    wait_rotations(server)
    value = sm.get_secret_value(SecretId=arn)["SecretString"]
    assert value != "plain-old-value" and len(value) == 32
    assert "RotationEnabled" not in sm.describe_secret(SecretId=arn)  # no schedule: a one-off rotation


def test_a_scheduled_rotation_runs_when_it_falls_due(server, sm, clock):
    arn = new_secret(sm, json.dumps({"password": "p0"}))
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=JSON_PASSWORD, RotateImmediately=False,
                     RotationRules={"ScheduleExpression": "rate(10 days)"})
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"]) == {"password": "p0"}
    assert len(sm.describe_secret(SecretId=arn)["VersionIdsToStages"]) == 1  # nothing pending yet
    clock.advance(days=11)
    sm.list_secrets(MaxResults=1)  # any request runs what is due
    wait_rotations(server)
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])["password"] != "p0"
    described = sm.describe_secret(SecretId=arn)
    assert sorted(s for stages in described["VersionIdsToStages"].values() for s in stages) == [
        "AWSCURRENT", "AWSPREVIOUS"]
    assert events(server, "RotationStarted", arn)[0]["detail"]["scheduled"] is True


def test_a_failed_generator_leaves_awscurrent_and_a_pending_placeholder(server, sm):
    arn = new_secret(sm, "not json")
    token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=JSON_PASSWORD)["VersionId"]
    wait_rotations(server)
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "not json"
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert stages[token] == ["AWSPENDING"]
    [failed] = events(server, "RotationFailed", arn)
    assert failed["detail"]["failedStep"] == "createSecret" and "not json" not in json.dumps(failed)
    # AWS's rule: a rotation still pending on another version blocks a new one
    expect_error(lambda: sm.rotate_secret(SecretId=arn, RotationLambdaARN=JSON_PASSWORD), "InvalidRequestException",
                 "A previous rotation isn't complete. That rotation will be reattempted.")


# --- what RotateSecret refuses ---------------------------------------------------------------
def test_no_rotation_function_is_refused(sm):
    arn = new_secret(sm, "v")
    expect_error(lambda: sm.rotate_secret(SecretId=arn), "InvalidRequestException",
                 "No Lambda rotation function ARN is associated with this secret.")


def test_an_unknown_target_is_refused_and_nothing_is_saved(sm):
    arn = new_secret(sm, "v")
    for unknown in (f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:nobody-configured-this",
                    f"arn:aws:lambda:{REGION}:444455556666:function:paramstore-rotate-random"):
        expect_error(lambda: sm.rotate_secret(SecretId=arn, RotationLambdaARN=unknown,
                                              RotationRules={"AutomaticallyAfterDays": 1}),
                     "AccessDeniedException", contains="cannot invoke the specified Lambda function")
    described = sm.describe_secret(SecretId=arn)
    assert not {"RotationEnabled", "RotationRules", "RotationLambdaARN"} & set(described)
    assert len(described["VersionIdsToStages"]) == 1


@pytest.mark.parametrize("rules", [
    {"AutomaticallyAfterDays": 5, "ScheduleExpression": "rate(5 days)"},
    {"ScheduleExpression": "rate(1 hours)"},
    {"ScheduleExpression": "cron(0 16 1 * * *)"},  # both day fields set
    {"ScheduleExpression": "every tuesday"},
    {"AutomaticallyAfterDays": 5, "Duration": "30h"},
])
def test_bad_rotation_rules_are_refused(sm, rules):
    arn = new_secret(sm, "v")
    expect_error(lambda: sm.rotate_secret(SecretId=arn, RotationLambdaARN=RANDOM, RotationRules=rules),
                 "InvalidParameterException")


def test_cancel_turns_rotation_off_and_keeps_the_rules(server, sm):
    arn = new_secret(sm, json.dumps({"password": "x"}))
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=JSON_PASSWORD,
                     RotationRules={"ScheduleExpression": "cron(0 8 ? * MON *)", "Duration": "2h"})
    wait_rotations(server)
    sm.cancel_rotate_secret(SecretId=arn)
    described = sm.describe_secret(SecretId=arn)
    assert described["RotationEnabled"] is False
    assert described["RotationRules"] == {"ScheduleExpression": "cron(0 8 ? * MON *)", "Duration": "2h"}
    assert "NextRotationDate" not in described


def test_rotate_needs_its_own_permission(server, sm):
    user = make_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["secretsmanager:*", "lambda:InvokeFunction"], "Resource": "*"},
        {"Effect": "Deny", "Action": "secretsmanager:RotateSecret", "Resource": "*",
         "Condition": {"StringLike": {"secretsmanager:RotationLambdaARN": "*paramstore-rotate-random"}}}]})
    client = server.client("secretsmanager", access_key_id=user.access_key_id, secret=user.secret)
    arn = new_secret(sm, json.dumps({"password": "x"}))
    expect_error(lambda: client.rotate_secret(SecretId=arn, RotationLambdaARN=RANDOM), "AccessDeniedException")
    client.rotate_secret(SecretId=arn, RotationLambdaARN=JSON_PASSWORD)
    wait_rotations(server)


# --- a webhook: the receiver does the steps with its own credentials ----------------------------
class Receiver:
    """A rotation webhook as a team would write one for a database: it checks the
    signature, then does AWS's single-user template steps against the server."""

    def __init__(self, endpoint: str, fail_step: str | None = None) -> None:
        self.sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION,
                               aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
                               config=Config(retries={"total_max_attempts": 1}))
        self.fail_step = fail_step
        self.database_password: str | None = None  # the "database" whose password rotates
        self.steps: list[str] = []
        self.bad_signatures = 0

    def handle(self, event: dict) -> int:
        step, arn, token = event["Step"], event["SecretId"], event["ClientRequestToken"]
        self.steps.append(step)
        if step == self.fail_step:
            return 500
        if step == "createSecret":
            current = json.loads(self.sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])
            current["password"] = self.sm.get_random_password(ExcludePunctuation=True)["RandomPassword"]
            self.sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=json.dumps(current),
                                     VersionStages=["AWSPENDING"])
        elif step == "setSecret":
            pending = self.sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
            self.database_password = json.loads(pending["SecretString"])["password"]
        elif step == "testSecret":
            pending = self.sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
            if json.loads(pending["SecretString"])["password"] != self.database_password:
                return 500
        elif step == "finishSecret":
            stages = self.sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
            current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
            self.sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token,
                                                RemoveFromVersionId=current)
        return 200


@contextmanager
def https_receiver(tmp_path, receiver: Receiver):
    certs = make_dev_cert(tmp_path / "certs")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if not verify(SIGNING_KEY, self.headers.get(SIGNATURE_HEADER, ""), body, time.time()):
                receiver.bad_signatures += 1
                status = 401
            else:
                status = receiver.handle(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs["cert"], certs["key"])
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/rotate", str(certs["ca"])
    finally:
        httpd.shutdown()


@contextmanager
def webhook_target(server, url: str, ca_bundle: str, key: bytes = SIGNING_KEY):
    store = server.app.state.store.secrets
    before = store.rotation_targets
    store.rotation_targets = RotationTargets({"test-webhook": Webhook("test-webhook", url, key, ca_bundle, 10.0,
                                                                      frozenset({ACCOUNT_ID}))})
    try:
        yield
    finally:
        store.rotation_targets = before


def test_a_webhook_rotates_a_database_password(server, sm, tmp_path):
    receiver = Receiver(server.url)
    arn = new_secret(sm, json.dumps({"username": "orders", "password": "initial"}))
    with https_receiver(tmp_path, receiver) as (url, ca), webhook_target(server, url, ca):
        token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=WEBHOOK,
                                 RotationRules={"AutomaticallyAfterDays": 7})["VersionId"]
        wait_rotations(server)
    assert receiver.steps == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    assert receiver.bad_signatures == 0
    current = sm.get_secret_value(SecretId=arn)
    assert current["VersionId"] == token and current["VersionStages"] == ["AWSCURRENT"]
    assert json.loads(current["SecretString"])["password"] == receiver.database_password
    assert json.loads(sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"])[
        "password"] == "initial"
    assert len(events(server, "RotationSucceeded", arn)) == 1


def test_a_failing_set_secret_leaves_awscurrent_as_it_was(server, sm, tmp_path):
    receiver = Receiver(server.url, fail_step="setSecret")
    arn = new_secret(sm, json.dumps({"username": "orders", "password": "initial"}))
    before = sm.get_secret_value(SecretId=arn)
    with https_receiver(tmp_path, receiver) as (url, ca), webhook_target(server, url, ca):
        token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=WEBHOOK)["VersionId"]
        wait_rotations(server)
    assert receiver.steps == ["createSecret", "setSecret"]
    after = sm.get_secret_value(SecretId=arn)
    assert (after["VersionId"], after["SecretString"]) == (before["VersionId"], before["SecretString"])
    assert sm.describe_secret(SecretId=arn)["VersionIdsToStages"][token] == ["AWSPENDING"]
    [failed] = events(server, "RotationFailed", arn)
    assert failed["detail"]["failedStep"] == "setSecret" and "HTTP 500" in failed["detail"]["reason"]


def test_a_receiver_with_another_key_refuses_every_step(server, sm, tmp_path):
    receiver = Receiver(server.url)
    arn = new_secret(sm, json.dumps({"password": "initial"}))
    with https_receiver(tmp_path, receiver) as (url, ca), webhook_target(server, url, ca, key=b"a-different-key-16b"):
        sm.rotate_secret(SecretId=arn, RotationLambdaARN=WEBHOOK)
        wait_rotations(server)
    assert receiver.bad_signatures == 1 and receiver.steps == []
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])["password"] == "initial"


def test_a_webhook_whose_certificate_is_not_trusted_is_not_called(server, sm, tmp_path):
    receiver = Receiver(server.url)
    arn = new_secret(sm, json.dumps({"password": "initial"}))
    with https_receiver(tmp_path, receiver) as (url, _ca), webhook_target(server, url, None):
        sm.rotate_secret(SecretId=arn, RotationLambdaARN=WEBHOOK)
        wait_rotations(server)
    assert receiver.steps == []
    [failed] = events(server, "RotationFailed", arn)
    assert "could not be reached" in failed["detail"]["reason"]


# --- the operator's targets file ---------------------------------------------------------------
def test_targets_file_adds_webhooks_and_generators(tmp_path):
    key_file = tmp_path / "hook.key"
    key_file.write_bytes(b"k" * 32 + b"\n")
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({"targets": [
        {"name": "orders-db", "type": "webhook", "url": "https://rotator.example/rotate",
         "signing_key_file": str(key_file), "accounts": [ACCOUNT_ID]},
        {"name": "api-token", "type": "generate", "field": "token", "length": 48, "accounts": "*"}]}))
    targets = load_targets(path)
    hook = targets.resolve(f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:orders-db", ACCOUNT_ID, REGION)
    assert isinstance(hook, Webhook) and hook.signing_key == b"k" * 32
    assert targets.resolve(f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:api-token", ACCOUNT_ID, REGION).length == 48
    assert targets.resolve(f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:orders-db", ACCOUNT_ID, REGION) is None
    # another account's secret can't name the webhook, even with an ARN of its own account
    assert targets.resolve(f"arn:aws:lambda:{REGION}:444455556666:function:orders-db", "444455556666", REGION) is None
    assert targets.resolve(f"arn:aws:lambda:{REGION}:444455556666:function:api-token", "444455556666", REGION)


@pytest.mark.parametrize("entry, complaint", [
    ({"name": "x", "type": "webhook", "url": "http://plain.example/", "signing_key": "k" * 20, "accounts": "*"},
     "https://"),
    ({"name": "x", "type": "webhook", "url": "https://a.example/", "signing_key": "short", "accounts": "*"},
     "at least 16"),
    ({"name": "x y", "type": "generate"}, "name"),
    ({"name": "x", "type": "lambda", "accounts": "*"}, "type must be"),
    ({"name": "x", "type": "webhook", "url": "https://a.example/", "signing_key": "k" * 20}, "accounts"),
    ({"name": "x", "type": "generate", "accounts": ["1234"]}, "accounts"),
])
def test_a_bad_targets_file_is_refused(tmp_path, entry, complaint):
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({"targets": [entry]}))
    with pytest.raises(TargetsFileError, match=complaint):
        load_targets(path)


def test_no_scheduled_rotation_while_scheduled_for_deletion(server, sm, clock):
    arn = new_secret(sm, json.dumps({"password": "p0"}))
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=JSON_PASSWORD, RotateImmediately=False,
                     RotationRules={"AutomaticallyAfterDays": 1})
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    clock.advance(days=2)
    sm.list_secrets(MaxResults=1)
    wait_rotations(server)
    sm.restore_secret(SecretId=arn)
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"]) == {"password": "p0"}
    described = sm.describe_secret(SecretId=arn)
    assert described["RotationEnabled"] is True
    assert described["NextRotationDate"] > described["LastChangedDate"]  # rescheduled from the restore


def test_naming_a_target_needs_lambda_invoke_function(server, sm):
    user = make_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:RotateSecret", "Resource": "*"}]})
    client = server.client("secretsmanager", access_key_id=user.access_key_id, secret=user.secret)
    arn = new_secret(sm, "v")
    expect_error(lambda: client.rotate_secret(SecretId=arn, RotationLambdaARN=RANDOM), "AccessDeniedException",
                 contains="lambda:InvokeFunction")
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "v"
