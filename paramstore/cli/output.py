"""How commands print what they found, chosen with --output like the AWS CLI's: a table for
people (the default), `json` for programs, `text` (tab-separated, no header) for cut and awk.

--output is taken before or after the subcommand (the root command hoists it, cli/main.py).
json is the records as the AWS API names their fields (a listing is a JSON array of them,
a single result one object), indented by 2: the stable form that scripts should read.
PARAMSTORE_OUTPUT replaces the table as the default; a command whose default is made for a
shell rather than a table (`params get` prints the value alone, `iam assume-role` export
lines, `params put` and the deletes a sentence) keeps it unless --output is on the line.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import typer

from paramstore.cli.errors import fail

#: the options every command takes before or after its subcommand (see endpoints.hoist_options)
GLOBAL_OPTIONS = ("--output",)
DEFAULT_VARIABLE = "PARAMSTORE_OUTPUT"
_CHOSEN = "paramstore.output"  # where the root command leaves --output (click's meta, shared by subcommands)


class OutputFormat(str, Enum):
    json = "json"
    table = "table"
    text = "text"


#: (header, field name or a function of the record) for one column of a table or text line
Column = tuple[str, Union[str, Callable[[Mapping[str, Any]], Any]]]


def choose(ctx: typer.Context, given: Optional[OutputFormat]) -> None:
    """Keep --output, as given on the command line, for the subcommand (click's meta is shared
    by every context of one command line)."""
    ctx.meta[_CHOSEN] = given


def requested(ctx: typer.Context) -> Optional[OutputFormat]:
    """--output as given on the command line, or None."""
    return ctx.meta.get(_CHOSEN)


def for_records(ctx: typer.Context, as_json: bool = False) -> OutputFormat:
    """The format for a listing or record: --json or --output, else $PARAMSTORE_OUTPUT, else a table."""
    if as_json:
        return OutputFormat.json
    given = requested(ctx)
    if given is not None:
        return given
    default = os.environ.get(DEFAULT_VARIABLE, "").strip()
    try:
        return OutputFormat(default) if default else OutputFormat.table
    except ValueError:
        fail(f"{DEFAULT_VARIABLE} is json, table or text, not {default!r}")


def show_list(ctx: typer.Context, records: Sequence[Mapping[str, Any]], columns: Sequence[Column], *,
              document: Any = None, fmt: Optional[OutputFormat] = None) -> None:
    """A listing: a table with a header row, a JSON array (or `document`), or one text line per record."""
    fmt = fmt or for_records(ctx)
    if fmt is OutputFormat.json:
        _print_json(list(records) if document is None else document)
        return
    rows = [[_cell(_value(record, source), fmt) for _, source in columns] for record in records]
    if fmt is OutputFormat.text:
        for row in rows:
            typer.echo("\t".join(row))
        return
    _aligned([[header for header, _ in columns]] + rows)


def show_one(ctx: typer.Context, record: Mapping[str, Any], columns: Sequence[Column], *,
             fmt: Optional[OutputFormat] = None) -> None:
    """A single record: one `HEADER  value` line per column, the JSON object, or one text line."""
    fmt = fmt or for_records(ctx)
    if fmt is OutputFormat.json:
        _print_json(record)
    elif fmt is OutputFormat.text:
        typer.echo("\t".join(_cell(_value(record, source), fmt) for _, source in columns))
    else:
        _aligned([[header, _cell(_value(record, source), fmt)] for header, source in columns])


def tell(ctx: typer.Context, message: str) -> None:
    """A sentence for people ("deleted user app"); --output json or text prints nothing instead, as
    the AWS CLI does for a command that returns no record."""
    if requested(ctx) not in (OutputFormat.json, OutputFormat.text):
        typer.echo(message)


def when(value: Any) -> str:
    """A time as ISO 8601 UTC to the second (datetimes, and epoch seconds from the store)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "" if value is None else str(value)


def _print_json(value: Any) -> None:
    """Indented by 2, times as ISO 8601 UTC, non-ASCII as it is."""
    typer.echo(json.dumps(value, indent=2, default=lambda v: when(v) if isinstance(v, datetime) else str(v),
                          ensure_ascii=False))


def _value(record: Mapping[str, Any], source: Union[str, Callable[[Mapping[str, Any]], Any]]) -> Any:
    return record.get(source) if isinstance(source, str) else source(record)


def _cell(value: Any, fmt: OutputFormat) -> str:
    """One value on one line: a table shows a missing one as '-' so that columns stay apart."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        text = when(value)
    elif isinstance(value, (list, tuple)):
        text = ",".join(_cell(item, OutputFormat.text) for item in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = "" if value is None else str(value)
    if fmt is OutputFormat.table and text == "":
        return "-"
    return _one_line(text)


def _one_line(value: str) -> str:
    """A value in a table cell or text field: JSON-quoted when it holds anything that would break the row."""
    if any(ch.isspace() and ch != " " or not ch.isprintable() for ch in value):
        return json.dumps(value, ensure_ascii=False)
    return value


def _aligned(rows: list[list[str]]) -> None:
    """Columns two spaces apart; the last is not padded, so a value keeps its own trailing spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        typer.echo("  ".join([cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]))
