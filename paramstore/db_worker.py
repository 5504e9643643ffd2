"""The database worker: the one thread where request work that touches the database runs.

Requests the caches can answer (Encrypt, Decrypt, GetParameter...) run on the event loop;
anything that has to wait on the database runs here, so a locked table or a stalled
PostgreSQL delays only the requests that need it, while cached requests, `/health` and
`/health/ready` keep answering.  One thread, not a pool: the caches are dropped and
refilled only here while it has work (kms_core/storage/session.py, NeedsDatabase), so the
loop never reads a cache half-way through a refill, and the Parameter Store's hot-path
connections (paramstore/ssm/storage/hot_sql.py) have one user at a time.

On SQLite, while the worker is idle, the loop runs database work itself (a thread
hand-off costs more CPU than a whole PutParameter), with busy_timeout 0: if the write lock
is taken, the statement fails at once, nothing has committed, and the request goes to the
worker, which waits.  So a locked SQLite still holds up only what needs it.  Scale past
one thread with more processes on one PostgreSQL database.  Every statement waits at most the database timeout
(Settings.db_timeout_seconds), so nothing queues here for ever."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable


class DatabaseWorker:
    def __init__(self, db: Any = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paramstore-db")
        self._db = db
        self._pending = 0  # kept on the event loop's thread only

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` on the worker.  While anything is queued or running here, the loop
        leaves the database (and the caches it fills) to the worker."""
        self._pending += 1
        self._set_busy()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._pending -= 1
            self._set_busy()

    def _set_busy(self) -> None:
        if self._db is not None:
            self._db.worker_busy = self._pending > 0

    def close(self) -> None:
        self._executor.shutdown(wait=True)
