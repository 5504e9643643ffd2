"""`paramstore serve` and `paramstore db ...`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from typer.core import TyperGroup

import paramstore.cli.errors as errors
import paramstore.cli.output as output
from paramstore.cli.endpoints import hoist_options
from paramstore.cli.iam import iam_app
from paramstore.settings import Settings

if TYPE_CHECKING:
    from kms_core.storage.session import Database


class _Paramstore(TyperGroup):
    """The root command: --output is taken anywhere on the line (up to a `--`), and a failure
    no command reported itself (an AWS error, no connection...) still ends as one line."""

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]  # click's own untyped signature
        return super().parse_args(ctx, hoist_options(list(args), output.GLOBAL_OPTIONS))

    def invoke(self, ctx):  # type: ignore[no-untyped-def]  # click's own untyped signature
        with errors.reported(ctx):
            return super().invoke(ctx)


# one line per paragraph: this typer keeps a docstring's line breaks in --help
_HELP = "\n\n".join((
    "Self-hosted AWS KMS, SSM Parameter Store and Secrets Manager.",
    "A command that fails prints one line, `paramstore: ...`, on stderr, and exits 1 when the server refused "
    "(an AWS error: `paramstore: Code: message`) or 2 when there was no answer (bad arguments or files, no "
    "credentials, no connection, TLS).",
))
app = typer.Typer(help=_HELP, no_args_is_help=True, cls=_Paramstore)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(iam_app, name="iam")
app.add_typer(__import__("paramstore.cli.audit", fromlist=["audit_app"]).audit_app, name="audit")
# the root-key and backup commands are modules of their own that register on admin_app
for _module in ("paramstore.cli.root_key", "paramstore.cli.backup"):
    __import__(_module)
app.add_typer(__import__("paramstore.cli.admin", fromlist=["admin_app"]).admin_app, name="admin")
app.add_typer(__import__("paramstore.cli.params", fromlist=["params_app"]).params_app, name="params")
app.add_typer(__import__("paramstore.cli.secrets", fromlist=["secrets_app"]).secrets_app, name="secrets")


def _print_version(value: bool) -> None:
    if value:
        from paramstore import __version__

        typer.echo(f"paramstore {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
    output_format: Optional[output.OutputFormat] = typer.Option(
        None, "--output", show_default=False,
        help="table (the default), json (the AWS API's records, for scripts) or text (tab-separated, for cut "
             "and awk); before or after the subcommand.  $PARAMSTORE_OUTPUT sets the default."),
) -> None:
    """Self-hosted AWS KMS and SSM Parameter Store (help: _HELP)."""
    output.choose(ctx, output_format)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    data_dir: Optional[Path] = typer.Option(None, help="Data directory (SQLite file, root key, credentials)."),
    database_url: Optional[str] = typer.Option(None, help="SQLAlchemy URL, e.g. postgresql://user@host/db."),
    migrate: bool = typer.Option(True, help="Apply database migrations at start (else refuse an old schema)."),
    log_level: str = typer.Option("info", help="Log level."),
    access_log: bool = typer.Option(False, help="Log every HTTP request."),
    seed: Optional[Path] = typer.Option(None, envvar="PARAMSTORE_SEED_FILE",
                                        help="YAML seed file applied at start (accounts, users, keys, ...)."),
    ephemeral: bool = typer.Option(
        False, help="A throwaway store in a temporary directory, removed on exit, with a random root key; "
                    "prints the endpoint and credentials as export lines (docs/testing-apps.md)."),
    debug: bool = typer.Option(False, help="On a refused start, print the traceback under the one-line reason."),
    db_timeout: Optional[float] = typer.Option(
        None, envvar="PARAMSTORE_DB_TIMEOUT", min=0.1,
        help="Seconds a database statement may wait (locks, a stalled database) before a retryable error."),
    shutdown_grace: Optional[float] = typer.Option(
        None, envvar="PARAMSTORE_SHUTDOWN_GRACE", min=0,
        help="On SIGTERM, seconds in-flight requests get to finish before the server exits (default 30)."),
    tls_cert: Optional[Path] = typer.Option(
        None, envvar="PARAMSTORE_TLS_CERT", help="Serve HTTPS with this certificate chain (PEM); needs --tls-key."),
    tls_key: Optional[Path] = typer.Option(
        None, envvar="PARAMSTORE_TLS_KEY", help="The certificate's private key (PEM)."),
    tls_client_ca: Optional[Path] = typer.Option(
        None, envvar="PARAMSTORE_TLS_CLIENT_CA",
        help="Mutual TLS: clients must present a certificate signed by this CA (PEM)."),
    workers: int = typer.Option(
        1, envvar="PARAMSTORE_WORKERS", min=1, max=64,
        help="Server processes sharing the port (default 1; see docs/performance.md, Workers, before raising it)."),
    rotation_targets: Optional[Path] = typer.Option(
        None, "--rotation-targets", envvar="PARAMSTORE_ROTATION_TARGETS",
        help="JSON file of Secrets Manager rotation targets (webhooks, generators) a RotationLambdaARN may name."),
    throttle: Optional[bool] = typer.Option(
        None, "--throttle/--no-throttle",
        help="Enforce AWS's default request quotas per account and Region (ThrottlingException \"Rate exceeded\"); "
             "off by default, PARAMSTORE_THROTTLE=on.  See docs/operations.md, Throttling."),
    quota: Optional[list[str]] = typer.Option(
        None, "--quota", metavar="NAME=RATE",
        help="Set one quota, in requests per second (repeatable; e.g. ssm:reads=5, kms:crypto-symmetric=100, "
             "kms:CreateKey=1); turns throttling on.  PARAMSTORE_QUOTAS takes NAME=RATE,NAME=RATE."),
    metrics: Optional[bool] = typer.Option(
        None, "--metrics/--no-metrics", help="Prometheus metrics (default on; PARAMSTORE_METRICS=off)."),
    metrics_port: Optional[int] = typer.Option(
        None, envvar="PARAMSTORE_METRICS_PORT", min=1, max=65535,
        help="Serve /metrics on this port (same --host) instead of the main port."),
) -> None:
    """Run the server."""
    from paramstore.bootstrap import StartupError
    from paramstore.server import run

    settings = Settings(host=host, port=port, migrate=migrate, log_level=log_level, access_log=access_log,
                        workers=workers)
    if data_dir is not None:
        settings.data_dir = data_dir
    if database_url is not None:
        settings.database_url = database_url
    if seed is not None:
        settings.seed_file = seed
    if db_timeout is not None:
        settings.db_timeout_seconds = db_timeout
    if shutdown_grace is not None:
        settings.shutdown_grace_seconds = shutdown_grace
    settings.tls_cert, settings.tls_key = tls_cert or settings.tls_cert, tls_key or settings.tls_key
    settings.tls_client_ca = tls_client_ca or settings.tls_client_ca
    if rotation_targets is not None:
        settings.rotation_targets = rotation_targets
    if throttle is not None:
        settings.throttle = throttle
        if not throttle:  # off means off, whatever PARAMSTORE_QUOTAS says
            settings.quotas = ""
    if quota:
        settings.quotas = ",".join(filter(None, [settings.quotas, *quota]))
    if metrics is not None:
        settings.metrics = metrics
    if metrics_port is not None:
        settings.metrics_port = metrics_port
    try:
        if ephemeral:
            if data_dir is not None or database_url is not None:
                raise StartupError("--ephemeral makes its own store in a temporary directory; "
                                   "drop --data-dir and --database-url")
            from paramstore.ephemeral import serve as serve_ephemeral

            serve_ephemeral(settings)
        else:
            run(settings)
    except StartupError as exc:
        if debug:
            import traceback

            traceback.print_exception(exc)
        typer.echo(f"paramstore: cannot start: {exc}", err=True)
        raise typer.Exit(2) from None


def _db(data_dir: Optional[Path], database_url: Optional[str]) -> Database:
    from kms_core.storage.session import Database

    settings = Settings.for_place(data_dir, database_url)
    settings.create_data_dir()
    return Database(settings.resolved_database_url())


@db_app.command("upgrade")
def db_upgrade(data_dir: Optional[Path] = typer.Option(None), database_url: Optional[str] = typer.Option(None),
               revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from kms_core.storage import migrate

    db = _db(data_dir, database_url)
    migrate.upgrade(db, revision)
    typer.echo(f"database at revision {migrate.current_revision(db)}")


@db_app.command("downgrade")
def db_downgrade(revision: str, data_dir: Optional[Path] = typer.Option(None),
                 database_url: Optional[str] = typer.Option(None)) -> None:
    """Revert migrations down to REVISION."""
    from kms_core.storage import migrate

    db = _db(data_dir, database_url)
    migrate.downgrade(db, revision)
    typer.echo(f"database at revision {migrate.current_revision(db)}")


@db_app.command("current")
def db_current(data_dir: Optional[Path] = typer.Option(None), database_url: Optional[str] = typer.Option(None)) -> None:
    """Show the schema revision and whether it is current."""
    from kms_core.storage import migrate

    db = _db(data_dir, database_url)
    current, head = migrate.current_revision(db), migrate.head_revision(db)
    typer.echo(f"current: {current or 'none'}  head: {head}" + ("" if current == head else "  (outdated)"))
