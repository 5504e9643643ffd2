"""Alembic environment: one shared MetaData for both services, batch mode for SQLite."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from kms_core.storage.metadata import metadata
import kms_core.storage.tables  # noqa: F401  (register the KMS tables)
import paramstore.ssm.storage.tables  # noqa: F401  (register the Parameter Store tables)
import paramstore.secrets.storage.tables  # noqa: F401  (register the Secrets Manager tables)
from kms_core.storage.session import Database

config = context.config
target_metadata = metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    db = Database(config.get_main_option("sqlalchemy.url"))
    try:
        with db.engine.connect() as connection:
            _run(connection)
    finally:
        db.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several servers may start at once against one database: one migrates, the
            # others wait here and then find nothing left to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(7251001)"))
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
