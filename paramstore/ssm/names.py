"""Parameter names, paths, selectors, labels and ARNs (reference §5.2, §5.5).

A name is kept in two forms: as the caller first wrote it ("/x" or "x", what responses
show) and canonical, without the leading slash ("x", "a/b"): one parameter per canonical
name, and exactly the tail of its ARN (`arn:aws:ssm:<region>:<account>:parameter/a/b`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from paramstore.ssm.errors import AccessDeniedException, HierarchyLevelLimitExceededException, ValidationException

MAX_DEPTH = 15
#: names may be 1011 characters including the ARN prefix before them
MAX_NAME_WITH_ARN_PREFIX = 1011
MAX_LABEL_LENGTH = 100

_NAME_CHARS = re.compile(r"[a-zA-Z0-9_.\-/]+")
_SEGMENT = re.compile(r"[a-zA-Z0-9_.\-]+")
_LABEL = re.compile(r"[a-zA-Z0-9_.\-]+")
_VERSION = re.compile(r"[0-9]{1,19}")

INVALID_NAME = ('Parameter name: can\'t be prefixed with "ssm" (case-insensitive). If formed as a path, it can '
                "consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, "
                "numbers and the following 3 symbols .-_")
RESERVED_PREFIX = 'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).'
HIERARCHY_LIMIT = ("A hierarchy can have a maximum of 15 levels. For more information, see Requirements and "
                   "Constraints for Parameter Names in the AWS Systems Manager User Guide.")


def arn_prefix(region: str, account_id: str) -> str:
    return f"arn:aws:ssm:{region}:{account_id}:parameter/"


def parameter_arn(region: str, account_id: str, canonical: str) -> str:
    return arn_prefix(region, account_id) + canonical


def canonical_of(name: str) -> str:
    return name[1:] if name.startswith("/") else name


def parent_of(name: str) -> str:
    """The path one level up: "/a" for "/a/b"; "/" for top-level names ("/x" or "x")."""
    canonical = canonical_of(name)
    cut = canonical.rfind("/")
    return "/" if cut < 0 else "/" + canonical[:cut]


def depth_of(name: str) -> int:
    return canonical_of(name).count("/") + 1


def is_reserved(name: str) -> bool:
    return canonical_of(name)[:3].lower() in ("aws", "ssm")


def check_name_for_write(name: str, region: str, account_id: str) -> str:
    """Validate a name for PutParameter; returns it with surrounding spaces trimmed."""
    name = name.strip(" ")
    if is_reserved(name):
        # A path ("/aws/x") is refused as a path; a top-level name with its optional
        # leading slash ("/aws" is the parameter "aws") as a plain name.
        is_path = name.startswith("/") and "/" in name[1:]
        if is_path and name[1:4].lower() == "aws":
            raise AccessDeniedException(f"No access to reserved parameter name: {name}.")
        if is_path:
            raise ValidationException(INVALID_NAME)
        raise ValidationException(RESERVED_PREFIX)
    check_name_syntax(name)
    if depth_of(name) > MAX_DEPTH:
        raise HierarchyLevelLimitExceededException(HIERARCHY_LIMIT)
    if len(arn_prefix(region, account_id)) + len(canonical_of(name)) > MAX_NAME_WITH_ARN_PREFIX:
        raise ValidationException(
            f"Parameter name: {name} is too long. The maximum length of a parameter name, including the "
            f"ARN prefix, is {MAX_NAME_WITH_ARN_PREFIX} characters.")
    return name


def check_name_syntax(name: str) -> None:
    """Letters, digits, `_.-` and `/`; a name with a `/` is a full path ("/a/b", not "a/b")."""
    if not name or not _NAME_CHARS.fullmatch(name):
        raise ValidationException(INVALID_NAME)
    if "/" in name:
        if not name.startswith("/"):
            raise ValidationException(INVALID_NAME)
        if not all(_SEGMENT.fullmatch(segment) for segment in name[1:].split("/")):
            raise ValidationException(INVALID_NAME)


def check_path(path: str) -> str:
    """A GetParametersByPath / Path-filter path: "/" or "/a/b" (a trailing "/" is dropped)."""
    path = path.strip(" ")
    if path == "/":
        return path
    if path.endswith("/"):
        path = path[:-1]
    if not path.startswith("/") or not _NAME_CHARS.fullmatch(path) or not all(
            _SEGMENT.fullmatch(s) for s in path[1:].split("/")):
        raise ValidationException(
            "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a "
            'forward slash "/". It can\'t be prefixed with "aws" or "ssm" (case-insensitive). It must use only '
            "letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special "
            "characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". "
            "Valid example: /get/parameters2-/by1./path0_.")
    if depth_of(path) > MAX_DEPTH:
        raise HierarchyLevelLimitExceededException(HIERARCHY_LIMIT)
    return path


def path_range(path: str) -> tuple[str, str]:
    """Canonical names strictly below `path`, as a half-open byte range [low, high)."""
    if path == "/":
        return "", "\U0010ffff"
    prefix = canonical_of(path) + "/"
    return prefix, prefix[:-1] + "0"  # "0" is the character after "/"


def prefix_range(prefix: str) -> tuple[str, str]:
    """Strings starting with `prefix`, as a half-open code-point range [low, high) (byte
    order on both databases: an index range scan, where substr() would scan)."""
    if not prefix:
        return "", "\U0010ffff"
    if ord(prefix[-1]) >= 0xD7FF:  # no successor that both databases store; names are ASCII anyway
        return prefix, prefix + "\U0010ffff"
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def is_valid_label(label: str) -> bool:
    """≤100 chars of letters, digits, `.-_`; not starting with a digit, "aws" or "ssm"."""
    return (0 < len(label) <= MAX_LABEL_LENGTH and bool(_LABEL.fullmatch(label))
            and not label[0].isdigit() and label[:3].lower() not in ("aws", "ssm"))


@dataclass(frozen=True, slots=True)
class Reference:
    """A name as read operations accept it: a name or an ARN, with an optional selector."""

    name: str                       # without the selector
    canonical: str
    selector: Optional[str] = None  # ":3" or ":prod", as echoed in responses
    version: Optional[int] = None
    label: Optional[str] = None
    account_id: Optional[str] = None
    region: Optional[str] = None


class BadReference(Exception):
    """Not a valid name/selector (GetParameter: ValidationException; GetParameters:
    reported in InvalidParameters)."""


def parse_reference(text: str) -> Reference:
    """`name`, `name:<version>`, `name:<label>`, or the same with the parameter's ARN."""
    account = region = None
    if text.startswith("arn:"):
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[2] != "ssm" or not parts[5].startswith("parameter/"):
            raise BadReference(text)
        region, account = parts[3], parts[4]
        rest = parts[5][len("parameter/"):]
        name_part, sep, selector = rest.partition(":")
        name = "/" + name_part if "/" in name_part else name_part
    else:
        name, sep, selector = text.partition(":")
    if not name or ":" in selector:
        raise BadReference(text)
    try:
        check_name_syntax(name)
    except ValidationException:
        raise BadReference(text) from None
    ref = Reference(name=name, canonical=canonical_of(name), account_id=account, region=region)
    if not sep:
        return ref
    if _VERSION.fullmatch(selector):
        version = int(selector)
        if version < 1:
            raise BadReference(text)
        return Reference(name, ref.canonical, ":" + selector, version=version, account_id=account, region=region)
    if not is_valid_label(selector):
        raise BadReference(text)
    return Reference(name, ref.canonical, ":" + selector, label=selector, account_id=account, region=region)
