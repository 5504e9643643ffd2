"""The database worker: the one thread where request work that touches the database runs.

Requests the caches can answer (Encrypt, Decrypt, GetParameter...) run on the event loop;
anything that has to wait on the database runs here, so a locked table or a stalled
PostgreSQL delays only the requests that need it, while cached requests, `/health` and
`/health/ready` keep answering.  One thread, not a pool: the caches are dropped and
refilled only here (kms_core/storage/session.py, NeedsDatabase), so the loop never reads a
cache half-way through a refill, and the Parameter Store's hot-path connections
(paramstore/ssm/hotpath.py) have one user.  Scale past one thread with more processes on
one PostgreSQL database.  Every statement waits at most the database timeout
(Settings.db_timeout_seconds), so nothing queues here for ever."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable


class DatabaseWorker:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paramstore-db")

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
