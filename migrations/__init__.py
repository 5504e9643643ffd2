"""Alembic migrations, shipped inside the installed package so `paramstore serve` can apply them."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent
