"""Apply or check Alembic migrations from code (server start-up, `paramstore db`)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from kms_core.storage.session import Database
from migrations import MIGRATIONS_DIR


class SchemaOutdated(Exception):
    """The database is behind (or ahead of) this release's migrations."""


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    command.upgrade(alembic_config(db), revision)


def downgrade(db: Database, revision: str) -> None:
    command.downgrade(alembic_config(db), revision)


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(db: Database) -> str | None:
    return ScriptDirectory.from_config(alembic_config(db)).get_current_head()


def require_current(db: Database) -> None:
    current, head = current_revision(db), head_revision(db)
    if current != head:
        raise SchemaOutdated(
            f"database schema is at revision {current or 'none'} but this release needs {head}; "
            "run `paramstore db upgrade` (or start the server without --no-migrate)")
