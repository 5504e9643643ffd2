"""Apply or check Alembic migrations from code (server start-up, `paramstore db`).

Alembic is imported by the functions that use it, not with this module: a start that
migrates nothing (an ephemeral store, made from kms_core/storage/sqlite_snapshot.py) does
without it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kms_core.storage.session import Database
from migrations import MIGRATIONS_DIR

if TYPE_CHECKING:
    from alembic.config import Config


class SchemaOutdated(Exception):
    """The database is behind (or ahead of) this release's migrations."""


def alembic_config(db: Database) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(db), revision)


def downgrade(db: Database, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(db), revision)


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(db: Database) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(db)).get_current_head()


def require_current(db: Database) -> None:
    current, head = current_revision(db), head_revision(db)
    if current != head:
        raise SchemaOutdated(
            f"database schema is at revision {current or 'none'} but this release needs {head}; "
            "run `paramstore db upgrade` (or start the server without --no-migrate)")
