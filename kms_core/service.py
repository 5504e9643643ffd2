"""KmsCore: the long-lived state one server process holds for the KMS operations.

It owns the in-memory caches (unwrapped keys, alias targets, access keys) and keeps them
honest: `sync()` runs at the start of every request and drops every cache as soon as the
database reports a commit from anywhere (storage/session.py explains how that check stays
cheap).  It also carries out time-driven transitions (deletion at the end of the waiting
period, automatic rotation, expiry of imported key material) the moment the clock passes
their date, and a background task calls `sync()` periodically so they also happen on an
idle server.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

from kms_core.audit import AuditEvent
from kms_core.crypto.key_import import WrappingKeyCache
from kms_core.crypto.root import RootKeyring
from kms_core.domain import limits
from kms_core.domain.arn import key_arn, key_id_of_row
from kms_core.domain.model import KeyState, KeyWithMaterial, Origin, RotationType
from kms_core.identity.store import IdentityStore
from kms_core.policy.evaluate import CompiledPolicy, compile_policy
from kms_core.protocol.awsjson import new_request_id
from kms_core.protocol.page_tokens import PageTokens
from kms_core.runtime import Runtime
from kms_core.service_keys import ServiceKeys
from kms_core.storage import repository
from kms_core.storage.session import Database
from kms_core.storage.tables import KeyTable
from kms_core.storage.unit_of_work import UnitOfWork, reading, writing


_MAX_CACHED_KEYS = 100_000


def _nothing() -> None:
    pass


class KmsCore:
    #: the key cache's hits and misses, told to whoever counts them (paramstore/metrics.py)
    on_key_cache_hit: Callable[[], None] = staticmethod(_nothing)
    on_key_cache_miss: Callable[[], None] = staticmethod(_nothing)

    def __init__(self, db: Database, root: RootKeyring, runtime: Runtime) -> None:
        self.db = db
        self.root = root
        self.runtime = runtime
        self.clock: Callable[[], float] = runtime.clock
        self.identities = IdentityStore(db, root, runtime.wall_clock)
        self.identities.compile_policy = lambda text: compile_policy(text, resource_policy=False)
        #: seals the Marker / NextToken of every listing (protocol/page_tokens.py)
        self.page_tokens = PageTokens(root)
        self._keys: dict[str, Optional[KeyWithMaterial]] = {}
        self._aliases: dict[tuple[str, str, str], Optional[str]] = {}
        self._token: object = object()
        #: the whole change token of the latest sync(), for other caches to compare theirs
        self.last_token: tuple = ()
        self._next_due: Optional[float] = None  # None = unknown, recompute
        self._listeners: list[Callable[[], None]] = []
        self.service_keys = ServiceKeys(self)
        #: RSA wrapping key pairs for GetParametersForImport (crypto/key_import.py says why)
        self.wrapping_keys = WrappingKeyCache()

    # --- cache coherence ----------------------------------------------------------------
    def on_change(self, listener: Callable[[], None]) -> None:
        """Register another cache (e.g. the parameter store's) to drop on any change."""
        self._listeners.append(listener)

    def sync(self) -> None:
        self.last_token = token = self.db.change_token()
        if token[0] != self._token:
            self.db.off_loop()  # caches are dropped and refilled on the database worker only
            self._drop_caches()
            self._token = token[0]
        if self._next_due is None:
            with reading(self.db, self.root) as work:
                due = work.keys.next_due_time()
            self._next_due = math.inf if due is None else due
        if self.clock() >= self._next_due:
            self.process_due()

    def changed(self) -> None:
        """Call after this process commits a change: caches go now, not on the next sync."""
        self._drop_caches()
        self._token = object()

    def _drop_caches(self) -> None:
        self._keys.clear()
        self._aliases.clear()
        self._next_due = None
        self.identities.clear_cache()
        for listener in self._listeners:
            listener()

    # --- reads --------------------------------------------------------------------------
    @staticmethod
    def _compile_key_policy(text: str) -> Optional[CompiledPolicy]:
        try:
            return compile_policy(text, resource_policy=True)
        except Exception:  # stored policies were validated; if one can't compile, it allows nothing
            return CompiledPolicy(text, ())

    def key(self, row_id: str) -> Optional[KeyWithMaterial]:
        """The key stored as `row_id` (domain/arn.py `row_id_for`) with its unwrapped
        materials; misses are cached too (None), so blobs naming unknown keys can't make
        every request a database query."""
        try:
            entry = self._keys[row_id]
        except KeyError:
            self.on_key_cache_miss()
            with reading(self.db, self.root) as work:
                entry = work.keys.load(row_id, self._compile_key_policy)
            if len(self._keys) >= _MAX_CACHED_KEYS:
                self._keys.clear()
            self._keys[row_id] = entry
        else:
            self.on_key_cache_hit()
        if entry is not None and entry.key.origin == Origin.EXTERNAL:
            return self._without_lapsed_material(entry)
        return entry

    def _without_lapsed_material(self, entry: KeyWithMaterial) -> KeyWithMaterial:
        """An imported key whose ValidTo has passed is served as PendingImport with no
        material, even before process_due has deleted the material (AWS: expired key
        material is unusable at once).  So is one whose material rows are gone while its
        row says otherwise (e.g. a deletion cancelled after DeleteImportedKeyMaterial)."""
        key = entry.key
        lapsed = key.valid_to is not None and key.valid_to <= self.clock()
        if not lapsed and (key.current_material_id in entry.materials or key.state == KeyState.PENDING_IMPORT):
            return entry
        pending = (KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION)
        state = key.state if key.state in pending else KeyState.PENDING_IMPORT
        return dataclasses.replace(
            entry, key=dataclasses.replace(key, state=state, expiration_model=None, valid_to=None),
            materials={}, materials_by_raw_id={})

    def alias_target(self, account_id: str, region: str, alias_name: str) -> Optional[str]:
        cache_key = (account_id, region, alias_name)
        if cache_key in self._aliases:
            return self._aliases[cache_key]
        with reading(self.db, self.root) as work:
            row = work.aliases.get(account_id, region, alias_name)
            target = row.target_key_id if row else None
        self._aliases[cache_key] = target
        return target

    # --- time-driven transitions -------------------------------------------------------
    def process_due(self) -> None:
        """Delete keys whose waiting period ended; rotate keys whose rotation date came;
        delete imported key material whose ValidTo passed (the key becomes PendingImport)."""
        now = self.clock()
        events: list[AuditEvent] = []
        with writing(self.db, self.root, service_events=events) as work:
            keys = work.keys
            for key_id in keys.due_for_deletion(now):
                row = keys.locked(key_id)
                if (row is not None and row.key_state == KeyState.PENDING_DELETION
                        and row.deletion_date is not None and row.deletion_date <= now):
                    events.append(_service_event(row, "DeleteKey", now))
                    keys.delete_everywhere(key_id)
                    if row.multi_region:
                        _start_primary_deletion(work, row, now, events)
            for key_id in keys.due_for_rotation(now):
                row = keys.locked(key_id)
                if (row is None or not row.rotation_enabled or row.key_state != KeyState.ENABLED
                        or row.next_rotation_date is None or row.next_rotation_date > now):
                    continue
                keys.rotate(row, now, RotationType.AUTOMATIC)
                events.append(_service_event(row, "RotateKey", now, {"rotationType": RotationType.AUTOMATIC}))
                repository.schedule_rotation(row, now, row.rotation_period_days or limits.DEFAULT_ROTATION_PERIOD_DAYS)
                keys.save(row)
            for key_id in keys.with_lapsed_material(now):
                row = keys.locked(key_id)
                if row is not None and row.valid_to is not None and row.valid_to <= now:
                    events.append(_service_event(row, "DeleteExpiredKeyMaterial", now))
                    keys.delete_imported_material(row)
        self.changed()


def _start_primary_deletion(work: UnitOfWork, deleted: KeyTable, now: float, events: list[AuditEvent]) -> None:
    """A multi-Region replica is gone: if it was the last one of a primary waiting in
    PendingReplicaDeletion, the primary's own waiting period starts now (AWS)."""
    related = work.keys.related(key_id_of_row(deleted.key_id))
    if len(related) != 1 or related[0].key_state != KeyState.PENDING_REPLICA_DELETION:
        return
    primary = related[0]
    primary.key_state = KeyState.PENDING_DELETION
    window = primary.pending_window_days or limits.DEFAULT_PENDING_WINDOW_DAYS
    primary.deletion_date = now + window * limits.DAY_SECONDS
    work.keys.save(primary)
    events.append(_service_event(primary, "ScheduleKeyDeletion", now))


def _service_event(row: KeyTable, name: str, now: float, detail: Optional[dict] = None) -> AuditEvent:
    """What KMS did by itself to a key (as CloudTrail records it: by the service)."""
    return AuditEvent(event_time=now, request_id=new_request_id(), event_source="kms.amazonaws.com",
                      event_name=name, region=row.region, account_id=row.account_id,
                      principal_arn="kms.amazonaws.com",
                      resources=[key_arn(row.region, row.account_id, key_id_of_row(row.key_id))], detail=detail)
