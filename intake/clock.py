"""The one clock the code reads: `now()`, an aware UTC datetime.

Every deadline, stamp and "received now" in the flow comes from here, never from
`datetime.now()`, so that a test can set the time and the suite gives the same answers at any
hour of any day. `FakeClock` is that test clock: fixed, or ticking on from a chosen start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

Source = Callable[[], datetime]


def wall() -> datetime:
    """The machine's clock, in UTC."""
    return datetime.now(timezone.utc)


_source: Source = wall
_guard = threading.Lock()


def now() -> datetime:
    """The current time of the flow (the wall clock unless a test has set another)."""
    return _source()


def use(source: Source | None) -> Source:
    """Make `source` the clock (None: the wall clock again); returns the one it replaces."""
    global _source
    with _guard:
        previous, _source = _source, source or wall
        return previous


class FakeClock:
    """A controllable clock: starts at `start`; with `ticking`, it moves on with real time
    (so waits and orderings still work), else it stands still until `set`."""

    def __init__(self, start: datetime, *, ticking: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start time")
        self._at, self._ticking = start.astimezone(timezone.utc), ticking
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            if not self._ticking:
                return self._at
            return self._at + timedelta(seconds=time.monotonic() - self._since)

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (aware); a ticking clock goes on from there."""
        if moment.tzinfo is None:
            raise ValueError("FakeClock.set needs an aware time")
        with self._lock:
            self._at, self._since = moment.astimezone(timezone.utc), time.monotonic()
