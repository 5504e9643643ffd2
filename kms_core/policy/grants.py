"""Grants: matching a request against a key's grants (to be completed)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session


def load_grants(session: Session, key_id: str) -> tuple:
    return ()


def grants_allow(ctx: Any, action: str, entry: Any, facts: Any) -> bool:
    return False
