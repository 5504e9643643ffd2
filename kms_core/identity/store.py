"""Accounts, users, roles, access keys and identity policies, with an in-memory cache.

Secret access keys are stored wrapped by the root key and cached unwrapped in memory; the
cache (including compiled identity policies) is dropped whenever the store changes.
"""

from __future__ import annotations

import secrets
import string
from typing import Any, Callable, Optional

from kms_core.crypto.root import RootKeyring
from kms_core.domain.arn import root_arn
from kms_core.domain.principal import ASSUMED_ROLE, ROOT, USER, Principal
from kms_core.identity.sessions import SessionTokens
from kms_core.domain.errors import ExpiredTokenException, UnrecognizedClientException
from kms_core.storage.session import Database
from kms_core.storage.identities import IdentityRepository, Txn, reading
from kms_core.storage.tables import access_key_row_identity

_AKID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
_INVALID_TOKEN = "The security token included in the request is invalid."


def new_access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_AKID_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def new_unique_id(prefix: str) -> str:
    """IAM unique ids: AIDA... for users, AROA... for roles."""
    return prefix + "".join(secrets.choice(_AKID_ALPHABET) for _ in range(17))


def iam_arn(account_id: str, kind: str, name: str, path: str = "/") -> str:
    """A user's or a role's ARN (`kind` "user" or "role"); the path is part of it."""
    return f"arn:aws:iam::{account_id}:{kind}{path}{name}"


def user_arn(account_id: str, user_name: str, path: str = "/") -> str:
    return iam_arn(account_id, "user", user_name, path)


def role_arn(account_id: str, role_name: str, path: str = "/") -> str:
    return iam_arn(account_id, "role", role_name, path)


def assumed_role_arn(account_id: str, role_name: str, session_name: str) -> str:
    return f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"


def principal_exists_in(txn: Txn, arn: str) -> bool:
    """Within an open transaction: a user or role a key policy names exists (accounts this
    server doesn't host can't be checked, so theirs pass)."""
    rows = IdentityRepository.of(txn)
    parts = arn.split(":", 5)
    account, resource = parts[4], parts[5]
    if not rows.account_exists(account):
        return True
    kind, _, rest = resource.partition("/")
    name = rest.rsplit("/", 1)[-1]
    if kind == "user":
        return rows.user(account, name) is not None
    if kind in ("role", "assumed-role"):
        role = rest.split("/", 1)[0] if kind == "assumed-role" else name
        return rows.role(account, role) is not None
    return False


class IdentityStore:
    def __init__(self, db: Database, root: RootKeyring, wall_clock: Optional[Callable[[], float]] = None) -> None:
        import time

        self._db = db
        self._root = root
        self._wall_clock = wall_clock or time.time
        self.sessions = SessionTokens(root)
        self._by_key: dict[str, tuple[str, Principal]] = {}
        self._policies: dict[tuple[str, str, str], list[Any]] = {}
        self._roles: dict[tuple[str, str], Optional[tuple[str, str, dict]]] = {}
        self._compiled_session_policies: dict[str, Any] = {}
        #: compile(document_text) -> compiled policy; set by the policy engine (avoids a cycle)
        self.compile_policy: Callable[[str], Any] = lambda text: text

    def principal_exists(self, arn: str) -> bool:
        """A key policy's principal: users and roles of accounts this server hosts must
        exist; other accounts can't be checked."""
        with reading(self._db) as rows:
            return principal_exists_in(rows, arn)

    def clear_cache(self) -> None:
        self._by_key.clear()
        self._policies.clear()
        self._roles.clear()

    # --- authentication -----------------------------------------------------------------
    def lookup(self, access_key_id: str, session_token: Optional[str] = None) -> Optional[tuple[str, Principal]]:
        """(secret, principal) for an active access key or a valid session; None if unknown."""
        if session_token is not None or access_key_id.startswith("ASIA"):
            return self._lookup_session(access_key_id, session_token)
        hit = self._by_key.get(access_key_id)
        if hit is not None:
            return hit
        with reading(self._db) as rows:
            row = rows.access_key(access_key_id)
            if row is None or row.status != "Active":
                return None
            secret = self._root.unwrap(row.secret_wrapped,
                                       access_key_row_identity(row.access_key_id, row.account_id)).decode()
            if row.user_name is None:
                principal = Principal(row.account_id, root_arn(row.account_id), ROOT, row.access_key_id,
                                      user_id=row.account_id)
            else:
                user = rows.user(row.account_id, row.user_name)
                if user is None:
                    return None
                principal = Principal(row.account_id, user_arn(row.account_id, user.user_name, user.path), USER,
                                      row.access_key_id, name=user.user_name, user_id=user.user_id,
                                      tags=rows.tags_of(row.account_id, "user", user.user_name))
        self._by_key[access_key_id] = (secret, principal)
        return secret, principal

    def _lookup_session(self, access_key_id: str, token: Optional[str]) -> Optional[tuple[str, Principal]]:
        if not token:
            return None
        found = self.sessions.open(token)
        if found is None or found.access_key_id != access_key_id:
            raise UnrecognizedClientException(_INVALID_TOKEN)
        if found.expires <= self._wall_clock():
            raise ExpiredTokenException("The security token included in the request is expired")
        role = self._role(found.account_id, found.role_name)
        # A session belongs to the role it was issued for (its unique id, AROA...), not to
        # whatever role now has the name: a deleted and re-created role has a new id, and its
        # rights must not flow to sessions of the old one.
        if role is None or role[0] != found.role_id:
            raise UnrecognizedClientException(_INVALID_TOKEN)
        _, path, role_tags = role
        # session tags win over the role's tags of the same key (keys compare case-blind)
        overridden = {k.lower() for k in found.tags}
        tags = {**{k: v for k, v in role_tags.items() if k.lower() not in overridden}, **found.tags}
        principal = Principal(found.account_id, assumed_role_arn(found.account_id, found.role_name, found.session_name),
                              ASSUMED_ROLE, access_key_id, name=found.role_name,
                              user_id=f"{found.role_id}:{found.session_name}",
                              source_arn=role_arn(found.account_id, found.role_name, path), tags=tags,
                              session_expires=found.expires, token_issued=found.issued or None,
                              transitive_tag_keys=frozenset(found.transitive), source_identity=found.source_identity,
                              session_policy=self._session_policy(found.policy))
        return found.secret_access_key, principal

    def _session_policy(self, text: Optional[str]) -> Any:
        if text is None:
            return None
        compiled = self._compiled_session_policies.get(text)
        if compiled is None:
            if len(self._compiled_session_policies) >= 1024:
                self._compiled_session_policies.clear()
            compiled = self._compiled_session_policies[text] = self.compile_policy(text)
        return compiled

    def role_tags(self, account_id: str, role_name: str) -> dict:
        """A role's tags ({} for no such role), as aws:ResourceTag of sts:AssumeRole."""
        found = self._role(account_id, role_name)
        return found[2] if found is not None else {}

    def _role(self, account_id: str, role_name: str) -> Optional[tuple[str, str, dict]]:
        """(role id, path, tags) of a role, cached until the store changes."""
        cache_key = (account_id, role_name)
        if cache_key in self._roles:
            return self._roles[cache_key]
        with reading(self._db) as rows:
            row = rows.role(account_id, role_name)
            found = None if row is None else (row.role_id, row.path, rows.tags_of(account_id, "role", role_name))
        self._roles[cache_key] = found
        return found

    # --- identity policies ----------------------------------------------------------------
    def identity_policies(self, principal: Principal) -> list[Any]:
        """Compiled inline policies of the principal's user or role (cached)."""
        owner = principal.policy_owner
        if owner is None:
            return []
        cache_key = (principal.account_id, owner[0], owner[1])
        hit = self._policies.get(cache_key)
        if hit is None:
            with reading(self._db) as rows:
                documents = [r.document for r in rows.inline_policies(principal.account_id, owner[0], owner[1])]
            hit = [self.compile_policy(d) for d in documents]
            self._policies[cache_key] = hit
        return hit

    # --- writes (bootstrap, admin, IAM API) -------------------------------------------------
    # `txn`: the caller's open write session, or the IdentityRepository over it.
    def create_account(self, txn: Txn, account_id: str, now: float) -> None:
        IdentityRepository.of(txn).add_account(account_id, now)

    def add_access_key(self, txn: Txn, account_id: str, now: float,
                       access_key_id: Optional[str] = None, secret: Optional[str] = None,
                       principal_arn: Optional[str] = None, user_name: Optional[str] = None) -> tuple[str, str]:
        """The secret is stored wrapped by the root key, bound to the key id and account."""
        access_key_id = access_key_id or new_access_key_id()
        secret = secret or new_secret_access_key()
        if principal_arn is None:
            principal_arn = root_arn(account_id) if user_name is None else user_arn(account_id, user_name)
        wrapped = self._root.wrap(secret.encode(), access_key_row_identity(access_key_id, account_id))
        IdentityRepository.of(txn).add_access_key(access_key_id, account_id, principal_arn, user_name, wrapped, now)
        return access_key_id, secret

    def account_exists(self, txn: Txn, account_id: str) -> bool:
        return IdentityRepository.of(txn).account_exists(account_id)

    def any_account(self, txn: Txn) -> bool:
        return IdentityRepository.of(txn).any_account()
