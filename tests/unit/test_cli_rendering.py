"""How the CLI lays records out (paramstore/cli/output.py), without a server."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from paramstore.cli import output
from paramstore.cli.output import OutputFormat

COLUMNS = [("NAME", "Name"), ("LABELS", "Labels"), ("WHEN", "At"), ("VALUE", lambda r: r.get("Value"))]
RECORDS = [
    {"Name": "/a", "Labels": ["x", "y"], "At": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "Value": "v  "},
    {"Name": "/longer-name", "Labels": [], "At": None, "Value": "two\nlines\tand tab"},
]


def shown(capsys, show, records, fmt: OutputFormat, **kwargs) -> str:
    show(None, records, COLUMNS, fmt=fmt, **kwargs)
    return capsys.readouterr().out


def test_a_table_has_a_header_aligned_columns_and_a_dash_for_nothing(capsys):
    assert shown(capsys, output.show_list, RECORDS, OutputFormat.table).splitlines() == [
        "NAME          LABELS  WHEN                  VALUE",
        "/a            x,y     2025-01-02T03:04:05Z  v  ",  # the last column keeps its own spaces
        '/longer-name  -       -                     "two\\nlines\\tand tab"',
    ]


def test_text_is_one_tab_separated_line_per_record_with_no_header(capsys):
    assert shown(capsys, output.show_list, RECORDS, OutputFormat.text).splitlines() == [
        "/a\tx,y\t2025-01-02T03:04:05Z\tv  ",
        '/longer-name\t\t\t"two\\nlines\\tand tab"',
    ]


def test_json_is_the_records_or_the_document(capsys):
    printed = shown(capsys, output.show_list, RECORDS, OutputFormat.json)
    assert json.loads(printed)[0]["At"] == "2025-01-02T03:04:05Z" and printed.startswith("[\n  {")
    assert json.loads(shown(capsys, output.show_list, RECORDS, OutputFormat.json, document={"n": 2})) == {"n": 2}
    assert json.loads(shown(capsys, output.show_one, RECORDS[0], OutputFormat.json))["Name"] == "/a"


def test_a_single_record_is_one_header_and_value_line_per_field(capsys):
    assert shown(capsys, output.show_one, RECORDS[0], OutputFormat.table).splitlines() == [
        "NAME    /a", "LABELS  x,y", "WHEN    2025-01-02T03:04:05Z", "VALUE   v  "]
    assert shown(capsys, output.show_one, RECORDS[0], OutputFormat.text) == "/a\tx,y\t2025-01-02T03:04:05Z\tv  \n"


@pytest.mark.parametrize(("value", "expected"), [(1767322800, "2026-01-02T03:00:00Z"), (None, ""), ("as is", "as is")])
def test_times_are_iso_utc(value, expected):
    assert output.when(value) == expected
