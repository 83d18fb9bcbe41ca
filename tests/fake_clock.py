"""A clock that moves only when a test moves it (``clock.now += 1.5``)."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds, as ``time.monotonic``; starts at ``start``."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
