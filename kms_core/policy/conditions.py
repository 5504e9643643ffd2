"""IAM condition operators, compiled once per policy.

A compiled condition is `check(facts) -> bool`, where `facts.get(key)` returns the request's
value for a (case-insensitive) condition key: a string, a list of strings (multi-valued
keys), or None when absent.  Semantics follow the IAM reference ("Condition operators",
"Single-valued vs. multivalued context keys"):

* values listed for one operator are ORed, operators and keys in a block are ANDed;
* a missing key makes a condition false, except negated operators (true), `...IfExists`
  (true) and `Null`;
* `ForAllValues:` is true when every request value matches (and for a missing or empty
  key); `ForAnyValue:` when at least one does (false when missing);
* `${aws:username}`-style policy variables are substituted in condition values (with
  `${key, 'default'}` defaults; `${*}`, `${?}`, `${$}` are literal characters, also in globs).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from kms_core.errors import MalformedPolicyDocumentException
from kms_core.policy.glob import Glob, compile_glob, compile_template

Check = Callable[[Any], bool]
_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _variable_value(spec: str, facts: Any) -> str:
    """The value of `${spec}`: `*`, `?`, `$` stand for themselves; `${key, 'default'}` gives a
    default for an absent key; otherwise an unset variable matches nothing."""
    if spec in ("*", "?", "$"):
        return spec
    name, comma, default = spec.partition(",")
    found = facts.get(name.strip())
    if isinstance(found, str):
        return found
    default = default.strip()
    if comma and len(default) >= 2 and default[0] == default[-1] == "'":
        return default[1:-1]
    return "\uffff"


def substitute(value: str, facts: Any) -> str:
    if "${" not in value:
        return value
    return _VARIABLE.sub(lambda m: _variable_value(m.group(1), facts), value)


def pattern_glob(pattern: str, facts: Any) -> Glob:
    """A glob (`*`, `?`) after substituting policy variables; substituted text is literal,
    so `${*}` and `${?}` match a literal asterisk / question mark."""
    if "${" not in pattern:
        return compile_glob(pattern)
    template = compile_template(pattern)
    return template.bind(tuple(_variable_value(spec, facts) for spec in template.specs))


def _as_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# --- single-value comparisons: (request_value, policy_value, facts) -> bool ----------------
def _string_equals(a: str, b: str, facts: Any) -> bool:
    return a == substitute(b, facts)


def _string_equals_ic(a: str, b: str, facts: Any) -> bool:
    return a.lower() == substitute(b, facts).lower()


def _string_like(a: str, b: str, facts: Any) -> bool:
    return pattern_glob(b, facts).fullmatch(a)


def _arn_like(a: str, b: str, facts: Any) -> bool:
    """ArnLike compares the six colon-separated parts.  The pattern is split before its
    policy variables are substituted, and substituted text is literal: a tag value of `*`
    (a caller can choose session tags) must not become a wildcard."""
    pa, pb = a.split(":", 5), _split_arn_pattern(b)
    if len(pa) != 6 or len(pb) != 6:
        return False
    return all(pattern_glob(y, facts).fullmatch(x) for x, y in zip(pa, pb))


def _split_arn_pattern(pattern: str) -> list[str]:
    """Split at the first five colons outside `${...}` (variable names hold colons)."""
    parts: list[str] = []
    start, depth = 0, 0
    for i, ch in enumerate(pattern):
        if ch == "{" and i > 0 and pattern[i - 1] == "$":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif ch == ":" and not depth and len(parts) < 5:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return parts


def _number(v: str) -> float:
    return float(v)


def _numeric(op: Callable[[float, float], bool]) -> Callable[[str, str, Any], bool]:
    def cmp(a: str, b: str, facts: Any) -> bool:
        try:
            return op(_number(a), _number(b))
        except ValueError:
            return False
    return cmp


def _date_value(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        pass
    text = v.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _date(op: Callable[[float, float], bool]) -> Callable[[str, str, Any], bool]:
    def cmp(a: str, b: str, facts: Any) -> bool:
        try:
            return op(_date_value(a), _date_value(b))
        except ValueError:
            return False
    return cmp


def _bool(a: str, b: str, facts: Any) -> bool:
    return a.lower() == b.lower()


def _binary(a: str, b: str, facts: Any) -> bool:
    try:
        return base64.b64decode(a) == base64.b64decode(b)
    except ValueError:
        return False


def _ip(a: str, b: str, facts: Any) -> bool:
    try:
        return ipaddress.ip_address(a) in ipaddress.ip_network(b, strict=False)
    except ValueError:
        return False


#: operator -> (comparison, negated)
_OPERATORS: dict[str, tuple[Callable[[str, str, Any], bool], bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ic, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ic, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "NumericEquals": (_numeric(lambda x, y: x == y), False),
    "NumericNotEquals": (_numeric(lambda x, y: x == y), True),
    "NumericLessThan": (_numeric(lambda x, y: x < y), False),
    "NumericLessThanEquals": (_numeric(lambda x, y: x <= y), False),
    "NumericGreaterThan": (_numeric(lambda x, y: x > y), False),
    "NumericGreaterThanEquals": (_numeric(lambda x, y: x >= y), False),
    "DateEquals": (_date(lambda x, y: x == y), False),
    "DateNotEquals": (_date(lambda x, y: x == y), True),
    "DateLessThan": (_date(lambda x, y: x < y), False),
    "DateLessThanEquals": (_date(lambda x, y: x <= y), False),
    "DateGreaterThan": (_date(lambda x, y: x > y), False),
    "DateGreaterThanEquals": (_date(lambda x, y: x >= y), False),
    "Bool": (_bool, False),
    "BinaryEquals": (_binary, False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
}


def compile_condition_block(block: Any, where: str) -> list[Check]:
    """Compile a statement's Condition element into a list of checks (all must hold)."""
    if not isinstance(block, dict):
        raise MalformedPolicyDocumentException(f"{where}: Condition must be a JSON object.")
    checks: list[Check] = []
    for operator, keys in block.items():
        if not isinstance(keys, dict) or not keys:
            raise MalformedPolicyDocumentException(
                f"{where}: condition operator '{operator}' must map condition keys to values.")
        for key, values in keys.items():
            checks.append(compile_condition(operator, key, values, where))
    return checks


def compile_condition(operator: str, key: str, values: Any, where: str) -> Check:
    qualifier = None
    op = operator
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        if op.startswith(prefix):
            qualifier, op = prefix[:-1], op[len(prefix):]
    if_exists = op.endswith("IfExists") and op != "IfExists"
    if if_exists:
        op = op[: -len("IfExists")]
    items = values if isinstance(values, list) else [values]
    if not items or not all(isinstance(v, (str, bool, int, float)) for v in items):
        raise MalformedPolicyDocumentException(
            f"{where}: condition key '{key}' needs one or more string, number or boolean values.")
    policy_values = [_as_str(v) for v in items]
    lookup = key.lower()

    if op == "Null":
        if qualifier or if_exists:
            raise MalformedPolicyDocumentException(f"{where}: 'Null' takes no qualifier or IfExists.")
        want_absent = policy_values[0].lower() == "true"

        def null_check(facts: Any) -> bool:
            value = facts.get(lookup)
            absent = value is None or value == []
            return absent == want_absent
        return null_check

    if op not in _OPERATORS:
        raise MalformedPolicyDocumentException(f"{where}: unknown condition operator '{operator}'.")
    compare, negated = _OPERATORS[op]

    def matches_one(value: str, facts: Any) -> bool:
        return any(compare(value, pv, facts) for pv in policy_values)

    if qualifier == "ForAllValues":
        def for_all(facts: Any) -> bool:
            value = facts.get(lookup)
            if value is None or value == []:
                return True
            values_ = value if isinstance(value, list) else [value]
            if negated:
                return all(not matches_one(v, facts) for v in values_)
            return all(matches_one(v, facts) for v in values_)
        return for_all

    if qualifier == "ForAnyValue":
        def for_any(facts: Any) -> bool:
            value = facts.get(lookup)
            if value is None or value == []:
                return if_exists
            values_ = value if isinstance(value, list) else [value]
            if negated:
                return any(not matches_one(v, facts) for v in values_)
            return any(matches_one(v, facts) for v in values_)
        return for_any

    def single(facts: Any) -> bool:
        value = facts.get(lookup)
        if value is None or value == []:
            return True if (if_exists or negated) else False
        values_ = value if isinstance(value, list) else [value]
        hit = any(matches_one(v, facts) for v in values_)
        return not hit if negated else hit
    return single


def to_condition_string(value: Optional[Any]) -> Optional[Any]:
    """Normalise a fact: bools as "true"/"false", numbers as text, lists element-wise."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_as_str(v) for v in value]
    return _as_str(value)
