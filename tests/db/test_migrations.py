"""Migrations on both databases: upgrade from empty, no drift from the models, down and up again."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from kms_core.storage import migrate
from kms_core.storage.session import Database
from kms_core.storage.connect import sqlite_url

EXPECTED_TABLES = {"ps_meta", "ps_epoch", "ps_account", "ps_access_key", "kms_key", "kms_key_material", "kms_grant",
                   "iam_user", "iam_role", "iam_inline_policy", "iam_principal_tag", "audit_event", "audit_head",
                   "kms_alias", "kms_key_tag", "kms_service_owned_key", "ssm_parameter", "ssm_parameter_version",
                   "ssm_parameter_label", "ssm_parameter_tag", "ssm_service_setting", "ps_resource_count"}


@pytest.fixture
def empty_db(fresh_database, tmp_path):
    db = Database(fresh_database[1] or sqlite_url(tmp_path))
    yield db
    db.dispose()


def test_upgrade_head_on_empty_database_creates_every_table(empty_db):
    migrate.upgrade(empty_db)
    assert EXPECTED_TABLES <= set(inspect(empty_db.engine).get_table_names())
    assert migrate.current_revision(empty_db) == migrate.head_revision(empty_db)
    migrate.require_current(empty_db)


def test_models_match_migrations_no_autogenerate_drift(empty_db):
    migrate.upgrade(empty_db)
    command.check(migrate.alembic_config(empty_db))  # raises if the models and migrations differ


def test_downgrade_to_base_and_upgrade_again(empty_db):
    migrate.upgrade(empty_db)
    migrate.downgrade(empty_db, "base")
    assert not (EXPECTED_TABLES & set(inspect(empty_db.engine).get_table_names()))
    migrate.upgrade(empty_db)
    assert EXPECTED_TABLES <= set(inspect(empty_db.engine).get_table_names())


def test_require_current_refuses_an_empty_schema(empty_db):
    with pytest.raises(migrate.SchemaOutdated, match="paramstore db upgrade"):
        migrate.require_current(empty_db)


@pytest.mark.postgres
def test_postgres_change_token_survives_a_dropped_monitor_connection(fresh_postgres_url):
    db = Database(fresh_postgres_url)
    try:
        migrate.upgrade(db)
        first = db.change_token()
        with db.write():
            pass
        second = db.change_token()
        assert second != first
        pid = db._monitor_conn.info.backend_pid
        with db.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        assert db.change_token() == second  # reconnected transparently, same value
    finally:
        db.dispose()


def test_resource_counts_start_from_the_rows_already_stored(empty_db):
    """Migration a8c0ffee0008 counts what an older store holds, and its triggers count on."""
    from sqlalchemy import text

    migrate.upgrade(empty_db, "a7c0ffee0007")
    columns = ("account_id, region, canonical, name, parent, version, type, tier, data_type, "
               "last_modified_date, last_modified_user")
    rows = [("111122223333", "us-east-1", "a", "Standard"), ("111122223333", "us-east-1", "b", "Standard"),
            ("111122223333", "us-east-1", "c", "Advanced"), ("444455556666", "eu-west-1", "a", "Standard")]
    with empty_db.engine.begin() as conn:
        for account, region, name, tier in rows:
            conn.execute(text(f"INSERT INTO ssm_parameter ({columns}) VALUES "
                              f"('{account}', '{region}', '{name}', '{name}', '/', 1, 'String', '{tier}', "
                              "'text', 0, 'me')"))
    migrate.upgrade(empty_db)

    def counts() -> dict:
        with empty_db.engine.connect() as conn:
            return {tuple(r[:3]): r[3] for r in conn.execute(text(
                "SELECT account_id, region, resource, count FROM ps_resource_count"))}

    assert counts() == {("111122223333", "us-east-1", "ssm:Standard"): 2,
                        ("111122223333", "us-east-1", "ssm:Advanced"): 1,
                        ("444455556666", "eu-west-1", "ssm:Standard"): 1}
    with empty_db.engine.begin() as conn:
        conn.execute(text("UPDATE ssm_parameter SET tier = 'Advanced' WHERE canonical = 'a' AND region = 'us-east-1'"))
        conn.execute(text("DELETE FROM ssm_parameter WHERE region = 'eu-west-1'"))
    assert counts() == {("111122223333", "us-east-1", "ssm:Standard"): 1,
                        ("111122223333", "us-east-1", "ssm:Advanced"): 2,
                        ("444455556666", "eu-west-1", "ssm:Standard"): 0}
