"""ListSecrets (and BatchGetSecretValue) filters and sort orders, as AWS documents them.

- `name`, `tag-key`, `tag-value`, `primary-region`, `owning-service`: a case-sensitive
  prefix of the field;
- `description`: a case-insensitive match of whole words;
- `all`: the search string split into words (at case changes, letter/digit changes and
  punctuation), each matched case-insensitively as the start of a word of the name,
  description, tag keys or tag values;
- a leading `!` negates a value; the values of one filter are ORed, filters are ANDed.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

from paramstore.secrets.authz import tags_of
from paramstore.secrets.errors import InvalidParameterException
from paramstore.secrets.storage.tables import AnySecret, SecretTable

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def words(text: str) -> list[str]:
    """`credsDatabase#892` -> ["creds", "database", "892"] (lower-cased)."""
    return [w.lower() for w in _WORD.findall(text)]


def _prefix(fields: Callable[[SecretTable], Iterable[str]]) -> Callable[[SecretTable, str], bool]:
    return lambda row, value: any(f.startswith(value) for f in fields(row))


def _description(row: AnySecret, value: str) -> bool:
    wanted = value.lower().split()
    have = (row.description or "").lower().split()
    return all(any(h.startswith(w) for h in have) for w in wanted) if wanted else False


def _all(row: AnySecret, value: str) -> bool:
    wanted = words(value)
    if not wanted:
        return False
    tags = tags_of(row)
    have = [w for text in [row.name, row.description or "", *tags, *tags.values()] for w in words(text)]
    return all(any(h.startswith(w) for h in have) for w in wanted)


_MATCHERS: dict[str, Callable[[SecretTable, str], bool]] = {
    "name": _prefix(lambda r: [r.name]),
    "tag-key": _prefix(lambda r: list(tags_of(r))),
    "tag-value": _prefix(lambda r: list(tags_of(r).values())),
    "primary-region": _prefix(lambda r: [r.region]),
    "owning-service": _prefix(lambda r: []),
    "description": _description,
    "all": _all,
}


def compile_filters(filters: list[dict]) -> Callable[[SecretTable], bool]:
    checks = []
    for f in filters:
        key = f.get("Key")
        matcher = _MATCHERS.get(key)
        if matcher is None:
            raise InvalidParameterException(f"Invalid filter key: {key}")
        values = f.get("Values") or []
        if not values:
            raise InvalidParameterException(f"The filter {key} needs at least one value.")
        checks.append((matcher, [(v[1:], True) if v.startswith("!") else (v, False) for v in values]))

    def match(row: AnySecret) -> bool:
        return all(any(matcher(row, v) != negated for v, negated in values) for matcher, values in checks)

    return match


_SORT_KEYS: dict[str, Callable[[SecretTable], tuple]] = {
    "created-date": lambda r: (r.created_date, r.id),
    "last-accessed-date": lambda r: (r.last_accessed_date or 0.0, r.id),
    "last-changed-date": lambda r: (r.last_changed_date, r.id),
    "name": lambda r: (r.name, r.id),
}


def sort_secrets(rows: list[SecretTable], sort_by: str, order: str) -> list[SecretTable]:
    return sorted(rows, key=_SORT_KEYS[sort_by], reverse=(order == "desc"))
