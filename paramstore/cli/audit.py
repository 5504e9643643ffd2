"""`paramstore audit ls` and `paramstore audit verify`."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

import paramstore.cli.output as output
from paramstore.settings import Settings

if TYPE_CHECKING:
    from kms_core.crypto.root import RootKeyring
    from kms_core.storage.session import Database

audit_app = typer.Typer(help="Read and verify the audit trail.  `ls` prints a table; --output json|table|text.",
                        no_args_is_help=True)

DATA_DIR_HELP = "Data directory (SQLite file, root key)."
DATABASE_URL_HELP = "SQLAlchemy URL, e.g. postgresql://user@host/db."


def _open_db(settings: Settings) -> Database:
    from kms_core.storage.session import Database

    if not settings.database_url and not (Path(settings.data_dir) / "paramstore.db").exists():
        typer.echo(f"paramstore: no database in {settings.data_dir}", err=True)
        raise typer.Exit(2)
    return Database(settings.resolved_database_url())


def parse_time(value: Optional[str]) -> Optional[float]:
    """An ISO 8601 time (UTC if no offset is given) or seconds since the epoch."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time or epoch seconds: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


AUDIT_COLUMNS: list[output.Column] = [
    ("SEQ", "seq"), ("TIME", "event_time_iso"),
    ("EVENT", lambda e: f"{e['event_source'].split('.')[0]}:{e['event_name']}"),
    ("PRINCIPAL", "principal_arn"), ("ACCESS KEY", "access_key_id"), ("SOURCE IP", "source_ip"),
    ("RESOURCES", "resources"), ("OUTCOME", lambda e: e["error_code"] or "OK"),
]


@audit_app.command("ls")
def audit_ls(
    ctx: typer.Context,
    since: Optional[str] = typer.Option(None, help="Only events at or after this time (ISO 8601 or epoch)."),
    until: Optional[str] = typer.Option(None, help="Only events at or before this time (ISO 8601 or epoch)."),
    principal: Optional[str] = typer.Option(None, help="Only events by this principal ARN."),
    key: Optional[str] = typer.Option(None, help="Only events touching this key (key id or key ARN)."),
    resource: Optional[str] = typer.Option(
        None, metavar="NAME-or-ARN",
        help="Only events touching this resource: an ARN (exact), or an SSM parameter name such as "
             "/myapp/prod/db-password (its parameter ARN in any region and account)."),
    event: Optional[str] = typer.Option(
        None, help="Only this event, e.g. Decrypt, or kms:Decrypt / ssm:GetParameter for one service's."),
    limit: Optional[int] = typer.Option(None, min=1, help="At most the N most recent matching events."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line (JSON Lines, for log shippers; "
                                                       "--output json prints one JSON array)."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    database_url: Optional[str] = typer.Option(None, help=DATABASE_URL_HELP),
) -> None:
    """List audit events, oldest first (a table; --output json|table|text)."""
    from kms_core.audit import query

    db = _open_db(Settings.for_place(data_dir, database_url))
    try:
        events = query(db, since=parse_time(since), until=parse_time(until), principal=principal, key=key,
                       event_name=event, limit=limit, resource=resource)
    finally:
        db.dispose()
    events = [{**e, "event_time_iso": _iso(e["event_time"])} for e in events]
    if as_json:
        for e in events:
            typer.echo(json.dumps(e, sort_keys=False, separators=(",", ":")))
        return
    output.show_list(ctx, events, AUDIT_COLUMNS)


def _root_matches(db: Database, root: RootKeyring) -> bool:
    """A wrong root key would make every mac mismatch: say so instead of "seq 1 altered"."""
    from kms_core.storage.store_meta import stored_root_check

    stored = stored_root_check(db)
    return stored is None or root.matches(stored)


@audit_app.command("verify")
def audit_verify(
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    database_url: Optional[str] = typer.Option(None, help=DATABASE_URL_HELP),
) -> None:
    """Check the hash chain; exit 1 and name the first broken link if it is not intact."""
    from kms_core.audit import verify
    from kms_core.crypto.root import RootKeyError
    from kms_core.storage import root_versions

    settings = Settings.for_place(data_dir, database_url)
    db = _open_db(settings)
    try:
        from kms_core.storage import migrate

        try:
            migrate.require_current(db)
        except migrate.SchemaOutdated as exc:
            typer.echo(f"paramstore: {exc}", err=True)
            raise typer.Exit(2) from None
        try:
            root, _ = root_versions.open_keyring(db, settings.data_dir)
        except RootKeyError as exc:
            typer.echo(f"paramstore: no root key: {exc}", err=True)
            raise typer.Exit(2) from None
        if not _root_matches(db, root):
            typer.echo(f"paramstore: the root key from {root.source} is not this store's root key", err=True)
            raise typer.Exit(2)
        result = verify(db, root)
    finally:
        db.dispose()
    typer.echo(str(result))
    if not result.ok:
        raise typer.Exit(1)
