"""Command-line values as the AWS CLI takes them: `--user-name U` as well as the older
positional form, documents given inline or as `file://PATH`, and values to store read from
the command line, a file or stdin."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn, Optional

import typer

from paramstore.cli.errors import fail

FILE_PREFIX = "file://"


def either(named: Optional[str], positional: Optional[str], option: str) -> Optional[str]:
    """A value given as `option` (the AWS CLI's name) or positionally (the older form), not both."""
    if named is not None and positional is not None and named != positional:
        fail(f"give {option} or the argument {positional!r}, not both")
    return named if named is not None else positional


def required(named: Optional[str], positional: Optional[str], option: str) -> str:
    """`either`, when the command can't go on without it."""
    value = either(named, positional, option)
    if value is None:
        missing(option)
    return value


def missing(*options: str) -> NoReturn:
    fail(f"missing {' and '.join(options)}")


def document(value: str) -> str:
    """A JSON document argument (a policy): `file://PATH` or inline JSON, as the AWS CLI takes
    it, or a plain path, as this CLI took it before."""
    if value.startswith(FILE_PREFIX):
        return read_text_file(Path(os.path.expanduser(value[len(FILE_PREFIX):])))
    if value.lstrip().startswith(("{", "[")):
        return value
    return read_text_file(Path(value))


def read_text_file(path: Path) -> str:
    """A file named on the command line ('-': stdin), as UTF-8 text, every byte kept; a file that
    can't be read ends the command with one line."""
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text")


def strip_one_newline(text: str) -> str:
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def read_value(named: Optional[str], positional: Optional[str], from_file: Optional[Path], raw: bool,
               option: str) -> str:
    """The value to store: `option` (the AWS CLI's name; `file://PATH` reads that file) or the
    positional VALUE, --from-file, or stdin ('-', or no value at all).

    A file and stdin are read the same way: exactly one trailing newline is dropped (so
    `echo secret | paramstore params put NAME` and a file an editor saved both store
    `secret`), and `raw` keeps every byte.  At a terminal the value is asked for without
    echo."""
    if named is not None and named.startswith(FILE_PREFIX):
        if from_file is not None:
            fail(f"give {option} file://PATH or --from-file, not both")
        from_file = Path(os.path.expanduser(named[len(FILE_PREFIX):]))
        named = None
    value = either(named, positional, option)
    if from_file is not None:
        if value is not None:
            fail("give a VALUE or --from-file, not both")
        text = read_text_file(from_file)
        return text if raw else strip_one_newline(text)
    if value is not None and value != "-":
        return value
    if value is None and sys.stdin.isatty():
        return typer.prompt("Value", hide_input=True, confirmation_prompt=True)
    text = sys.stdin.read()
    return text if raw else strip_one_newline(text)
