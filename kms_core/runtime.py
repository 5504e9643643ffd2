"""The injectable parts of the environment: clocks (and, through crypto/, randomness).

`clock` drives key lifecycle dates (deletion windows, rotation schedules) and can be a
`FakeClock` in tests; `wall_clock` is the real time used to judge SigV4 request dates,
which come from the client's real clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


class FakeClock:
    """A settable clock for tests: `advance(days=31)` moves key lifecycles forward."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = 0.0, days: float = 0.0) -> None:
        self.now += seconds + days * 86_400


@dataclass
class Runtime:
    clock: Callable[[], float] = field(default=time.time)
    wall_clock: Callable[[], float] = field(default=time.time)
