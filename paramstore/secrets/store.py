"""SecretStore: the long-lived state one server process holds for Secrets Manager.

Reads come from an in-memory cache of secret rows, labels, versions and compiled resource
policies; it is dropped whenever the secrets' change epoch moves (a write by this process
or by any other process sharing the database: kms_core/storage/session.py), so a hit is
never stale.  Writes run in `write()` transactions that bump only the secrets' epoch.
Scheduled deletions and rotations are carried out by `sync()` once due, whichever process
gets there first (the due rows are locked and moved on in one transaction, with the
service's own audit records).
"""

from __future__ import annotations

import json
import math
import uuid
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Iterator, Optional

from kms_core.audit import AuditEvent
from kms_core.policy.evaluate import CompiledPolicy, compile_policy
from kms_core.port import InProcessKms, KmsPort
from kms_core.protocol.awsjson import new_request_id
from kms_core.storage.session import SECRETS_EPOCH
from paramstore.epoch_cache import MAX_CACHED, EpochCache
from paramstore.secrets.envelope import SECRETS_KEYS
from paramstore.secrets.rotation.runner import RotationJob, RotationRunner
from paramstore.secrets.rotation.schedule import next_rotation
from paramstore.secrets.rotation.targets import RotationTargets
from paramstore.secrets.storage import repository
from paramstore.secrets.storage.repository import Txn
from paramstore.secrets.storage.tables import SecretRow, SecretTable, SecretVersionTable, VersionRow

if TYPE_CHECKING:
    from kms_core.service import KmsCore

#: the position of the secrets' epoch in the change token (kms_core/storage/session.py EPOCHS)
_TOKEN_INDEX = SECRETS_EPOCH - 1


class SecretStore(EpochCache):
    def __init__(self, kms: "KmsCore", rotation_targets: Optional[RotationTargets] = None) -> None:
        super().__init__(kms, _TOKEN_INDEX)
        #: what a RotationLambdaARN may name (rotation/targets.py), and who runs rotations
        self.rotation_targets = rotation_targets or RotationTargets()
        self.rotations = RotationRunner(self)
        #: all Secrets Manager asks of KMS (kms_core/port.py)
        self.kms_port: KmsPort = InProcessKms(kms, SECRETS_KEYS)
        self._secrets: dict[tuple[str, str, str], Optional[SecretRow]] = self._cache()
        self._stages: dict[int, dict[str, str]] = self._cache()
        self._versions: dict[tuple[int, str], Optional[VersionRow]] = self._cache()
        #: compiled by policy text, which no write changes: kept across epochs
        self._policies: dict[str, CompiledPolicy] = {}
        self._listings: dict[tuple, list] = self._cache()
        #: (secret id, version id) -> data key already opened (paramstore/secrets/envelope.py)
        self._data_keys: dict[tuple[int, str], object] = self._cache()

    # --- writes ---------------------------------------------------------------------------
    @contextmanager
    def write(self, service_events: Optional[list] = None) -> Iterator[Txn]:
        """A write transaction of the secrets, carrying the request's audit record."""
        with self.db.write(SECRETS_EPOCH, service_events) as session:
            yield session
        self.changed()

    # --- reads ----------------------------------------------------------------------------
    def secret(self, account_id: str, region: str, name: str) -> Optional[SecretRow]:
        """The secret of that name, live or scheduled for deletion."""
        key = (account_id, region, name)
        try:
            return self._secrets[key]
        except KeyError:
            pass
        with self.db.session() as session:
            found = repository.find_secret(session, account_id, region, name)
        row = SecretRow.of(found) if found is not None else None
        self._remember(self._secrets, key, row)
        return row

    def stages(self, secret: SecretRow) -> dict[str, str]:
        """label -> version id."""
        try:
            return self._stages[secret.id]
        except KeyError:
            pass
        with self.db.session() as session:
            stages = repository.stages_of(session, secret.id)
        self._remember(self._stages, secret.id, stages)
        return stages

    def version(self, secret: SecretRow, version_id: str) -> Optional[VersionRow]:
        key = (secret.id, version_id)
        try:
            return self._versions[key]
        except KeyError:
            pass
        with self.db.session() as session:
            found = repository.version_of(session, secret.id, version_id)
        row = VersionRow.of(found) if found is not None else None
        self._remember(self._versions, key, row)
        return row

    def versions(self, secret: SecretRow) -> list[SecretVersionTable]:
        """Every version, oldest first (listings: not cached)."""
        with self.db.session() as session:
            return repository.versions_of(session, secret.id)

    def all_secrets(self, account_id: str, region: str) -> list[SecretRow]:
        with self.db.session() as session:
            return [SecretRow.of(row) for row in repository.secrets_in(session, account_id, region)]

    def stages_of_many(self, secrets: list) -> None:
        """Load the labels of a listing page in one query (not one per secret)."""
        missing = [s.id for s in secrets if s.id not in self._stages]
        if missing:
            with self.db.session() as session:
                for secret_id, stages in repository.stages_for(session, missing).items():
                    self._remember(self._stages, secret_id, stages)

    def touch(self, secret: SecretRow, version: Optional[VersionRow], day: float) -> None:
        """Record LastAccessedDate without moving the secrets' epoch: it changes no value
        and no decision, so no cache anywhere must drop for it (one write per secret and
        day, not one cache flush in every process).  This process's copies are updated;
        another's show the new day once its caches drop for another reason (AWS calls the
        date approximate too)."""
        with self.db.write_session() as session:
            repository.set_last_accessed(session, secret.id, version.version_id if version else None, day)
            session.commit()
        key = (secret.account_id, secret.region, secret.name)
        if self._secrets.get(key) is secret:
            self._secrets[key] = replace(secret, last_accessed_date=day)
        if version is not None and self._versions.get((secret.id, version.version_id)) is version:
            self._versions[(secret.id, version.version_id)] = replace(version, last_accessed_date=day)
        self._listings.clear()  # they may sort or show by LastAccessedDate

    def listing(self, key: tuple, load) -> list:
        """A listing's filtered, sorted rows, from the cache or `load()`: the pages after
        the first cost no query and no sort until something changes."""
        try:
            return self._listings[key]
        except KeyError:
            rows = load()
            self._remember(self._listings, key, rows)
            return rows

    def policy(self, text: str) -> CompiledPolicy:
        """A stored resource policy, compiled once (it was validated when put)."""
        compiled = self._policies.get(text)
        if compiled is None:
            try:
                compiled = compile_policy(text, resource_policy=True)
            except Exception:  # can't compile: it allows nothing
                compiled = CompiledPolicy(text, ())
            if len(self._policies) >= 1024:
                self._policies.clear()
            self._policies[text] = compiled
        return compiled

    def data_keys(self) -> dict:
        if len(self._data_keys) >= MAX_CACHED:
            self._data_keys.clear()
        return self._data_keys

    # --- the service's own work -----------------------------------------------------------
    def _load_next_due(self) -> float:
        with self.db.session() as session:
            due = repository.next_due(session)
        return math.inf if due is None else due

    def process_due(self) -> None:
        """Delete the secrets whose recovery window has ended, and start the rotations whose
        schedule came due (a new empty AWSPENDING version each, as RotateSecret makes; a
        rotation left half done is attempted again with its own version)."""
        now = self.clock()
        events: list[AuditEvent] = []
        jobs: list[RotationJob] = []
        with self.write(events) as session:
            for row in repository.due_deletions(session, now):
                events.append(_service_event(now, "EndSecretDeletion", row,
                                             {"name": row.name, "deletionDate": row.deleted_date}))
                repository.delete_secret_rows(session, row.id)
            for row in repository.due_rotations(session, now):
                if not row.rotation_enabled or row.deleted_date is not None or not row.rotation_rules:
                    row.next_rotation_date = None  # nothing to run (kept so only while rotation is on)
                    session.add(row)
                    continue
                row.next_rotation_date = next_rotation(json.loads(row.rotation_rules), now)
                session.add(row)
                stages = repository.stages_of(session, row.id)
                token = stages.get("AWSPENDING")
                if token is None or token == stages.get("AWSCURRENT"):
                    token = str(uuid.uuid4())
                    pending = {**stages, "AWSPENDING": token}
                    if (repository.count_versions(session, row.id) >= repository.MAX_VERSIONS
                            and not repository.purge_deprecated(session, row, pending, now, refuse=False)):
                        events.append(_service_event(now, "RotationFailed", row, {
                            "failedStep": "createSecret", "reason": "the secret has too many versions"}))
                        continue  # tried again at the next scheduled time
                    row.version_seq += 1
                    session.add(SecretVersionTable(secret_id=row.id, version_id=token, seq=row.version_seq,
                                                   created_date=now))
                    repository.replace_stages(session, row.id, stages, pending)
                events.append(_service_event(now, "RotationStarted", row, {"versionId": token, "scheduled": True}))
                jobs.append(RotationJob(row.account_id, row.region, row.name, row.arn, token,
                                        row.rotation_lambda_arn or ""))
        for job in jobs:
            self.rotations.submit(job)


def _service_event(now: float, name: str, row: SecretTable, detail: dict) -> AuditEvent:
    return AuditEvent(event_time=now, request_id=new_request_id(), event_source="secretsmanager.amazonaws.com",
                      event_name=name, region=row.region, account_id=row.account_id,
                      principal_arn="secretsmanager.amazonaws.com", resources=[row.arn], detail=detail)
