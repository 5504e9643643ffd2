"""Accounts and access keys.  Secret access keys are stored wrapped by the root key and
cached unwrapped in memory; the cache is dropped whenever the store changes."""

from __future__ import annotations

import secrets
import string
from typing import Optional

from sqlmodel import Session, select

from kms_core.crypto.root import RootKey
from kms_core.domain.arn import root_arn
from kms_core.identity.principal import Principal
from kms_core.storage.session import Database
from kms_core.storage.tables import AccessKeyTable, AccountTable, access_key_row_identity

_AKID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def new_access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_AKID_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


class IdentityStore:
    def __init__(self, db: Database, root: RootKey) -> None:
        self._db = db
        self._root = root
        self._by_key: dict[str, tuple[str, Principal]] = {}

    def clear_cache(self) -> None:
        self._by_key.clear()

    def lookup(self, access_key_id: str) -> Optional[tuple[str, Principal]]:
        """(secret, principal) for an active access key, else None."""
        hit = self._by_key.get(access_key_id)
        if hit is not None:
            return hit
        with self._db.session() as session:
            row = session.get(AccessKeyTable, access_key_id)
            if row is None or row.status != "Active":
                return None
            secret = self._root.unwrap(row.secret_wrapped,
                                       access_key_row_identity(row.access_key_id, row.account_id)).decode()
            principal = Principal(row.account_id, row.principal_arn,
                                  "Account" if row.principal_arn.endswith(":root") else "User",
                                  row.access_key_id)
        self._by_key[access_key_id] = (secret, principal)
        return secret, principal

    # --- writes (bootstrap, admin) ------------------------------------------------------
    def create_account(self, session: Session, account_id: str, now: float) -> None:
        if session.get(AccountTable, account_id) is None:
            session.add(AccountTable(account_id=account_id, created_at=now))

    def add_access_key(self, session: Session, account_id: str, now: float,
                       access_key_id: Optional[str] = None, secret: Optional[str] = None,
                       principal_arn: Optional[str] = None) -> tuple[str, str]:
        access_key_id = access_key_id or new_access_key_id()
        secret = secret or new_secret_access_key()
        session.add(AccessKeyTable(
            access_key_id=access_key_id, account_id=account_id,
            principal_arn=principal_arn or root_arn(account_id), status="Active",
            secret_wrapped=self._root.wrap(secret.encode(), access_key_row_identity(access_key_id, account_id)),
            created_at=now))
        return access_key_id, secret

    def account_exists(self, session: Session, account_id: str) -> bool:
        return session.get(AccountTable, account_id) is not None

    def any_account(self, session: Session) -> bool:
        return session.exec(select(AccountTable).limit(1)).first() is not None
