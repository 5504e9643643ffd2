"""Lint and types run with the tests (and so in CI), as configured in pyproject.toml: ruff
over the whole tree, mypy --strict over domain, engine, crypto and policy."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.architecture.imports import ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    done = run("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_finds_nothing():
    done = run("mypy", "--no-incremental", "--cache-dir", os.devnull)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_type_ignore_says_why():
    """A type-ignore comment (with its [code]) must be followed by a comment giving its reason, so the
    next reader can tell a checker's blind spot from a bug being hidden."""
    import re
    from pathlib import Path

    bare = []
    pattern = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?(?P<rest>.*)$")
    for folder in ("kms_core", "paramstore", "migrations", "tools", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                found = pattern.search(line)
                if found and not found.group("rest").strip().startswith("#"):
                    bare.append(f"{path.relative_to(ROOT)}:{number}")
    assert bare == [], bare
