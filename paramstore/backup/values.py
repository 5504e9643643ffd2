"""Row values as dialect-neutral JSON (bytes as {"b64": ...}), and back as a target column
takes them: the body of a backup file is the same whichever database wrote or reads it."""

from __future__ import annotations

import base64
from typing import Any


# --- values: dialect-neutral JSON ----------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"b64": _b64(bytes(value))}
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value


def coerce(value: Any, column_type: str) -> Any:
    """A value as the target column takes it (SQLite keeps booleans as 0/1, PostgreSQL as
    booleans; a float column may have been handed an integer)."""
    if value is None:
        return None
    kind = column_type.lower()
    if "bool" in kind:
        return bool(value)
    if any(word in kind for word in ("float", "double", "real", "numeric")):
        return float(value)
    if "int" in kind and isinstance(value, bool):
        return int(value)
    return value
