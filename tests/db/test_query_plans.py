"""No request scans a big table: every statement the API runs while creating, reading,
listing, labelling, tagging and deleting parameters, keys, aliases, grants and IAM
principals is recorded, then EXPLAINed on the same database.

- SQLite: a plan line `SCAN <table>` on a table that grows with the store fails (a search
  on an index is `SEARCH`; `SCAN ... USING INDEX` is a full walk of an index and fails too).
- PostgreSQL: with `enable_seqscan = off` the planner takes an index whenever one can
  serve, so a `Seq Scan on <table>` left in the plan means none can.

`SHOW_PLANS=1 pytest -s tests/db/test_query_plans.py` prints every plan.

Statements reach the database through SQLAlchemy (recorded by an engine event) and through
the Parameter Store's hot path on raw connections (recorded by wrapping its two entry points).
"""

from __future__ import annotations

import os
import re
import sqlite3

import pytest
from sqlalchemy import event

from paramstore.ssm.storage import hot_sql

#: tables whose row count grows with what the store holds (not per-account singletons)
BIG_TABLES = {
    "ssm_parameter", "ssm_parameter_version", "ssm_parameter_label", "ssm_parameter_tag",
    "kms_key", "kms_key_material", "kms_alias", "kms_key_tag", "kms_grant", "kms_service_owned_key",
    "iam_user", "iam_role", "iam_inline_policy", "iam_principal_tag", "ps_access_key",
    "audit_outbox", "ps_resource_count", "secrets_secret", "secrets_version", "secrets_stage",
}


@pytest.fixture
def recorded(fresh_server, monkeypatch):
    """(live server, the statements it ran since the fixture began recording)."""
    server = fresh_server
    statements: list[tuple[str, object]] = []
    db = server.app.state.store.db
    engines = {id(e): e for e in (db.engine, db.read_engine)}.values()

    def on_execute(_conn, _cursor, statement, parameters, _context, _executemany):
        statements.append((statement, parameters))

    for engine in engines:
        event.listen(engine, "before_cursor_execute", on_execute)
    original_run, original_read = hot_sql.PutTransaction._run, hot_sql.HotSql._read

    def run(self, statement, params):
        statements.append((self._sql._sql(statement), params))
        return original_run(self, statement, params)

    def read(self, statement, params):
        statements.append((self._sql(statement), params))
        return original_read(self, statement, params)

    monkeypatch.setattr(hot_sql.PutTransaction, "_run", run)
    monkeypatch.setattr(hot_sql.HotSql, "_read", read)
    try:
        yield server, statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", on_execute)


def _exercise(server) -> None:
    """Every create, read, list and change path, once with data on either side of it."""
    ssm, kms, iam = server.client("ssm"), server.client("kms"), server.client("iam")
    for i in range(3):
        ssm.put_parameter(Name=f"/app/prod/p{i}", Value=f"v{i}", Type="SecureString",
                          Tags=[{"Key": "team", "Value": f"t{i}"}])
        ssm.put_parameter(Name=f"/app/dev/p{i}", Value=f"v{i}", Type="String")
    ssm.put_parameter(Name="/app/prod/p0", Value="new", Overwrite=True)
    ssm.put_parameter(Name="/app/prod/p1", Value="new", Overwrite=True, Tier="Advanced")
    ssm.put_parameter(Name="/app/prod/p2", Value="new", Overwrite=True, Tier="Advanced", Policies=(
        '[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-01T00:00:00.000Z"}}]'))
    ssm.get_parameter(Name="/app/prod/p0", WithDecryption=True)
    ssm.get_parameter(Name="/app/prod/p0:1")
    ssm.get_parameters(Names=["/app/prod/p0", "/app/dev/p1", "/missing"], WithDecryption=True)
    ssm.get_parameter_history(Name="/app/prod/p0", MaxResults=1)
    ssm.label_parameter_version(Name="/app/prod/p0", ParameterVersion=1, Labels=["blue"])
    ssm.get_parameter(Name="/app/prod/p0:blue")
    ssm.get_parameters_by_path(Path="/app", Recursive=True, MaxResults=2)
    ssm.get_parameters_by_path(Path="/app/prod", WithDecryption=True)
    ssm.get_parameters_by_path(Path="/app", Recursive=True, ParameterFilters=[
        {"Key": "Label", "Option": "Equals", "Values": ["blue"]}])
    ssm.get_parameters_by_path(Path="/app", Recursive=True, ParameterFilters=[
        {"Key": "Type", "Option": "Equals", "Values": ["String"]}])
    for filters in ([], [{"Key": "Name", "Option": "BeginsWith", "Values": ["/app/pr"]}],
                    [{"Key": "Name", "Option": "Equals", "Values": ["/app/prod/p0"]}],
                    [{"Key": "Path", "Option": "Recursive", "Values": ["/app"]}],
                    [{"Key": "Path", "Option": "OneLevel", "Values": ["/app/dev"]}],
                    [{"Key": "tag:team", "Values": ["t1"]}],
                    [{"Key": "tag:team", "Option": "BeginsWith", "Values": ["t"]}],
                    [{"Key": "tag:team"}]):
        pages = ssm.get_paginator("describe_parameters").paginate(ParameterFilters=filters,
                                                                   PaginationConfig={"PageSize": 2})
        list(pages)
    arn_name = "/app/dev/p0"
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=arn_name, Tags=[{"Key": "k", "Value": "v"}])
    ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=arn_name)
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=arn_name, TagKeys=["k"])
    ssm.unlabel_parameter_version(Name="/app/prod/p0", ParameterVersion=1, Labels=["blue"])
    ssm.delete_parameter(Name="/app/dev/p0")
    ssm.delete_parameters(Names=["/app/dev/p1", "/missing"])

    keys = [kms.create_key(Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]["KeyId"] for _ in range(3)]
    kms.describe_key(KeyId=keys[0])
    blob = kms.encrypt(KeyId=keys[0], Plaintext=b"x")["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    list(kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}))
    for i, key in enumerate(keys):
        kms.create_alias(AliasName=f"alias/a{i}", TargetKeyId=key)
    kms.update_alias(AliasName="alias/a0", TargetKeyId=keys[1])
    list(kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 2}))
    kms.list_aliases(KeyId=keys[1])
    kms.encrypt(KeyId="alias/a1", Plaintext=b"x")
    kms.delete_alias(AliasName="alias/a2")
    grantee = "arn:aws:iam::111122223333:user/grantee"
    grant = kms.create_grant(KeyId=keys[0], GranteePrincipal=grantee, RetiringPrincipal=grantee,
                             Operations=["Decrypt"])["GrantId"]
    kms.list_grants(KeyId=keys[0])
    kms.list_retirable_grants(RetiringPrincipal=grantee)
    kms.revoke_grant(KeyId=keys[0], GrantId=grant)
    kms.tag_resource(KeyId=keys[0], Tags=[{"TagKey": "k", "TagValue": "v"}])
    kms.list_resource_tags(KeyId=keys[0])
    kms.untag_resource(KeyId=keys[0], TagKeys=["k"])
    kms.enable_key_rotation(KeyId=keys[0])
    kms.rotate_key_on_demand(KeyId=keys[0])
    kms.list_key_rotations(KeyId=keys[0])
    kms.schedule_key_deletion(KeyId=keys[2], PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=keys[2])
    # multi-Region keys: related rows are a range of the primary key
    mrk = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=mrk, ReplicaRegion="eu-west-1")
    eu = server.client("kms", region="eu-west-1")
    eu.describe_key(KeyId=mrk)
    eu.decrypt(CiphertextBlob=kms.encrypt(KeyId=mrk, Plaintext=b"x")["CiphertextBlob"])
    kms.enable_key_rotation(KeyId=mrk)
    kms.rotate_key_on_demand(KeyId=mrk)
    kms.update_primary_region(KeyId=mrk, PrimaryRegion="eu-west-1")
    eu.schedule_key_deletion(KeyId=mrk, PendingWindowInDays=7)

    for name in ("u1", "u2", "u3"):
        iam.create_user(UserName=name)
    iam.create_access_key(UserName="u1")
    iam.list_access_keys(UserName="u1")
    iam.put_user_policy(UserName="u1", PolicyName="p", PolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}'))
    iam.list_user_policies(UserName="u1")
    list(iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 2}))
    iam.create_role(RoleName="r1", AssumeRolePolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},'
        '"Action":"sts:AssumeRole"}]}'))
    list(iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 2}))

    sm = server.client("secretsmanager")
    for i in range(3):
        sm.create_secret(Name=f"app/s{i}", SecretString=f"v{i}", Tags=[{"Key": "team", "Value": f"t{i}"}])
    sm.put_secret_value(SecretId="app/s0", SecretString="v0b")
    sm.put_secret_value(SecretId="app/s0", SecretString="v0c", VersionStages=["blue"])
    sm.get_secret_value(SecretId="app/s0")
    sm.get_secret_value(SecretId="app/s0", VersionStage="AWSPREVIOUS")
    sm.describe_secret(SecretId="app/s1")
    sm.batch_get_secret_value(SecretIdList=["app/s0", "app/s1", "missing"])
    list(sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 2}))
    sm.list_secrets(Filters=[{"Key": "name", "Values": ["app/"]}], SortBy="name")
    sm.list_secret_version_ids(SecretId="app/s0", IncludeDeprecated=True)
    stages = sm.describe_secret(SecretId="app/s0")["VersionIdsToStages"]
    blue = next(v for v, labels in stages.items() if "blue" in labels)
    current = next(v for v, labels in stages.items() if "AWSCURRENT" in labels)
    sm.update_secret_version_stage(SecretId="app/s0", VersionStage="AWSCURRENT", MoveToVersionId=blue,
                                   RemoveFromVersionId=current)
    sm.update_secret(SecretId="app/s1", Description="d", SecretString="v1b")
    sm.tag_resource(SecretId="app/s1", Tags=[{"Key": "k", "Value": "v"}])
    sm.untag_resource(SecretId="app/s1", TagKeys=["k"])
    sm.put_resource_policy(SecretId="app/s1", ResourcePolicy=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},'
        '"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}'))
    sm.rotate_secret(SecretId="app/s2", RotationLambdaARN=(
        "arn:aws:lambda:us-east-1:111122223333:function:paramstore-rotate-random"),
        RotationRules={"AutomaticallyAfterDays": 1})
    assert server.app.state.store.secrets.rotations.wait_idle(20)
    sm.delete_secret(SecretId="app/s1", RecoveryWindowInDays=7)
    sm.restore_secret(SecretId="app/s1")
    sm.delete_secret(SecretId="app/s2", ForceDeleteWithoutRecovery=True)
    server.clock.advance(days=2)
    sm.list_secrets(MaxResults=1)  # the sweeper's due-work queries


def _sqlite_plan(path, statement: str, params) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement, params or ())]
    finally:
        conn.close()


def _postgres_plan(url: str, statement: str, params) -> list[str]:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SET enable_seqscan = off")
        return [row[0] for row in conn.execute("EXPLAIN " + statement, params or None)]


def _scans(backend: str, plan: list[str]) -> set[str]:
    pattern = r"\bSCAN (\w+)" if backend == "sqlite" else r"Seq Scan on (\w+)"
    return {m for line in plan for m in re.findall(pattern, line)} & BIG_TABLES


def test_no_request_scans_a_big_table(recorded):
    server, statements = recorded
    statements.clear()
    _exercise(server)
    checked, scanning = 0, {}
    seen: set[str] = set()
    for statement, params in statements:
        if not re.match(r"\s*(SELECT|UPDATE|DELETE|WITH)\b", statement, re.I) or statement in seen:
            continue
        seen.add(statement)
        if isinstance(params, list) and params and isinstance(params[0], (tuple, list, dict)):
            params = params[0]  # an executemany: one row's parameters plan the statement
        if server.backend == "sqlite":
            plan = _sqlite_plan(server.data_dir / "paramstore.db", statement, params)
        else:
            plan = _postgres_plan(server.database_url, statement, params)
        checked += 1
        found = _scans(server.backend, plan)
        if os.environ.get("SHOW_PLANS"):  # SHOW_PLANS=1 pytest -s: every plan, to read
            print("\n###", " ".join(statement.split())[:300], "\n   ", "\n    ".join(plan))
        if found:
            scanning[statement] = (sorted(found), plan)
    assert checked > 40  # the recorder saw the API's statements
    assert scanning == {}, "\n\n".join(f"{s}\n  scans {t}\n  " + "\n  ".join(p) for s, (t, p) in scanning.items())
