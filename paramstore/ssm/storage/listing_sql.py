"""The Parameter Store's listing queries: GetParametersByPath and DescribeParameters pages.

Keyset pagination on the byte-ordered canonical name (an index range scan, `LIMIT n+1`),
with every filter turned into SQL, so a page costs the same whether the store holds ten
parameters or a hundred thousand.  Filters arrive checked (paramstore/ssm/operations/
listing.py); `Scope` is the caller's account and region and the time that decides which
parameters are still live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import and_, exists, func, or_
from sqlmodel import col, select

from kms_core.storage.session import Database
from paramstore.ssm.names import canonical_of, check_path, path_range, prefix_range
from paramstore.ssm.storage.tables import ParameterLabelTable, ParameterTable, ParameterTagTable, ParameterVersionTable


@dataclass(frozen=True)
class Scope:
    account_id: str
    region: str
    now: float


def by_path_page(db: Database, scope: Scope, path: str, recursive: bool, filters: list, after: Optional[str],
                 limit: int) -> list:
    """Up to limit+1 (parameter, version) rows below `path` after the name `after`: the
    latest version, or the labelled one when a Label filter is given."""
    return _page(db, _by_path_query(db, scope, path, recursive, filters), after, limit)


def describe_page(db: Database, scope: Scope, filters: list, after: Optional[str], limit: int) -> list:
    """Up to limit+1 parameter rows matching every filter, after the name `after`.
    Filters carry their Option (defaults filled in by the caller)."""
    query = _scoped(scope, select(ParameterTable))
    for f in filters:
        query = query.where(_condition(db, f["Key"], f["Option"], f.get("Values")))
    return _page(db, query, after, limit)


def _by_path_query(db: Database, scope: Scope, path: str, recursive: bool, filters: list) -> Any:
    """(parameter, version) rows below `path`: the latest version, or the labelled one."""
    version_of = ParameterTable.version
    query = select(ParameterTable, ParameterVersionTable)
    label_filter = next((f for f in filters if f["Key"] == "Label"), None)
    if label_filter is not None:
        query = query.join(ParameterLabelTable, and_(
            ParameterLabelTable.parameter_id == ParameterTable.id,
            col(ParameterLabelTable.label).in_(label_filter["Values"])))
        version_of = ParameterLabelTable.version  # type: ignore[assignment]  # either table's version column; SQLModel types both as int
    query = query.join(ParameterVersionTable, and_(ParameterVersionTable.parameter_id == ParameterTable.id,
                                                   ParameterVersionTable.version == version_of))
    query = _scoped(scope, query)
    if recursive:
        low, high = path_range(path)
        query = query.where(ParameterTable.canonical >= low).where(ParameterTable.canonical < high)
    else:
        query = query.where(ParameterTable.parent == path)
    for f in filters:
        if f["Key"] != "Label":
            query = query.where(_condition(db, f["Key"], f.get("Option") or "Equals", f["Values"]))
    return query


# --- shared query pieces -------------------------------------------------------------------
def _scoped(scope: Scope, query: Any) -> Any:
    """The caller's account and region, live parameters only."""
    return (query.where(ParameterTable.account_id == scope.account_id).where(ParameterTable.region == scope.region)
            .where(or_(ParameterTable.expires_at == None, ParameterTable.expires_at > scope.now)))  # noqa: E711


def _page(db: Database, query: Any, after: Optional[str], limit: int) -> list:
    """The next limit+1 rows after the canonical name `after` (from a sealed NextToken)."""
    if after is not None:
        query = query.where(ParameterTable.canonical > after)
    with db.session() as session:
        return list(session.exec(query.order_by(ParameterTable.canonical).limit(limit + 1)))


def _condition(db: Database, key: str, option: str, values: Optional[list]) -> Any:
    """One filter as a SQL condition (values within a filter OR together)."""
    if key.startswith("tag:"):
        tag = ParameterTagTable
        match = [tag.parameter_id == ParameterTable.id, tag.tag_key == key[4:]]
        if values:
            match.append(or_(*(_string_match(db, tag.tag_value, option, v) for v in values)))
        return exists().where(and_(*match))
    if key == "Path":
        parts = []
        for value in values or ():
            path = check_path(value)
            if option == "Recursive":
                low, high = path_range(path)
                parts.append(and_(ParameterTable.canonical >= low, ParameterTable.canonical < high))
            else:
                parts.append(ParameterTable.parent == path)
        return or_(*parts)
    column = {"Name": ParameterTable.canonical, "Type": ParameterTable.type, "KeyId": ParameterTable.key_id,
              "Tier": ParameterTable.tier, "DataType": ParameterTable.data_type}[key]
    if key == "Name" and option == "Contains":  # the raw substring of the name, "/" and all, as AWS matches it
        return or_(*(_string_match(db, ParameterTable.name, option, v) for v in values or ()))
    if key == "Name":
        values = [canonical_of(v) for v in values or ()]
        if option == "BeginsWith":  # the name index, as a range
            return or_(*(and_(column >= low, column < high) for low, high in map(prefix_range, values)))
    return or_(*(_string_match(db, column, option, v) for v in values or ()))


def _string_match(db: Database, column: Any, option: str, value: str) -> Any:
    """Case-sensitive Equals / BeginsWith / Contains on both databases (no LIKE: SQLite's
    is case-insensitive and would need escaping)."""
    if option == "Equals":
        return column == value
    if option == "BeginsWith":
        return func.substr(column, 1, len(value)) == value
    position = func.instr(column, value) if db.is_sqlite else func.strpos(column, value)
    return position > 0
