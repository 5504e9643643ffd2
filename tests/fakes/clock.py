"""A clock tests set by hand: `clock.now = ...`, and code under test calls `clock()`."""

from __future__ import annotations


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
