"""`paramstore admin ...`: operator commands acting directly on the data store.

They are for whoever holds the data directory (or database URL) and the root key: no
server or credentials are involved.  Each opens the store the way `paramstore serve` does
(migrations, root-key check, and the first-start bootstrap of PARAMSTORE_ACCOUNT_ID on a new
store), does its work in one write transaction, and exits.  A running server on the same
database sees the change on its next request.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

import paramstore.cli.output as output
from paramstore.settings import Settings

if TYPE_CHECKING:
    from paramstore.bootstrap import Store

admin_app = typer.Typer(help="Operator commands on the data store (needs the data directory and root key).",
                        no_args_is_help=True)

DATA_DIR_HELP = "Data directory (SQLite file, root key)."
DATABASE_URL_HELP = "SQLAlchemy URL, e.g. postgresql://user@host/db."


def _open(data_dir: Optional[Path], database_url: Optional[str]) -> Store:
    from paramstore.bootstrap import StartupError, open_store

    settings = Settings.for_place(data_dir, database_url)
    settings.seed_file = None  # only `admin seed` applies a seed file, explicitly
    try:
        return open_store(settings)
    except StartupError as exc:
        typer.echo(f"paramstore: cannot open the store: {exc}", err=True)
        raise typer.Exit(2) from None


@admin_app.command("create-account")
def create_account(
    ctx: typer.Context,
    account_id: str = typer.Argument(..., metavar="ID", help="The new account's id: 12 digits."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    database_url: Optional[str] = typer.Option(None, help=DATABASE_URL_HELP),
) -> None:
    """Create an account and a root access key; print the key as a credentials-file profile.

    The output is AWS shared-credentials format, a profile named after the account, ready to
    append to ~/.aws/credentials (with --output, the record instead).  An existing account is
    an error (exit 1)."""
    if not re.fullmatch(r"\d{12}", account_id, re.ASCII):
        typer.echo(f"paramstore: an account id is 12 digits, not {account_id!r}", err=True)
        raise typer.Exit(1)
    store = _open(data_dir, database_url)
    try:
        identities = store.kms.identities
        with store.db.write() as session:
            if identities.account_exists(session, account_id):
                typer.echo(f"paramstore: account {account_id} already exists", err=True)
                raise typer.Exit(1)
            now = store.kms.clock()
            identities.create_account(session, account_id, now)
            session.flush()
            access_key_id, secret = identities.add_access_key(session, account_id, now)
        store.kms.changed()
    finally:
        store.db.dispose()
    if output.requested(ctx) is not None:
        output.show_one(ctx, {"AccountId": account_id, "AccessKeyId": access_key_id, "SecretAccessKey": secret},
                        [("ACCOUNT", "AccountId"), ("ACCESS KEY ID", "AccessKeyId"),
                         ("SECRET ACCESS KEY", "SecretAccessKey")])
        return
    typer.echo(f"[{account_id}]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret}")


@admin_app.command("seed")
def seed(
    file: Path = typer.Argument(..., metavar="FILE", help="The YAML seed file."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    database_url: Optional[str] = typer.Option(None, help=DATABASE_URL_HELP),
) -> None:
    """Apply a YAML seed file to the store (idempotent).

    Accounts, access keys, users, roles, policies, keys with fixed ids and aliases; see
    paramstore/seed.py for the format.  Re-applying the same file changes nothing."""
    from paramstore.seed import SeedError, apply_seed, load_seed

    try:
        parsed = load_seed(file)  # a bad file fails before the store is touched
    except SeedError as exc:
        typer.echo(f"paramstore: seed file {file}: {exc}", err=True)
        raise typer.Exit(1) from None
    store = _open(data_dir, database_url)
    try:
        report = apply_seed(store, parsed)
    except SeedError as exc:
        typer.echo(f"paramstore: seed file {file}: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.db.dispose()
    for line in report.created:
        typer.echo(f"created {line}")
    for line in report.updated:
        typer.echo(f"updated {line}")
    typer.echo(f"seed file {file} applied: {report.summary()}")


@admin_app.command("dev-cert")
def dev_cert(
    directory: Path = typer.Argument(..., metavar="DIR", help="Where to write ca.pem, server.pem, server-key.pem, "
                                                               "client.pem and client-key.pem."),
    host: list[str] = typer.Option(["localhost", "127.0.0.1", "::1"], "--host",
                                   help="A name or address the server certificate is for (repeatable)."),
) -> None:
    """Make a local CA and a server certificate signed by it, for HTTPS in development.

    Serve with --tls-cert DIR/server.pem --tls-key DIR/server-key.pem and point clients at
    the CA: AWS_CA_BUNDLE=DIR/ca.pem.  DIR/client.pem and client-key.pem are for trying
    mutual TLS (--tls-client-ca DIR/ca.pem).  Not for production certificates."""
    from paramstore.tls import make_dev_cert

    files = make_dev_cert(directory, tuple(host))
    typer.echo(f"paramstore serve --tls-cert {files['cert']} --tls-key {files['key']}")
    typer.echo(f"export AWS_CA_BUNDLE={files['ca']}")
