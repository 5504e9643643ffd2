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
