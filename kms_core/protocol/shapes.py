"""Compile botocore input shapes into fast validators with AWS's error wording.

Each operation's input shape is compiled once, at import, into a closure tree.  At request
time the validator type-checks the JSON (wrong JSON types -> SerializationException),
decodes base64 blobs, and collects constraint failures into one ValidationException worded
as AWS (Coral) words it:

    1 validation error detected: Value 'x' at 'keyId' failed to satisfy constraint:
    Member must have length less than or equal to 2048

Sensitive members (plaintexts, secrets) and blobs are never echoed in messages.
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode
from typing import Any, Callable

from kms_core.domain.errors import SerializationException, ValidationException, validation_message

Checker = Callable[[Any, str, list], Any]


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _shown(value: Any, spec: dict) -> str:
    if spec.get("sensitive") or spec["type"] == "blob":
        return "Value"
    if isinstance(value, (list, dict)):
        return "Value '" + _brief(value) + "'"
    return f"Value '{value}'"


def _brief(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 256 else text[:256] + "..."


def _type_error(kind: str, path: str) -> SerializationException:
    return SerializationException(f"Unexpected value type at '{path}': expected {kind}")


def _length_checks(spec: dict, measure: Callable[[Any], int]) -> Callable[[Any, str, list], None]:
    lo, hi = spec.get("min"), spec.get("max")
    noun = "length" if spec["type"] in ("string", "blob") else "length"

    def check(value: Any, path: str, errors: list) -> None:
        n = measure(value)
        if lo is not None and n < lo:
            errors.append(f"{_shown(value, spec)} at '{path}' failed to satisfy constraint: "
                          f"Member must have {noun} greater than or equal to {lo}")
        elif hi is not None and n > hi:
            errors.append(f"{_shown(value, spec)} at '{path}' failed to satisfy constraint: "
                          f"Member must have {noun} less than or equal to {hi}")

    return check


def _compile(spec: dict) -> Checker:
    kind = spec["type"]
    if kind == "string":
        return _compile_string(spec)
    if kind == "blob":
        return _compile_blob(spec)
    if kind in ("integer", "long"):
        return _compile_integer(spec)
    if kind == "boolean":
        def check_bool(value: Any, path: str, errors: list) -> Any:
            if not isinstance(value, bool):
                raise _type_error("boolean", path)
            return value
        return check_bool
    if kind == "timestamp":
        def check_ts(value: Any, path: str, errors: list) -> Any:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _type_error("timestamp (epoch seconds)", path)
            try:
                return float(value)
            except OverflowError:  # an integer literal beyond any double (10**400)
                raise _type_error("timestamp (epoch seconds)", path) from None
        return check_ts
    if kind == "list":
        return _compile_list(spec)
    if kind == "map":
        return _compile_map(spec)
    if kind == "structure":
        return _compile_structure(spec)
    raise ValueError(f"unsupported shape type {kind}")


def _compile_model_pattern(pattern: str) -> Any:  # a re.Pattern, or a regex.Pattern (regex ships no types)
    """Model patterns are Java regexes; Unicode classes (\\p{L}, SSM tags) need `regex`."""
    if "\\p{" in pattern:
        import regex

        return regex.compile(pattern)
    return re.compile(pattern)


def _compile_string(spec: dict) -> Checker:
    length = _length_checks(spec, len) if ("min" in spec or "max" in spec) else None
    enum = frozenset(spec["enum"]) if "enum" in spec else None
    enum_text = "[" + ", ".join(spec["enum"]) + "]" if enum else ""
    pattern = _compile_model_pattern(spec["pattern"]) if "pattern" in spec else None
    pattern_text = spec.get("pattern", "")

    def check(value: Any, path: str, errors: list) -> Any:
        if not isinstance(value, str):
            raise _type_error("string", path)
        if not value.isascii():
            _require_utf8(value, path)
        if "\x00" in value:
            # PostgreSQL text can't hold NUL; refuse it everywhere so both backends agree.
            errors.append(f"Value at '{path}' failed to satisfy constraint: "
                          "Member must not contain the NUL character")
            return value
        before = len(errors)
        if length is not None:
            length(value, path, errors)
        if enum is not None and value not in enum:
            errors.append(f"{_shown(value, spec)} at '{path}' failed to satisfy constraint: "
                          f"Member must satisfy enum value set: {enum_text}")
        elif pattern is not None and len(errors) == before and not pattern.fullmatch(value):
            errors.append(f"{_shown(value, spec)} at '{path}' failed to satisfy constraint: "
                          f"Member must satisfy regular expression pattern: {pattern_text}")
        return value

    return check


def _require_utf8(value: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape such as "\udfff"
        raise SerializationException(f"Invalid UTF-8 (unpaired surrogate) in '{path}'") from None


def _compile_blob(spec: dict) -> Checker:
    length = _length_checks(spec, len) if ("min" in spec or "max" in spec) else None

    def check(value: Any, path: str, errors: list) -> Any:
        if not isinstance(value, str):
            raise _type_error("base64-encoded blob", path)
        try:
            raw = b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SerializationException(f"Invalid base64 in '{path}'") from None
        if length is not None:
            length(raw, path, errors)
        return raw

    return check


def _compile_integer(spec: dict) -> Checker:
    lo, hi = spec.get("min"), spec.get("max")

    def check(value: Any, path: str, errors: list) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise _type_error("integer", path)
        if lo is not None and value < lo:
            errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: "
                          f"Member must have value greater than or equal to {lo}")
        elif hi is not None and value > hi:
            errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: "
                          f"Member must have value less than or equal to {hi}")
        return value

    return check


def _compile_list(spec: dict) -> Checker:
    member = _compile(spec["member"])
    length = _length_checks(spec, len) if ("min" in spec or "max" in spec) else None

    def check(value: Any, path: str, errors: list) -> Any:
        if not isinstance(value, list):
            raise _type_error("list", path)
        if length is not None:
            length(value, path, errors)
        return [member(item, f"{path}.{i}.member", errors) for i, item in enumerate(value, 1)]

    return check


def _compile_map(spec: dict) -> Checker:
    key_check = _compile(spec["key"])
    value_check = _compile(spec["value"])
    length = _length_checks(spec, len) if ("min" in spec or "max" in spec) else None

    def check(value: Any, path: str, errors: list) -> Any:
        if not isinstance(value, dict):
            raise _type_error("map", path)
        if length is not None:
            length(value, path, errors)
        return {key_check(k, f"{path}.key", errors): value_check(v, f"{path}.{k}", errors)
                for k, v in value.items()}

    return check


def _compile_structure(spec: dict) -> Checker:
    members = {name: (_camel(name), _compile(sub)) for name, sub in spec["members"].items()}
    required = tuple(spec.get("required", ()))

    def check(value: Any, path: str, errors: list) -> Any:
        if not isinstance(value, dict):
            raise _type_error("structure", path or "body")
        out = {}
        prefix = path + "." if path else ""
        for name, raw in value.items():
            entry = members.get(name)
            if entry is None or raw is None:
                continue  # AWS ignores members it doesn't know, and treats null as absent
            out[name] = entry[1](raw, prefix + entry[0], errors)
        for name in required:
            if name not in out:
                errors.append(f"Value null at '{prefix}{_camel(name)}' failed to satisfy constraint: "
                              "Member must not be null")
        return out

    return check


def compile_operation(spec: dict) -> Callable[[Any], dict]:
    """Return validate(body) -> dict of converted members, raising AWS-shaped errors."""
    check = _compile_structure(spec)

    def validate(body: Any) -> dict:
        errors: list[str] = []
        out = check(body, "", errors)
        if errors:
            raise validation_error(errors)
        return out

    return validate


def validation_error(errors: list[str]) -> ValidationException:
    return ValidationException(validation_message(errors))
