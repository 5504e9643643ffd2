"""The identity store's rows: accounts, users, roles, access keys, inline policies, tags.

Every query the identity layer (kms_core/identity) makes, on an open session: that layer
reads and changes rows as plain data and never speaks SQL.  Users and roles are one kind
of thing here, told apart by `kind` ("user" or "role", the `principal_type` of their
policies and tags).  Nothing here validates, authorizes or commits.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Union

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from kms_core.storage.connect import Conflict
from kms_core.storage.tables import (
    AccessKeyTable,
    AccountTable,
    IamInlinePolicyTable,
    IamPrincipalTagTable,
    IamRoleTable,
    IamUserTable,
)

if TYPE_CHECKING:
    from kms_core.storage.session import Database

USER, ROLE = "user", "role"

#: a user's or a role's row
PrincipalRow = Union[IamUserTable, IamRoleTable]
#: what identity functions take: an open session, or the repository over one
Txn = Union["IdentityRepository", Session]



class IdentityRepository:
    """The identity rows of one open session; writes are flushed, never committed."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @classmethod
    def of(cls, txn: Txn) -> "IdentityRepository":
        """Callers holding a bare session (bootstrap, seed files) still work."""
        return txn if isinstance(txn, IdentityRepository) else cls(txn)

    # --- writes in general ------------------------------------------------------------------
    def save(self, row: object) -> None:
        """A changed row, written now so the transaction's later reads see it."""
        self._session.add(row)
        self._session.flush()

    def delete(self, row: object) -> None:
        self._session.delete(row)
        self._session.flush()

    def flush(self) -> None:
        self._session.flush()

    # --- accounts ---------------------------------------------------------------------------
    def account(self, account_id: str) -> Optional[AccountTable]:
        return self._session.get(AccountTable, account_id)

    def account_exists(self, account_id: str) -> bool:
        return self.account(account_id) is not None

    def any_account(self) -> bool:
        return self._session.exec(select(AccountTable).limit(1)).first() is not None

    def add_account(self, account_id: str, now: float) -> None:
        """Nothing if the account exists (start-up and seed files run it again).  Flushed at
        once: its access keys, which may follow in the transaction, reference it, and the
        session doesn't order inserts of unrelated tables by their foreign keys."""
        if not self.account_exists(account_id):
            self.save(AccountTable(account_id=account_id, created_at=now))

    # --- users and roles --------------------------------------------------------------------
    def user(self, account_id: str, name: str) -> Optional[IamUserTable]:
        return self._session.get(IamUserTable, (account_id, name))

    def role(self, account_id: str, name: str) -> Optional[IamRoleTable]:
        return self._session.get(IamRoleTable, (account_id, name))

    def principal(self, account_id: str, kind: str, name: str) -> Optional[PrincipalRow]:
        return self.user(account_id, name) if kind == USER else self.role(account_id, name)

    def principals_page(self, account_id: str, kind: str, path_prefix: str, after: Optional[str],
                        limit: int) -> Sequence[PrincipalRow]:
        """Up to `limit` of an account's users or roles whose path starts with `path_prefix`,
        by name (code-point order on both databases), after the name `after`: a keyset page."""
        table: Any = IamUserTable if kind == USER else IamRoleTable
        name = table.user_name if kind == USER else table.role_name
        ordered = name if self._session.get_bind().dialect.name == "sqlite" else name.collate("C")
        query = select(table).where(table.account_id == account_id)
        if path_prefix != "/":
            query = query.where(func.substr(table.path, 1, len(path_prefix)) == path_prefix)
        if after is not None:
            query = query.where(ordered > after)
        return list(self._session.exec(query.order_by(ordered).limit(limit)))

    def name_taken(self, account_id: str, kind: str, name: str) -> bool:
        """Case-blind, as IAM compares names (`Admin` is taken by `admin`)."""
        column = IamUserTable.user_name if kind == USER else IamRoleTable.role_name
        table = IamUserTable if kind == USER else IamRoleTable
        found = self._session.exec(select(column).where(table.account_id == account_id)
                                   .where(func.lower(column) == name.lower()).limit(1)).first()
        return found is not None

    def add_user(self, account_id: str, name: str, user_id: str, path: str, created_at: float) -> IamUserTable:
        row = IamUserTable(account_id=account_id, user_name=name, user_id=user_id, path=path, created_at=created_at)
        self._session.add(row)
        return row

    def add_role(self, account_id: str, name: str, role_id: str, path: str, trust_policy: str, description: str,
                 max_session_duration: int, created_at: float) -> IamRoleTable:
        row = IamRoleTable(account_id=account_id, role_name=name, role_id=role_id, path=path,
                           assume_role_policy=trust_policy, description=description,
                           max_session_duration=max_session_duration, created_at=created_at)
        self._session.add(row)
        return row

    # --- tags of users and roles ------------------------------------------------------------
    def _tag_rows(self, account_id: str, kind: str, name: str) -> list[IamPrincipalTagTable]:
        return list(self._session.exec(select(IamPrincipalTagTable)
                                       .where(IamPrincipalTagTable.account_id == account_id)
                                       .where(IamPrincipalTagTable.principal_type == kind)
                                       .where(IamPrincipalTagTable.principal_name == name)))

    def tags_of(self, account_id: str, kind: str, name: str) -> dict[str, str]:
        """Sorted by key: the order IAM lists them in."""
        return {r.tag_key: r.tag_value for r in sorted(self._tag_rows(account_id, kind, name),
                                                       key=lambda r: r.tag_key)}

    def add_tags(self, account_id: str, kind: str, name: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._session.add(IamPrincipalTagTable(account_id=account_id, principal_type=kind, principal_name=name,
                                                   tag_key=key, tag_value=value))

    def delete_tags(self, account_id: str, kind: str, name: str) -> None:
        for row in self._tag_rows(account_id, kind, name):
            self._session.delete(row)

    # --- inline policies --------------------------------------------------------------------
    def inline_policies(self, account_id: str, kind: str, name: str) -> list[IamInlinePolicyTable]:
        return list(self._session.exec(select(IamInlinePolicyTable)
                                       .where(IamInlinePolicyTable.account_id == account_id)
                                       .where(IamInlinePolicyTable.principal_type == kind)
                                       .where(IamInlinePolicyTable.principal_name == name)))

    def inline_policy(self, account_id: str, kind: str, name: str,
                      policy_name: str) -> Optional[IamInlinePolicyTable]:
        return self._session.get(IamInlinePolicyTable, (account_id, kind, name, policy_name))

    def put_inline_policy(self, account_id: str, kind: str, name: str, policy_name: str, document: str) -> None:
        """Create or replace."""
        row = self.inline_policy(account_id, kind, name, policy_name)
        if row is None:
            row = IamInlinePolicyTable(account_id=account_id, principal_type=kind, principal_name=name,
                                       policy_name=policy_name, document=document)
        else:
            row.document = document
        self.save(row)

    # --- access keys ------------------------------------------------------------------------
    def access_key(self, access_key_id: str) -> Optional[AccessKeyTable]:
        return self._session.get(AccessKeyTable, access_key_id)

    def access_keys_of(self, account_id: str, user_name: Optional[str]) -> list[AccessKeyTable]:
        """A user's access keys, oldest first (user_name None: the account root's)."""
        query = select(AccessKeyTable).where(AccessKeyTable.account_id == account_id)
        query = query.where(AccessKeyTable.user_name == user_name) if user_name is not None \
            else query.where(AccessKeyTable.user_name == None)  # noqa: E711  (SQL's IS NULL)
        return sorted(self._session.exec(query), key=lambda r: (r.created_at, r.access_key_id))

    def add_access_key(self, access_key_id: str, account_id: str, principal_arn: str, user_name: Optional[str],
                       secret_wrapped: bytes, created_at: float) -> AccessKeyTable:
        row = AccessKeyTable(access_key_id=access_key_id, account_id=account_id, principal_arn=principal_arn,
                             user_name=user_name, status="Active", secret_wrapped=secret_wrapped,
                             created_at=created_at)
        self._session.add(row)
        return row


# --- transactions ---------------------------------------------------------------------------
@contextmanager
def reading(db: "Database") -> Iterator[IdentityRepository]:
    """A read session's identity rows (SQLite: never waits for a writer)."""
    with db.session() as session:
        yield IdentityRepository(session)


@contextmanager
def writing(db: "Database") -> Iterator[IdentityRepository]:
    """`db.write()`'s identity rows.  A unique key taken by a concurrent transaction, at a
    flush or at the commit, raises Conflict (after the rollback)."""
    try:
        with db.write() as session:
            yield IdentityRepository(session)
    except IntegrityError as exc:
        raise Conflict("a unique key is taken") from exc
