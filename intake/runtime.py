"""The process-wide context of a daemon or worker: settings, database sessions, broker, pool.

A plain record: the entry points (`intake.cli.wiring`, `workers.py`, the tests) build it from
the stages and `install` it; code that runs inside a Dramatiq actor finds it with `get`.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from intake.errors import IntakeError
from intake.settings import Settings

if TYPE_CHECKING:
    from dramatiq import Broker


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    broker: "Broker | None" = None  # None: the work waits in the store for the reconciler
    pool: Executor | None = None  # processes for the pure work of large batches, if any

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
        self.engine.dispose()


_current: Runtime | None = None
_guard = threading.Lock()


def get() -> Runtime:
    """The installed runtime; an `IntakeError` when no entry point has installed one."""
    with _guard:
        if _current is None:
            raise IntakeError("no runtime installed (an entry point builds one at start)")
        return _current


def current() -> Runtime | None:
    with _guard:
        return _current


def install(runtime: Runtime | None) -> Runtime | None:
    """Make `runtime` current (None clears); returns the previous one."""
    global _current
    with _guard:
        previous, _current = _current, runtime
        return previous
