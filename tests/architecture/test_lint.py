"""Lint and types run with the tests (and so in CI): ruff over the whole tree, as
configured in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys

from tests.architecture.imports import ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    done = run("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr
