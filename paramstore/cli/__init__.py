"""The `paramstore` command: one Typer sub-app per file, combined here.

Its modules import each other by their full names (`import paramstore.cli.output as output`),
never `from paramstore.cli import ...`: this package imports cli.main, which imports them, and
the architecture tests refuse the cycle that would make."""

from paramstore.cli.main import app

__all__ = ["app"]
