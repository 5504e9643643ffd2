"""kms_core/storage/identities.py and the identity functions over it: users and roles
share one implementation, a unique key taken concurrently comes out as `Conflict`, and
the functions still take a bare session (bootstrap and seed files hold one)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Optional

import pytest

from kms_core.crypto.root import RootKey
from kms_core.domain.principal import Principal
from kms_core.identity import admin
from kms_core.identity.errors import DeleteConflict, EntityAlreadyExists, NoSuchEntity
from kms_core.identity.store import IdentityStore, principal_exists_in
from kms_core.storage import migrate
from kms_core.storage.connect import sqlite_url
from kms_core.storage.identities import ROLE, USER, Conflict, IdentityRepository, reading, writing
from kms_core.storage.session import Database
from kms_core.storage.tables import IamRoleTable, IamUserTable

ACCOUNT = "111122223333"
OTHER = "444455556666"
TRUST = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
         f'"Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:root"}}, "Action": "sts:AssumeRole"}}]}}')
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}'


@pytest.fixture
def db(fresh_database: tuple[str, Optional[str]], tmp_path: Path) -> Iterator[Database]:
    database = Database(fresh_database[1] or sqlite_url(tmp_path))
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def identities(db: Database) -> IdentityStore:
    store = IdentityStore(db, RootKey(os.urandom(32), "test"))
    with writing(db) as rows:
        store.create_account(rows, ACCOUNT, 1.0)
    return store


def test_an_account_and_its_key_in_one_transaction(db: Database, identities: IdentityStore) -> None:
    """The account is written before the key that references it, with no flush between."""
    with writing(db) as rows:
        identities.create_account(rows, OTHER, 2.0)
        akid, secret = identities.add_access_key(rows, OTHER, 2.0)
    with reading(db) as rows:
        assert rows.account_exists(OTHER) and rows.any_account()
        assert [k.access_key_id for k in rows.access_keys_of(OTHER, None)] == [akid]
    found = identities.lookup(akid)
    assert found is not None and found[0] == secret and found[1].arn == f"arn:aws:iam::{OTHER}:root"


def test_users_and_roles_are_created_listed_and_deleted_alike(db: Database) -> None:
    with writing(db) as rows:
        user = admin.create_user(rows, ACCOUNT, "alice", 1.0, "/team/", {"b": "2", "a": "1"})
        role = admin.create_role(rows, ACCOUNT, "Deployer", TRUST, 1.0, tags={"env": "prod"})
    assert user.user_id.startswith("AIDA") and role.role_id.startswith("AROA")
    assert role.max_session_duration == admin.MIN_SESSION_DURATION
    with reading(db) as rows:
        assert admin.get_principal(rows, ACCOUNT, USER, "alice").path == "/team/"
        assert admin.get_principal(rows, ACCOUNT, ROLE, "Deployer").path == "/"
        assert list(rows.tags_of(ACCOUNT, USER, "alice").items()) == [("a", "1"), ("b", "2")]
        assert rows.tags_of(ACCOUNT, ROLE, "Deployer") == {"env": "prod"}
        users, roles = rows.principals_page(ACCOUNT, USER, "/", None, 1000), rows.principals_page(ACCOUNT, ROLE, "/", None, 1000)
        assert [(type(r), r.user_name) for r in users if isinstance(r, IamUserTable)] == [(IamUserTable, "alice")]
        assert [(type(r), r.role_name) for r in roles if isinstance(r, IamRoleTable)] == [(IamRoleTable, "Deployer")]
        assert len(users) == len(roles) == 1
        assert rows.principals_page(OTHER, USER, "/", None, 1000) == []
    for kind, name, message in ((USER, "ALICE", "User with name ALICE already exists."),
                                (ROLE, "deployer", "Role with name deployer already exists.")):
        with pytest.raises(EntityAlreadyExists, match=message), writing(db) as rows:
            if kind == USER:
                admin.create_user(rows, ACCOUNT, name, 2.0)
            else:
                admin.create_role(rows, ACCOUNT, name, TRUST, 2.0)
    with writing(db) as rows:
        admin.delete_principal(rows, ACCOUNT, USER, "alice")
        admin.delete_principal(rows, ACCOUNT, ROLE, "Deployer")
    with reading(db) as rows:
        assert rows.principals_page(ACCOUNT, USER, "/", None, 1000) == [] and rows.principals_page(ACCOUNT, ROLE, "/", None, 1000) == []
        assert rows.tags_of(ACCOUNT, USER, "alice") == {} and rows.tags_of(ACCOUNT, ROLE, "Deployer") == {}
    with pytest.raises(NoSuchEntity, match="The role with name Deployer cannot be found."), reading(db) as rows:
        admin.get_principal(rows, ACCOUNT, ROLE, "Deployer")


def test_what_is_attached_blocks_a_delete(db: Database, identities: IdentityStore) -> None:
    with writing(db) as rows:
        admin.create_user(rows, ACCOUNT, "bob", 1.0)
        admin.create_role(rows, ACCOUNT, "Reader", TRUST, 1.0)
        row, _ = admin.create_access_key(identities, rows, ACCOUNT, "bob", 1.0)
        admin.put_inline_policy(rows, ACCOUNT, ROLE, "Reader", "all", POLICY)
    assert row.user_name == "bob" and row.principal_arn == f"arn:aws:iam::{ACCOUNT}:user/bob"
    with pytest.raises(DeleteConflict, match="must delete access keys first"), writing(db) as rows:
        admin.delete_principal(rows, ACCOUNT, USER, "bob")
    with pytest.raises(DeleteConflict, match="must delete policies first"), writing(db) as rows:
        admin.delete_principal(rows, ACCOUNT, ROLE, "Reader")
    with writing(db) as rows:
        admin.put_inline_policy(rows, ACCOUNT, ROLE, "Reader", "all", POLICY.replace("kms:*", "kms:Decrypt"))
        assert admin.list_inline_policies(rows, ACCOUNT, ROLE, "Reader") == ["all"]
        assert "kms:Decrypt" in admin.get_inline_policy(rows, ACCOUNT, ROLE, "Reader", "all").document
        admin.delete_inline_policy(rows, ACCOUNT, ROLE, "Reader", "all")
        admin.delete_principal(rows, ACCOUNT, ROLE, "Reader")
        admin.delete_access_key(rows, ACCOUNT, "bob", row.access_key_id)
        admin.delete_principal(rows, ACCOUNT, USER, "bob")


def test_a_name_taken_concurrently_is_a_conflict(db: Database) -> None:
    """Two creates that both found the name free: the second one's insert fails, and the
    identity layer sees Conflict (not the driver's IntegrityError), after the rollback."""
    with writing(db) as rows:
        admin.create_user(rows, ACCOUNT, "carol", 1.0)
    with pytest.raises(Conflict), writing(db) as rows:
        rows.add_user(ACCOUNT, "carol", "AIDAEXAMPLEEXAMPLE01", "/", 2.0)
        rows.flush()
    with reading(db) as rows:
        user = rows.user(ACCOUNT, "carol")
        assert user is not None and user.created_at == 1.0


def test_the_functions_take_a_bare_session_too(db: Database, identities: IdentityStore) -> None:
    """What paramstore/seed.py and bootstrap hold is a session, not a repository."""
    with db.write() as session:
        assert identities.account_exists(session, ACCOUNT) and not identities.account_exists(session, OTHER)
        admin.create_user(session, ACCOUNT, "dave", 1.0, tags={"team": "ops"})
        admin.create_role(session, ACCOUNT, "Ops", TRUST, 1.0)
        admin.put_inline_policy(session, ACCOUNT, USER, "dave", "all", POLICY)
        key, _ = admin.create_access_key(identities, session, ACCOUNT, "dave", 1.0)
        assert admin.tags_of(session, ACCOUNT, USER, "dave") == {"team": "ops"}
        assert [k.access_key_id for k in admin.access_keys_of(session, ACCOUNT, "dave")] == [key.access_key_id]
        assert principal_exists_in(session, f"arn:aws:iam::{ACCOUNT}:user/dave")
        assert principal_exists_in(session, f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/s1")
        assert not principal_exists_in(session, f"arn:aws:iam::{ACCOUNT}:role/Nobody")
        assert principal_exists_in(session, f"arn:aws:iam::{OTHER}:user/anyone")  # not hosted here
    with reading(db) as rows:
        assert IdentityRepository.of(rows) is rows
        assert rows.inline_policy(ACCOUNT, USER, "dave", "all") is not None


def test_the_store_reads_through_the_repository(db: Database, identities: IdentityStore) -> None:
    with writing(db) as rows:
        admin.create_user(rows, ACCOUNT, "erin", 1.0, "/apps/", {"team": "payments"})
        admin.put_inline_policy(rows, ACCOUNT, USER, "erin", "all", POLICY)
        admin.create_role(rows, ACCOUNT, "App", TRUST, 1.0, tags={"tier": "gold"})
        akid, secret = identities.add_access_key(rows, ACCOUNT, 1.0, user_name="erin")
    found = identities.lookup(akid)
    assert found is not None
    got_secret, principal = found
    assert got_secret == secret and principal.arn == f"arn:aws:iam::{ACCOUNT}:user/apps/erin"
    assert principal.tags == {"team": "payments"}
    assert identities.identity_policies(principal) == [POLICY]  # compile_policy is the identity by default
    assert identities.role_tags(ACCOUNT, "App") == {"tier": "gold"}
    assert identities.role_tags(ACCOUNT, "Nobody") == {}
    assert identities.principal_exists(f"arn:aws:iam::{ACCOUNT}:role/App")
    assert isinstance(principal, Principal)
