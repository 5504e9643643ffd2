"""`paramstore admin init-hsm`, `rotate-root-key` and `root-key status`.

The root key (kms_core/crypto/root.py) wraps every key material and secret access key.
These commands act on the store directly, like the other admin commands; running
servers pick up a new root version on their next request that needs it and help finish
the rewrap from their sweepers.  The PKCS#11 PIN comes from PARAMSTORE_PKCS11_PIN or the
file PARAMSTORE_PKCS11_PIN_FILE names, never from the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

import paramstore.cli.output as output
from paramstore.cli.admin import DATA_DIR_HELP, DATABASE_URL_HELP, _open, admin_app

if TYPE_CHECKING:
    from kms_core.storage.session import Database
    from paramstore.bootstrap import Store

root_key_app = typer.Typer(help="The root key's versions: status and rewrap progress.", no_args_is_help=True)
admin_app.add_typer(root_key_app, name="root-key")

_OPERATOR = "paramstore:admin"


@admin_app.command("init-hsm")
def init_hsm(
    uri: str = typer.Argument(..., metavar="PKCS11_URI",
                              help="RFC 7512 URI of the key to make: pkcs11:token=<label>;object=<label>"
                                   "[?module-path=/path/to/module.so]"),
) -> None:
    """Generate a root key inside a PKCS#11 token (AES-256, sensitive, not extractable).

    Use the URI as PARAMSTORE_ROOT_KEY_URI for a new store, or as the target of
    `rotate-root-key` for an existing one."""
    from kms_core.crypto.pkcs11_root import Pkcs11Root, Pkcs11Uri, init_hsm_key
    from kms_core.crypto.root import RootKeyError

    try:
        parsed = Pkcs11Uri.parse(uri)
        init_hsm_key(parsed)
        attributes = Pkcs11Root(parsed).key_attributes()
    except RootKeyError as exc:
        typer.echo(f"paramstore: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created root key {parsed.object!r} in token {parsed.token!r} "
               f"(sensitive={attributes['sensitive']}, extractable={attributes['extractable']})")
    typer.echo(uri)


@admin_app.command("rotate-root-key")
def rotate_root_key(
    to: str = typer.Option(..., "--to", help="The new root: file[:PATH] (a new key file, made 0600 in the data "
                                            "directory unless PATH exists), env:VAR, or a pkcs11: URI."),
    wait: bool = typer.Option(True, "--wait/--no-wait",
                              help="Rewrap every value and retire the old root before exiting (the default); "
                                   "--no-wait leaves it to the servers' sweepers."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    database_url: Optional[str] = typer.Option(None, help=DATABASE_URL_HELP),
) -> None:
    """Add a root-key version: new wraps use it at once, then every wrapped value moves to it.

    Servers keep serving.  The old root is retired (refused from then on) only once no
    value needs it; until then keep it where it is.  Every step is audited."""
    from kms_core.crypto.root import RootKeyError
    from kms_core.storage import root_versions
    from kms_core.storage.root_rotation import finish_step, root_event

    store = _open(data_dir, database_url)
    try:
        _audited(store)
        try:
            step = root_versions.rotate(store.db, store.root, to, Path(store_data_dir(data_dir)), store.kms.clock(),
                                        make_event=root_event(store.kms.clock, _OPERATOR))
        except RootKeyError as exc:
            typer.echo(f"paramstore: {exc}", err=True)
            raise typer.Exit(2) from None
        store.kms.changed()
        typer.echo(f"root key version {step.version} ({step.source}) is current")
        if not wait:
            typer.echo("the servers' sweepers move the remaining values; see `paramstore admin root-key status`")
            return
        batches, cursor = 0, root_versions.RewrapCursor()
        while (step := finish_step(store.db, store.root, store.kms.clock, _OPERATOR, 500, cursor)) is not None:
            if step.stuck:
                typer.echo(f"paramstore: {step.stuck}", err=True)
                raise typer.Exit(1)
            if step.retired:
                typer.echo(f"retired root key version(s) {', '.join(map(str, step.retired))}: no value needs them")
            batches += 1
            if batches % 20 == 0:
                typer.echo(_progress(store.db))
        typer.echo(_progress(store.db))
    finally:
        store.db.dispose()


def store_data_dir(data_dir: Optional[Path]) -> Path:
    from paramstore.settings import Settings

    return data_dir if data_dir is not None else Settings().data_dir


def _audited(store: "Store") -> None:
    """The command's own changes go to the store's audit trail (chain 0)."""
    from kms_core.audit import AuditLog

    if store.db.audit_log is None:
        store.db.audit_log = AuditLog(store.db, store.root, store.kms.clock)


def _progress(db: "Database") -> str:
    from kms_core.storage import root_versions

    with db.read_engine.connect() as conn:
        stored = root_versions.read_versions(conn)
    per = root_versions.counts(db)
    total = sum(n for column in per.values() for n in column.values())
    current = sum(column.get(stored.current, 0) for column in per.values())
    return f"rewrap: {current} of {total} values under version {stored.current} ({_percent(current, total)})"


def _percent(done: int, total: int) -> str:
    return "100%" if total == 0 else f"{100 * done // total}%"


ROOT_VERSION_COLUMNS: list[output.Column] = [
    ("VERSION", "version"), ("CURRENT", "current"), ("KIND", "kind"), ("WHERE", "where"), ("STATE", "state"),
    ("CREATED", lambda r: output.when(r["created_at"])), ("VALUES", "total"),
]


@root_key_app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (--output json)."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    database_url: Optional[str] = typer.Option(None, help=DATABASE_URL_HELP),
) -> None:
    """The root versions, where each lives, its state, and how many values each wraps; the rewrap's progress."""
    from kms_core.storage import root_versions

    store = _open(data_dir, database_url)
    try:
        with store.db.read_engine.connect() as conn:
            stored = root_versions.read_versions(conn)
        per = root_versions.counts(store.db)
    finally:
        store.db.dispose()
    versions = sorted(set(stored.records) | {stored.current} | {v for c in per.values() for v in c})
    records = {**{1: {"kind": "legacy", "state": "active"}}, **stored.records}
    rows = []
    for version in versions:
        record = records.get(version, {})
        values = {column: counted.get(version, 0) for column, counted in per.items()}
        rows.append({"version": version, "current": version == stored.current, "kind": record.get("kind"),
                     "where": root_versions.where(record), "state": record.get("state", "active"),
                     "created_at": record.get("created_at"), "retired_at": record.get("retired_at"),
                     "values": values, "total": sum(values.values())})
    total = sum(r["total"] for r in rows)
    done = next((r["total"] for r in rows if r["current"]), 0)
    fmt = output.for_records(ctx, as_json)
    output.show_list(ctx, rows, ROOT_VERSION_COLUMNS, fmt=fmt,
                     document={"current": stored.current, "versions": rows, "values": total, "under_current": done,
                               "rewrap_complete": done == total})
    if fmt is output.OutputFormat.table:
        typer.echo(f"rewrap: {done} of {total} values under the current version ({_percent(done, total)})")
