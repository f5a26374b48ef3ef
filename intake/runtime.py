"""The process-wide context of a daemon or worker: settings, database sessions, broker.

Built lazily from the settings file on first use; tests install their own with `install`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from intake import settings as settings_module
from intake.settings import Settings
from store.db import make_engine, make_sessions

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from dramatiq.brokers.redis import RedisBroker


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    broker: "RedisBroker | None" = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _pool: Any = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, broker: "RedisBroker | None" = None) -> "Runtime":
        engine = make_engine(settings.store.url)
        return cls(settings=settings, engine=engine, sessions=make_sessions(engine), broker=broker)

    def prepare_pool(self) -> ProcessPoolExecutor | None:
        """The process pool for the pure work of large batches, if `[ingest] processes` > 1."""
        if self.settings.ingest.processes < 2:
            return None
        with self._lock:
            if self._pool is None:
                from ingest.prepare import make_pool, warm

                self._pool = make_pool(self.settings, self.settings.ingest.processes)
                warm(self._pool)
            return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self.engine.dispose()


_current: Runtime | None = None
_guard = threading.Lock()


def get() -> Runtime:
    """The installed runtime, or one built from the settings file on first use."""
    global _current
    with _guard:
        if _current is None:
            _current = Runtime.from_settings(settings_module.load())
        return _current


def install(runtime: Runtime | None) -> Runtime | None:
    """Make `runtime` current (None clears); returns the previous one."""
    global _current
    with _guard:
        previous, _current = _current, runtime
        return previous
