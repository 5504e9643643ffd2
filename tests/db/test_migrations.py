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
                   "ssm_parameter_label", "ssm_parameter_tag", "ssm_service_setting"}


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
