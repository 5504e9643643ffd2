"""EpochCache: the cache coherence the Parameter Store and Secrets Manager share.

A store's caches are dropped whenever its change epoch moves (a write by this process or
by any other process sharing the database: kms_core/storage/session.py), so a hit is never
stale; its time-driven work runs once the clock passes the earliest due time, read again
after every drop.  It imports nothing of the project, so both stores may build on it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from kms_core.service import KmsCore

#: entries a cache holds before it is emptied (a bound on memory, not an eviction policy)
MAX_CACHED = 50_000


class EpochCache(ABC):
    def __init__(self, kms: "KmsCore", token_index: int) -> None:
        """`token_index`: the position of this store's epoch in `kms.last_token`."""
        self.kms = kms
        self.db = kms.db
        self.clock = kms.clock
        self._token_index = token_index
        self._token: object = object()
        self._caches: list[dict] = []
        self._next_due: Optional[float] = None

    def _cache(self) -> dict[Any, Any]:
        """A new cache, emptied whenever the epoch moves."""
        cache: dict[Any, Any] = {}
        self._caches.append(cache)
        return cache

    def sync(self) -> None:
        """After kms.sync(): drop the caches if this store's epoch moved; run what is due."""
        last = self.kms.last_token
        token = last[self._token_index] if len(last) > self._token_index else None
        if token != self._token:
            self.db.off_loop()  # caches are dropped and refilled on the database worker only
            self._drop()
            self._token = token
        if self._next_due is None:
            self._next_due = self._load_next_due()
        if self.clock() >= self._next_due:
            self.process_due()

    def changed(self) -> None:
        self._drop()
        self._token = object()

    def _drop(self) -> None:
        for cache in self._caches:
            cache.clear()
        self._next_due = None

    def _remember(self, cache: dict, key: object, value: object) -> None:
        if len(cache) >= MAX_CACHED:
            cache.clear()
        cache[key] = value

    @abstractmethod
    def _load_next_due(self) -> float:
        """When the earliest due work falls due (math.inf: none)."""

    @abstractmethod
    def process_due(self) -> None:
        """Carry out the work that is due."""
