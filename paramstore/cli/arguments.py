"""Command-line values as the AWS CLI takes them: `--user-name U` as well as the older
positional form, and documents given inline or as `file://PATH`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn, Optional

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
