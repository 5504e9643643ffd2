"""The `paramstore` command: one Typer sub-app per file, combined here."""

from paramstore.cli.main import app

__all__ = ["app"]
