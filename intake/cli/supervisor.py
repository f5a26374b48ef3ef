"""`intake run`: start everything configured, stop all of it cleanly on SIGINT/SIGTERM.

The bundled Redis when `[broker] url` is empty (this process owns it), the Dramatiq worker
processes (`dramatiq workers`, restarted if they die), and the reconciler. Children get
SIGTERM from the kernel if this process dies (PR_SET_PDEATHSIG): no orphan is left behind.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from console import site
from ingest import channels, feed
from ingest.prepare import start_pool
from ingest.reconciler import ReconcilerThread
from ingest.webhooks import HttpServer
from intake import runtime
from intake.cli import bundled_redis, scheduler
from intake.cli.wiring import prepare_schema, runtime_for
from intake.errors import ConfigError
from intake.runtime import Runtime
from intake.settings import Settings, missing_secrets
from outbound.broker import make_broker

log = logging.getLogger(__name__)

WORKER_STOP_SECONDS = 30
EX_TEMPFAIL = 75  # sysexits.h: try again later


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stopping = threading.Event()
        self.redis: bundled_redis.BundledRedis | None = None
        self.workers: subprocess.Popen[bytes] | None = None
        self.reconciler: ReconcilerThread | None = None
        self.pollers: list[threading.Thread] = []
        self.http: HttpServer | None = None
        self.probes: HttpServer | None = None
        self.exit_code = 0
        self.runtime: Runtime | None = None

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self._start()
            self._watch()
        finally:
            self._shutdown()
        return self.exit_code

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        self.stopping.set()

    def _start(self) -> None:
        settings = self.settings
        missing = missing_secrets(settings)
        if missing:  # refused now, rather than failing complaint after complaint
            raise ConfigError("not set in the environment: " + "; ".join(missing))
        self.runtime = runtime_for(settings)
        prepare_schema(self.runtime)
        url = settings.broker.url
        if not url:
            self.redis = bundled_redis.BundledRedis(settings.broker.state_dir)
            url = self.redis.start()
        self.runtime.broker = make_broker(settings, url)
        runtime.install(self.runtime)
        self.runtime.pool = start_pool(settings)  # now, so the first big batch does not wait
        self.broker_url = url
        self.workers = self._spawn_workers()
        self.reconciler = ReconcilerThread(self.runtime, settings.broker.reconcile_every_seconds)
        self.reconciler.start()
        feeds = [f for spec in channels.load() if spec.feeds for f in spec.feeds(self.runtime)]
        feeds += scheduler.feeds(self.runtime)  # the clocks, on the same skeleton
        self.pollers = feed.start(feeds, self.stopping)
        if feeds:
            log.info("polling %s feeds: %s", len(feeds), ", ".join(f.ident.name for f in feeds))
        if settings.http.enabled:
            self.http = HttpServer(self.runtime, app=site.app(self.runtime))
            self.http.start()
        if settings.http.enabled and settings.console.metrics_listen:
            self.probes = HttpServer(
                self.runtime,
                app=site.probe_app(self.runtime),
                listen=settings.console.metrics_listen,
            )
            self.probes.start()
        print(banner(settings, url), flush=True)

    def _spawn_workers(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "dramatiq",
            "workers",
            "--processes",
            str(self.settings.broker.worker_processes),
            "--threads",
            str(self.settings.broker.worker_threads),
        ]
        env = dict(
            os.environ, INTAKE_BROKER_URL=self.broker_url, INTAKE_STORE_URL=self.settings.store.url
        )
        if Path(self.settings.source).is_file():
            env["INTAKE_CONFIG"] = str(Path(self.settings.source).resolve())
        process = subprocess.Popen(
            command, env=env, preexec_fn=bundled_redis.die_with_parent, stdin=subprocess.DEVNULL
        )
        log.info("dramatiq workers started (pid %s)", process.pid)
        return process

    def _watch(self) -> None:
        restarts = 0
        http_reported = False
        while not self.stopping.wait(1.0):
            if self.workers is not None and self.workers.poll() is not None:
                restarts += 1
                delay = min(60, 2**restarts)
                log.error(
                    "dramatiq workers exited (%s); restarting in %ss",
                    self.workers.returncode,
                    delay,
                )
                if self.stopping.wait(delay):
                    break
                self.workers = self._spawn_workers()
            if self.http is not None and not self.http.is_alive() and not http_reported:
                http_reported = True  # e.g. the port is taken; the other channels go on
                log.error(
                    "HTTP server on %s is not running; web form and webhooks are down",
                    self.settings.http.listen,
                )
            if (
                self.redis is not None
                and self.redis.process
                and self.redis.process.poll() is not None
            ):
                log.error("bundled Redis died; stopping (the store keeps every complaint)")
                self.exit_code = EX_TEMPFAIL  # a failure: systemd's Restart=on-failure restarts
                break

    def _shutdown(self) -> None:
        self.stopping.set()
        for server in (self.http, self.probes):
            if server is not None:
                server.stop()
                server.join(timeout=15)
        for thread in self.pollers:
            thread.join(timeout=30)
        if self.reconciler is not None:
            self.reconciler.stop()
            self.reconciler.join(timeout=30)
        if self.workers is not None and self.workers.poll() is None:
            self.workers.send_signal(signal.SIGTERM)  # Dramatiq finishes or requeues its work
            try:
                self.workers.wait(WORKER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log.error("dramatiq workers did not stop in %ss; killing", WORKER_STOP_SECONDS)
                self.workers.kill()
                self.workers.wait()
        if self.redis is not None:
            self.redis.stop()
        if self.runtime is not None:
            self.runtime.close()
        log.info("stopped")


def banner(settings: Settings, broker_url: str) -> str:
    from intake.privacy import redact_url  # passwords in the URLs stay off the terminal

    units = ", ".join(unit.code for unit in settings.unit)
    return "\n".join(
        [
            f"intake is running (settings: {settings.source})",
            f"  store:  {redact_url(settings.store.url)}",
            f"  broker: {redact_url(broker_url)}",
            f"  units:  {units}",
            f"  polled: {', '.join(b.name for b in settings.mailbox if b.enabled) or 'no mailbox enabled'}",
            f"  http:   {'http://' + settings.http.listen if settings.http.enabled else 'off'}",
            f"  mail:   {'SMTP ' + settings.smtp.host if settings.smtp.host else 'written to ' + settings.smtp.outbox_dir}",
            "Feed it mail from another terminal:  intake inject path/to/mail.eml",
            "            (SSL problem address):   intake inject --mailbox ssl path/to/mail.eml",
            "Watch it:  intake status      Stop it:  Ctrl-C",
        ]
    )
