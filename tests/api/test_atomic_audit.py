"""A state change and its audit record commit together: with audit inserts refused, every
changing request is refused and leaves nothing behind (SQLite and PostgreSQL).  On SQLite
a change's record is inserted into the store's `audit_outbox` in the change's own
transaction (kms_core/audit.py) and a read's into the trail file: both are refused."""

from __future__ import annotations

import json
import sqlite3

import pytest
from botocore.exceptions import ClientError

from kms_core.storage.audit_file import audit_file_path
from tests.process_helpers import ServerProcess

REFUSE_SQLITE = ("CREATE TRIGGER refuse_audit BEFORE INSERT ON {table} "
                 "BEGIN SELECT RAISE(ABORT, 'audit inserts refused'); END")
REFUSE_PG = ("CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit inserts refused'; "
             "END $$ LANGUAGE plpgsql; CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_event "
             "FOR EACH ROW EXECUTE FUNCTION refuse_audit()")
ALLOW_SQLITE = "DROP TRIGGER refuse_audit"
ALLOW_PG = "DROP TRIGGER refuse_audit ON audit_event; DROP FUNCTION refuse_audit()"
AUDIT_TABLES = {"audit_event", "audit_head", "audit_outbox", "alembic_version"}


class Database:
    def __init__(self, url, data_dir) -> None:
        self.url, self.path = url, data_dir / "paramstore.db"

    def run(self, statement: str, trail: bool = False) -> list:
        """`trail`: a statement on the audit trail's tables (SQLite keeps them in a file of
        their own, kms_core/storage/audit_file.py)."""
        if self.url is None:
            conn = sqlite3.connect(audit_file_path(self.path) if trail else self.path, isolation_level=None)
            try:
                if ";" in statement or statement.startswith("CREATE TRIGGER"):
                    conn.executescript(statement)
                    return []
                return conn.execute(statement).fetchall()
            finally:
                conn.close()
        import psycopg

        from kms_core.storage.connect import psycopg_dsn

        with psycopg.connect(psycopg_dsn(self.url), autocommit=True) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    def state(self) -> dict:
        """Every row of every table but the audit trail's: what a refused request must not change."""
        if self.url is None:
            tables = [r[0] for r in self.run("SELECT name FROM sqlite_master WHERE type = 'table'")]
        else:
            tables = [r[0] for r in self.run("SELECT table_name FROM information_schema.tables "
                                             "WHERE table_schema = current_schema()")]
        return {t: sorted(json.dumps(list(row), default=repr) for row in self.run(f'SELECT * FROM "{t}"'))
                for t in tables if t not in AUDIT_TABLES}

    def refuse_audit(self) -> None:
        if self.url:
            self.run(REFUSE_PG)
        else:
            self.run(REFUSE_SQLITE.format(table="audit_event"), trail=True)
            self.run(REFUSE_SQLITE.format(table="audit_outbox"))

    def allow_audit(self) -> None:
        if self.url:
            self.run(ALLOW_PG)
        else:
            self.run(ALLOW_SQLITE, trail=True)
            self.run(ALLOW_SQLITE)


@pytest.fixture
def setup(tmp_path, fresh_database):
    _, url = fresh_database
    server = ServerProcess(tmp_path, url).wait_ready()
    yield server, Database(url, tmp_path)
    server.stop()


def refused(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 500, caught.value.response
    return caught.value.response["Error"]["Code"]


def test_refused_audit_inserts_leave_no_change_behind(setup):
    server, db = setup
    kms, ssm, iam = server.client("kms"), server.client("ssm"), server.client("iam")
    key_id = kms.create_key(Description="before")["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name="/atomic/existing", Value="v1", Type="SecureString")
    ssm.put_parameter(Name="/atomic/plain", Value="v1", Type="String")
    iam.create_user(UserName="atomic-before")
    before = db.state()
    db.refuse_audit()
    try:
        changes = [
            lambda: ssm.put_parameter(Name="/atomic/new", Value="secret-value", Type="SecureString"),
            lambda: ssm.put_parameter(Name="/atomic/new-plain", Value="v", Type="String"),
            lambda: ssm.put_parameter(Name="/atomic/existing", Value="v2", Type="SecureString", Overwrite=True),
            lambda: ssm.label_parameter_version(Name="/atomic/plain", Labels=["prod"]),
            lambda: ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/atomic/plain",
                                             Tags=[{"Key": "team", "Value": "a"}]),
            lambda: ssm.delete_parameter(Name="/atomic/plain"),
            lambda: kms.create_key(Description="during"),
            lambda: kms.create_alias(AliasName="alias/atomic", TargetKeyId=key_id),
            lambda: kms.disable_key(KeyId=key_id),
            lambda: kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "k", "TagValue": "v"}]),
            lambda: kms.enable_key_rotation(KeyId=key_id),
            lambda: kms.create_grant(KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{server_account(kms)}:root",
                                     Operations=["Decrypt"]),
            lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7),
            lambda: iam.create_user(UserName="atomic-during"),
            lambda: iam.delete_user(UserName="atomic-before"),
            lambda: iam.create_access_key(UserName="atomic-before"),
        ]
        for change in changes:
            refused(change)
        # reads are refused too (fail closed: nothing leaves unaudited), and change nothing
        refused(lambda: ssm.get_parameter(Name="/atomic/existing", WithDecryption=True))
        assert db.state() == before
    finally:
        db.allow_audit()
    # once the trail takes inserts again, all is as it was, and the trail still verifies
    assert ssm.get_parameter(Name="/atomic/existing", WithDecryption=True)["Parameter"]["Value"] == "v1"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    with pytest.raises(ClientError):
        ssm.get_parameter(Name="/atomic/new")
    from kms_core.audit import verify
    from kms_core.crypto.root import load_root_key
    from kms_core.storage.session import Database as Store
    from kms_core.storage.connect import sqlite_url

    store = Store(db.url or sqlite_url(db.path.parent))
    try:
        assert verify(store, load_root_key(db.path.parent, environ={})).ok
    finally:
        store.dispose()


def test_a_change_and_its_event_share_the_commit(setup):
    """The event of a successful change is in the trail once, with its resources."""
    server, db = setup
    server.client("ssm").put_parameter(Name="/atomic/first", Value="x", Type="String")  # makes the owned key
    response = server.client("ssm").put_parameter(Name="/atomic/once", Value="x", Type="String")
    request_id = response["ResponseMetadata"]["RequestId"]
    rows = db.run(f"SELECT event_name, resources, error_code FROM audit_event WHERE request_id = '{request_id}'",
                  trail=True)
    assert len(rows) == 1
    name, resources, error = rows[0]
    assert name == "PutParameter" and error is None and "parameter/atomic/once" in resources


def server_account(kms) -> str:
    return kms.describe_key(KeyId=kms.list_keys()["Keys"][0]["KeyId"])["KeyMetadata"]["AWSAccountId"]


def test_the_services_own_changes_carry_their_records(server, kms, clock):
    """A key deleted at the end of its waiting period and an automatic rotation are recorded
    by KMS itself, in the transaction that does them."""
    from sqlalchemy import text

    from tests.api.test_audit import db_of

    doomed = kms.create_key(Description="doomed")["KeyMetadata"]
    rotating = kms.create_key(Description="rotating")["KeyMetadata"]
    kms.enable_key_rotation(KeyId=rotating["KeyId"], RotationPeriodInDays=90)
    kms.schedule_key_deletion(KeyId=doomed["KeyId"], PendingWindowInDays=7)
    clock.advance(days=91)
    kms.list_keys()  # any request runs what is due
    from kms_core.storage.audit_file import trail_engine

    with trail_engine(db_of(server)).connect() as conn:
        rows = conn.execute(text("SELECT event_name, principal_arn, resources FROM audit_event "
                                 "WHERE event_source = 'kms.amazonaws.com' AND principal_arn = 'kms.amazonaws.com' "
                                 "AND (resources LIKE :a OR resources LIKE :b)"),
                            {"a": f"%{doomed['KeyId']}%", "b": f"%{rotating['KeyId']}%"}).all()
    found = {(name, json.loads(resources)[0]) for name, _, resources in rows}
    assert ("DeleteKey", doomed["Arn"]) in found
    assert ("RotateKey", rotating["Arn"]) in found
