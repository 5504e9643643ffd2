"""ParameterStore: the long-lived state one server process holds for the SSM operations.

Reads are answered from an in-memory cache of parameter rows, versions and labels; it is
dropped whenever the parameters' change epoch moves (a write by this process or by any
other process sharing the database — kms_core/storage/session.py), so a cache hit is never
stale.  Writes run in `write()` transactions that bump only the parameters' epoch: a
parameter write does not empty the KMS key cache.

Time-driven parameter policies (Expiration, ExpirationNotification, NoChangeNotification)
are carried out by `process_due()` (storage/repository.py), their audit records committed
in the same transaction.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional

from kms_core.port import InProcessKms, KmsPort
from paramstore.epoch_cache import MAX_CACHED, EpochCache
from paramstore.ssm.envelope import SSM_KEYS
from paramstore.ssm.storage.hot_sql import HotSql, ParamRow, VersionRow
from paramstore.ssm.storage.repository import ParameterRepository, Txn
from paramstore.ssm.storage.tables import ParameterTable, ParameterVersionTable, ServiceSettingTable

if TYPE_CHECKING:
    from kms_core.service import KmsCore

#: the position of the parameters' epoch in the change token (kms_core/storage/session.py EPOCHS)
_TOKEN_INDEX = 1


class ParameterStore(EpochCache):
    def __init__(self, kms: "KmsCore") -> None:
        super().__init__(kms, _TOKEN_INDEX)
        #: all the Parameter Store asks of KMS (kms_core/port.py)
        self.kms_port: KmsPort = InProcessKms(kms, SSM_KEYS)
        self.sql = HotSql(kms.db)
        self.rows = ParameterRepository(kms.db)
        self._params: dict[tuple[str, str, str], Optional[ParameterTable]] = self._cache()
        self._versions: dict[tuple[int, int], Optional[ParameterVersionTable]] = self._cache()
        self._labels: dict[int, dict[str, int]] = self._cache()
        self._tags: dict[tuple[str, str, str], dict[str, str]] = self._cache()
        self._settings: dict[tuple[str, str, str], Optional[ServiceSettingTable]] = self._cache()
        #: listing pages (rows, not values) by query: repeated GetParametersByPath calls
        #: at startup of many app instances cost no SQL until something changes
        self._pages: dict[tuple, list] = self._cache()
        #: (parameter id, version) -> data key already opened (paramstore/ssm/envelope.py)
        self._data_keys: dict[tuple[int, int], bytes] = self._cache()

    # --- cache coherence ------------------------------------------------------------------
    def wrote(self, epoch: Optional[int], param: ParamRow, version: VersionRow, dropped: int) -> None:
        """After this process's put committed as parameters epoch `epoch`: if nothing else
        changed since the caches were current, keep them and write the new rows through
        (the next read of this parameter is a hit); otherwise drop them."""
        if epoch is None or self._token != epoch - 1:
            self.changed()
            return
        self._token = epoch
        self._pages.clear()
        if self._next_due is not None:  # an earlier due time only moves it forward (a later
            # one may leave a stale, earlier _next_due: that costs one sweep that finds nothing)
            due = [t for t in (param.expires_at, param.expiration_notice_at, param.no_change_notice_at)
                   if t is not None]
            self._next_due = min([self._next_due, *due])
        self._remember(self._params, (param.account_id, param.region, param.canonical), param)
        self._tags.pop((param.account_id, param.region, param.canonical), None)  # created with tags
        self._remember(self._versions, (param.id, version.version), version)
        if dropped > 0:
            self._versions.pop((param.id, dropped), None)

    @contextmanager
    def write(self, service_events: Optional[list] = None) -> Iterator[Txn]:
        with self.rows.write(service_events) as session:
            yield session
        self.changed()

    # --- reads ----------------------------------------------------------------------------
    def parameter(self, account_id: str, region: str, canonical: str) -> Optional[ParameterTable]:
        """The live parameter (None if absent or past its expiration)."""
        key = (account_id, region, canonical)
        try:
            row = self._params[key]
        except KeyError:
            row = self.sql.parameter(account_id, region, canonical)
            self._remember(self._params, key, row)
        if row is not None and row.expires_at is not None and self.clock() >= row.expires_at:
            return None
        return row

    def version(self, param: ParameterTable, version: int) -> Optional[ParameterVersionTable]:
        key = (param.id, version)
        try:
            return self._versions[key]
        except KeyError:
            pass
        row = self.sql.version(param.id, version)
        self._remember(self._versions, key, row)
        return row

    def labels(self, param: ParameterTable) -> dict[str, int]:
        """label -> version for one parameter."""
        try:
            return self._labels[param.id]
        except KeyError:
            pass
        labels = self.rows.labels(param.id)
        self._remember(self._labels, param.id, labels)
        return labels

    def tags(self, account_id: str, region: str, canonical: str) -> dict[str, str]:
        """A live parameter's tags ({} when it does not exist), for aws:ResourceTag."""
        key = (account_id, region, canonical)
        try:
            return self._tags[key]
        except KeyError:
            pass
        param = self.parameter(account_id, region, canonical)
        tags = self.rows.tags(param.id) if param is not None else {}
        self._remember(self._tags, key, tags)
        return tags

    def setting_row(self, account_id: str, region: str, setting_id: str) -> Optional[ServiceSettingTable]:
        key = (account_id, region, setting_id)
        if key not in self._settings:
            self._settings[key] = self.rows.setting_row(account_id, region, setting_id)
        return self._settings[key]

    def setting(self, account_id: str, region: str, setting_id: str) -> Optional[str]:
        """A service setting's value if changed from its default, else None."""
        row = self.setting_row(account_id, region, setting_id)
        return row.value if row is not None else None

    def count_parameters(self, account_id: str, region: str, tier: str) -> int:
        return self.rows.count_parameters(account_id, region, tier)

    def data_keys(self) -> dict:
        if len(self._data_keys) >= MAX_CACHED:
            self._data_keys.clear()
        return self._data_keys

    def page(self, key: tuple, load) -> list:
        """A listing page's rows, from the cache or `load()`."""
        try:
            return self._pages[key]
        except KeyError:
            rows = load()
            self._remember(self._pages, key, rows)
            return rows

    def remember_rows(self, rows: list[ParameterTable], versions: list[ParameterVersionTable]) -> None:
        """Rows a listing query already read, so the next GetParameter of one is a cache hit."""
        for row in rows:
            self._remember(self._params, (row.account_id, row.region, row.canonical), row)
        for version in versions:
            self._remember(self._versions, (version.parameter_id, version.version), version)

    # --- time-driven policies -------------------------------------------------------------
    def _load_next_due(self) -> float:
        return self.sql.next_due()

    def process_due(self) -> None:
        """Carry out the parameter policies that are due (storage/repository.py)."""
        self.rows.fire_due_policies(self.clock())
        self.changed()
