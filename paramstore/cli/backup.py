"""`paramstore admin backup FILE` and `paramstore admin restore FILE` (paramstore/backup/).

Both act on the store's database directly, with servers running: backup reads one
consistent snapshot and writes nothing to the store; restore goes only into an empty
data dir or database and checks the result before it says it worked."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from paramstore.cli.admin import DATA_DIR_HELP, DATABASE_URL_HELP, admin_app
from paramstore.settings import Settings

PASSPHRASE_FILE_HELP = ("File whose first line is the passphrase sealing the root key "
                        "(else $PARAMSTORE_BACKUP_PASSPHRASE).")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"paramstore: {message}", err=True)
    return typer.Exit(1)


@admin_app.command("backup")
def backup(
    file: Path = typer.Argument(..., metavar="FILE", help="The backup file to write (replaced atomically)."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    database_url: Optional[str] = typer.Option(None, help=DATABASE_URL_HELP),
    include_root_key: bool = typer.Option(False, "--include-root-key",
                                          help="Put the root key in the file, sealed under a passphrase."),
    passphrase_file: Optional[Path] = typer.Option(None, help=PASSPHRASE_FILE_HELP),
) -> None:
    """Write a consistent snapshot of the whole store (and its audit trail) to FILE.

    Safe while servers are serving and writing.  The file is portable between SQLite and
    PostgreSQL and authenticated with the root key; it holds the root key only with
    --include-root-key (sealed under a passphrase)."""
    from kms_core.crypto.root import RootKeyError
    from paramstore import backup as backups
    from paramstore import preflight

    settings = Settings.for_place(data_dir, database_url)
    try:
        marker = preflight.read_marker(settings.data_dir)
        root = backups.store_keyring(settings.data_dir, settings.resolved_database_url(), settings.db_timeout_seconds)
        passphrase = backups.read_passphrase(passphrase_file) if include_root_key else None
        result = backups.write_backup(file, settings.resolved_database_url(), root, marker,
                                      settings.db_timeout_seconds, passphrase, include_root_key)
    except (backups.BackupError, RootKeyError, preflight.StartupError) as exc:
        raise _fail(f"backup failed: {exc}") from None
    total = sum(result.counts.values())
    typer.echo(f"backup of store {result.store_id} written to {result.path}: {total} rows in "
               f"{len(result.counts)} tables" + (", root key included (sealed)" if result.root_key_included else ""))


@admin_app.command("restore")
def restore(
    file: Path = typer.Argument(..., metavar="FILE", help="A file `paramstore admin backup` wrote."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    database_url: Optional[str] = typer.Option(None, help=DATABASE_URL_HELP),
    passphrase_file: Optional[Path] = typer.Option(None, help=PASSPHRASE_FILE_HELP),
) -> None:
    """Restore a backup into an EMPTY data dir or database, then verify it.

    The root key comes from the data dir's root.key, $PARAMSTORE_ROOT_KEY, or the backup
    itself (if made with --include-root-key; then the passphrase is needed).  A damaged or
    altered file, or a target that already holds a store, is refused and nothing is
    written.  Exit 1 if the restored store does not verify."""
    from paramstore import backup as backups
    from paramstore import preflight

    settings = Settings.for_place(data_dir, database_url)
    url = settings.resolved_database_url()
    try:
        preflight.check_url(url)
        found = backups.read_backup(file)
        root, key_to_write = backups.root_for_restore(found, settings.data_dir,
                                                      backups.read_passphrase(passphrase_file))
        found.authenticate(root)
        backups.refuse_non_empty_target(settings.data_dir, url)
    except (backups.BackupError, preflight.StartupError) as exc:
        raise _fail(f"restore refused: {exc}") from None
    settings.create_data_dir()
    try:
        counts = backups.restore_rows(found, url, root, settings.db_timeout_seconds)
    except backups.BackupError as exc:
        raise _fail(f"restore failed: {exc}") from None
    if key_to_write is not None:
        backups.write_root_key_file(*key_to_write)
    backups.write_marker(settings.data_dir, found, url)
    for table, count in sorted(counts.items()):
        typer.echo(f"  {table}: {count} rows")
    check = backups.verify_restored(settings.data_dir, url, settings.db_timeout_seconds)
    typer.echo(f"root key check value: {'matches' if check.root_key_matches else 'DOES NOT MATCH'}")
    typer.echo(check.audit)
    typer.echo(f"root-sealed values: {check.wrapped_opened} open" +
               (f", {len(check.wrapped_failed)} DO NOT OPEN" if check.wrapped_failed else ""))
    if not check.ok:
        raise _fail(f"the restored store {found.header['store_id']} did not verify; do not use it")
    typer.echo(f"store {found.header['store_id']} restored from {file} ({found.header.get('source_dialect')}) "
               "and verified")
