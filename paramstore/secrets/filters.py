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

import bisect
import re
from typing import Callable

from paramstore.secrets.authz import tags_of
from paramstore.secrets.errors import InvalidParameterException
from paramstore.secrets.storage.tables import AnySecret, SecretTable

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def words(text: str) -> list[str]:
    """`credsDatabase#892` -> ["creds", "database", "892"] (lower-cased)."""
    return [w.lower() for w in _WORD.findall(text)]


def _starts_a_word(sorted_words: list[str], prefix: str) -> bool:
    """Whether some word starts with `prefix` (a binary search of the sorted words)."""
    at = bisect.bisect_left(sorted_words, prefix)
    return at < len(sorted_words) and sorted_words[at].startswith(prefix)


def _all_words(row: AnySecret) -> list[str]:
    tags = tags_of(row)
    return sorted({w for text in [row.name, row.description or "", *tags, *tags.values()] for w in words(text)})


#: what a filter looks at, computed at most once per secret and request
_FIELDS: dict[str, Callable[[AnySecret], list[str]]] = {
    "name": lambda r: [r.name],
    "tag-key": lambda r: list(tags_of(r)),
    "tag-value": lambda r: list(tags_of(r).values()),
    "primary-region": lambda r: [r.region],
    "owning-service": lambda r: [],
    "description": lambda r: sorted(set((r.description or "").lower().split())),
    "all": _all_words,
}


def _prefix(have: list[str], value: str) -> bool:
    return any(f.startswith(value) for f in have)


def _description(have: list[str], value: str) -> bool:
    wanted = value.lower().split()
    return bool(wanted) and all(_starts_a_word(have, w) for w in wanted)


def _all(have: list[str], value: str) -> bool:
    wanted = words(value)
    return bool(wanted) and all(_starts_a_word(have, w) for w in wanted)


_MATCHERS: dict[str, Callable[[list[str], str], bool]] = {
    "name": _prefix, "tag-key": _prefix, "tag-value": _prefix, "primary-region": _prefix,
    "owning-service": _prefix, "description": _description, "all": _all,
}


def compile_filters(filters: list[dict]) -> Callable[[AnySecret], bool]:
    checks = []
    for f in filters:
        key = f.get("Key")
        matcher = _MATCHERS.get(key)
        if matcher is None:
            raise InvalidParameterException(f"Invalid filter key: {key}")
        values = f.get("Values") or []
        if not values:
            raise InvalidParameterException(f"The filter {key} needs at least one value.")
        checks.append((key, matcher, [(v[1:], True) if v.startswith("!") else (v, False) for v in values]))

    def match(row: AnySecret) -> bool:
        seen: dict[str, list[str]] = {}
        for key, matcher, values in checks:
            have = seen.get(key)
            if have is None:
                have = seen[key] = _FIELDS[key](row)
            if not any(matcher(have, v) != negated for v, negated in values):
                return False
        return True

    return match


_SORT_KEYS: dict[str, Callable[[SecretTable], tuple]] = {
    "created-date": lambda r: (r.created_date, r.id),
    "last-accessed-date": lambda r: (r.last_accessed_date or 0.0, r.id),
    "last-changed-date": lambda r: (r.last_changed_date, r.id),
    "name": lambda r: (r.name, r.id),
}


def sort_secrets(rows: list[SecretTable], sort_by: str, order: str) -> list[SecretTable]:
    return sorted(rows, key=_SORT_KEYS[sort_by], reverse=(order == "desc"))
