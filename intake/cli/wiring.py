"""Wiring the stages into a `Runtime`: the store, the broker, the channels, the pool.

Every entry point builds its runtime here (the CLI's commands, `intake run`, the Dramatiq
workers), so that no stage has to know how the others are made: the kernel's `Runtime` is a
plain record, and the store, the broker and the channel table are put into it from above.
"""

from __future__ import annotations

import logging

from dramatiq.brokers.redis import RedisBroker

from ingest import channels
from intake.cli import bundled_redis
from intake.errors import ConfigError
from intake.runtime import Runtime, install
from intake.settings import Settings, secret
from outbound.broker import make_broker
from store import migrate
from store.db import make_engine, make_sessions

log = logging.getLogger(__name__)


def runtime_for(settings: Settings, broker: RedisBroker | None = None) -> Runtime:
    """A runtime on the store of `settings` (not migrated, not installed), every channel
    registered."""
    channels.load()
    engine = make_engine(
        settings.store.url,
        password=secret(settings.store.password_env),
        busy_timeout=settings.store.busy_timeout_seconds,
    )
    return Runtime(settings=settings, engine=engine, sessions=make_sessions(engine), broker=broker)


def open_runtime(settings: Settings, *, with_broker: bool = True) -> Runtime:
    """The store (schema checked or upgraded) and, if reachable, the broker; installed."""
    rt = runtime_for(settings)
    prepare_schema(rt)
    if with_broker:
        rt.broker = connect_broker(settings)
    install(rt)
    return rt


def open_daemon_runtime(settings: Settings) -> Runtime:
    """For a daemon (`intake http`, `poll`, `scheduler`): the broker is made whether or not
    Redis answers at start, as `intake run` makes it, so that its locks and enqueues work as
    soon as Redis is back instead of never."""
    rt = runtime_for(settings)
    prepare_schema(rt)
    rt.broker = make_broker(settings, broker_url(settings))
    install(rt)
    return rt


def broker_url(settings: Settings) -> str:
    """`[broker] url`, or the socket of the bundled Redis of the state folder."""
    return settings.broker.url or bundled_redis.url_for(settings.broker.state_dir)


def connect_broker(settings: Settings) -> RedisBroker | None:
    """A broker if one answers; None otherwise (the work waits in the store)."""
    try:
        broker = make_broker(settings, broker_url(settings))
        broker.client.ping()
    except Exception as exc:
        log.info("no broker at %s (%s); the reconciler will enqueue", broker_url(settings), exc)
        return None
    return broker


def prepare_schema(rt: Runtime) -> None:
    """Upgrade the schema when allowed; otherwise refuse to run on an old one."""
    if rt.settings.store.auto_migrate:
        migrate.upgrade(rt.engine)
    elif not migrate.is_current(rt.engine):
        raise ConfigError("the database schema is not current: run `intake db upgrade`")
