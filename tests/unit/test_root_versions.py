"""Root-key versions in the store (kms_core/storage/root_versions.py): the wrapped format
names its version, a process that has not seen a rotation still writes under the current
version, a rewrap stopped part way is finished by the next one, and an old root is only
refused once retired."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from sqlmodel import select

from kms_core.crypto.root import RootKeyError, wrapped_version
from kms_core.storage import root_versions
from kms_core.storage.root_rotation import finish_step
from kms_core.storage.tables import AccessKeyTable, KeyMaterialTable
from paramstore.bootstrap import StartupError, open_store
from paramstore.settings import Settings


@pytest.fixture
def settings(fresh_database, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=fresh_database[1], account_id="111122223333")


def opened(settings: Settings):
    """The store as one process opens it, with the audit trail its root-key steps go to."""
    from kms_core.audit import AuditLog

    store = open_store(Settings(**{**settings.__dict__}))
    store.db.audit_log = AuditLog(store.db, store.root, store.kms.clock)
    return store


def versions_in(store, table, column) -> set:
    with store.db.session() as session:
        return {wrapped_version(getattr(row, column)) for row in session.exec(select(table)).all()}


def make_key(store) -> str:
    from kms_core.storage.tables import KeyTable
    from kms_core.storage.unit_of_work import writing

    key_id = os.urandom(8).hex()
    with writing(store.db, store.root) as work:
        now = store.kms.clock()
        row = KeyTable(key_id=key_id, account_id="111122223333", region="us-east-1", key_usage="ENCRYPT_DECRYPT",
                       key_spec="SYMMETRIC_DEFAULT", origin="AWS_KMS", key_manager="CUSTOMER", key_state="Enabled",
                       creation_date=now, policy="{}")
        work.keys.insert(row, now)
    return key_id


def test_rotation_keeps_derived_keys_and_moves_every_value(settings):
    store = opened(settings)
    before = store.root.derive(b"label")
    make_key(store)
    assert versions_in(store, KeyMaterialTable, "material_wrapped") == {1}
    step = root_versions.rotate(store.db, store.root, "file", settings.data_dir, store.kms.clock())
    assert step.version == 2 and (settings.data_dir / "root-v2.key").exists()
    make_key(store)
    assert versions_in(store, KeyMaterialTable, "material_wrapped") == {1, 2}  # new writes: v2 at once
    while (done := finish_step(store.db, store.root, store.kms.clock, "test")) is not None:
        assert not done.stuck
    assert versions_in(store, KeyMaterialTable, "material_wrapped") == {2}
    assert versions_in(store, AccessKeyTable, "secret_wrapped") == {2}
    assert store.root.derive(b"label") == before  # audit macs, tokens: unchanged by rotation
    store.db.dispose()


def test_a_process_that_missed_the_rotation_still_writes_under_the_new_version(settings):
    slow = opened(settings)  # a server that has not seen the rotation yet
    fast = opened(settings)
    root_versions.rotate(fast.db, fast.root, "file", settings.data_dir, fast.kms.clock())
    assert slow.root.current == 1
    make_key(slow)  # its write guard reads the current version in the transaction
    assert slow.root.current == 2
    assert versions_in(slow, KeyMaterialTable, "material_wrapped") == {2}
    slow.db.dispose()
    fast.db.dispose()


def test_a_rewrap_stopped_part_way_is_finished_after_a_restart(settings):
    store = opened(settings)
    for _ in range(5):
        make_key(store)
    root_versions.rotate(store.db, store.root, "file", settings.data_dir, store.kms.clock())
    assert root_versions.rewrap_batch(store.db, store.root, limit=2).moved == 2
    store.db.dispose()  # the command dies here
    restarted = opened(settings)
    counts = root_versions.counts(restarted.db)
    assert counts["kms_key_material.material_wrapped"] == {1: 3, 2: 2}
    steps, cursor = [], root_versions.RewrapCursor()
    while (step := finish_step(restarted.db, restarted.root, restarted.kms.clock, "test", 2, cursor)) is not None:
        steps.append(step)
    assert steps[-1].retired == [1]
    assert root_versions.counts(restarted.db)["kms_key_material.material_wrapped"] == {2: 5}
    restarted.db.dispose()


def test_the_old_root_is_needed_until_retired_and_refused_after(settings):
    store = opened(settings)
    make_key(store)
    root_versions.rotate(store.db, store.root, "file", settings.data_dir, store.kms.clock())
    store.db.dispose()
    old = (settings.data_dir / "root.key").read_bytes()
    (settings.data_dir / "root.key").unlink()
    with pytest.raises(StartupError, match="root.key"):  # values still under v1: it must be there
        opened(settings)
    (settings.data_dir / "root.key").write_bytes(old)
    store = opened(settings)
    while finish_step(store.db, store.root, store.kms.clock, "test") is not None:
        pass
    store.db.dispose()
    (settings.data_dir / "root.key").unlink()
    opened(settings).db.dispose()  # retired: not needed any more
    (settings.data_dir / "root-v2.key").unlink()
    (settings.data_dir / "root.key").write_bytes(old)  # the retired root alone is refused
    with pytest.raises(StartupError, match="root-v2.key"):
        opened(settings)


def test_a_different_key_in_a_versions_place_is_refused(settings):
    store = opened(settings)
    root_versions.rotate(store.db, store.root, "file", settings.data_dir, store.kms.clock())
    store.db.dispose()
    (settings.data_dir / "root-v2.key").write_bytes(base64.b64encode(os.urandom(32)) + b"\n")
    with pytest.raises(StartupError, match="not version 2"):
        opened(settings)


def test_rotation_to_an_environment_variable_and_bad_targets(settings, monkeypatch):
    store = opened(settings)
    with pytest.raises(RootKeyError, match="not set"):
        root_versions.rotate(store.db, store.root, "env:PS_TEST_ROOT_V2", settings.data_dir, store.kms.clock())
    with pytest.raises(RootKeyError, match="unknown root key target"):
        root_versions.rotate(store.db, store.root, "s3://bucket/key", settings.data_dir, store.kms.clock())
    monkeypatch.setenv("PS_TEST_ROOT_V2", base64.b64encode(os.urandom(32)).decode())
    root_versions.rotate(store.db, store.root, "env:PS_TEST_ROOT_V2", settings.data_dir, store.kms.clock())
    while finish_step(store.db, store.root, store.kms.clock, "test") is not None:
        pass
    store.db.dispose()
    assert opened(settings).root.current == 2
    monkeypatch.delenv("PS_TEST_ROOT_V2")
    with pytest.raises(StartupError, match="PS_TEST_ROOT_V2"):
        opened(settings)


def test_no_value_is_readable_in_the_clear_after_rotation(settings):
    store = opened(settings)
    make_key(store)
    root_versions.rotate(store.db, store.root, "file", settings.data_dir, store.kms.clock())
    while finish_step(store.db, store.root, store.kms.clock, "test") is not None:
        pass
    with store.db.session() as session:
        for row in session.exec(select(KeyMaterialTable)).all():
            plain = store.root.unwrap(row.material_wrapped, f"kms_key_material|{row.key_id}|{row.material_id}")
            assert plain not in row.material_wrapped
    store.db.dispose()


def test_a_write_wrapped_under_a_version_retired_before_it_commits_is_moved_not_lost(settings):
    """A server wrapped a value under v1; before its transaction flushed, another process
    rotated, rewrapped and retired v1.  The guard still opens the value with the key it
    held, and writes it under v2."""
    slow = opened(settings)
    fast = opened(settings)
    root_versions.rotate(fast.db, fast.root, "file", settings.data_dir, fast.kms.clock())
    while finish_step(fast.db, fast.root, fast.kms.clock, "test") is not None:
        pass
    assert slow.root.current == 1
    make_key(slow)
    assert versions_in(slow, KeyMaterialTable, "material_wrapped") == {2}
    slow.db.dispose()
    fast.db.dispose()
