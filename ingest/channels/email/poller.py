"""The IMAP poller of one mailbox folder: no mail lost, none twice.

`run_once()` fetches everything after the watermark (UIDVALIDITY + last UID) in batches,
stores each mail raw through the pipeline, advances the watermark only after that commit, and
only then marks, moves or deletes the mail on the server. `run_forever()` waits in IDLE (or
sleeps the poll interval), reconnects with exponential backoff and jitter, and holds a Redis
lock so that two `intake run` instances never poll one folder at the same time.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from ingest import pipeline
from ingest.channels.email import raw_from_bytes
from ingest.channels.email.imap import Fetched, FolderState, ImapFolder
from ingest.locks import FeedLock
from intake.runtime import Runtime
from intake.schema import RawMessage
from intake.settings import MailboxSettings
from store import health, repo

log = logging.getLogger(__name__)

IDLE_SLICE = 2.0  # seconds per IDLE check, so a stop request is seen quickly


@dataclass(frozen=True)
class PollReport:
    fetched: int = 0
    created: int = 0
    duplicates: int = 0
    failed: int = 0
    resynced: bool = False
    skipped: str | None = None  # why nothing was done (the lock is held elsewhere)


class MailboxPoller:
    def __init__(self, runtime: Runtime, box: MailboxSettings, folder: str, *,
                 redis: Any = None, progress: Callable[[int, int], None] | None = None) -> None:
        self.runtime, self.box, self.folder_name = runtime, box, folder
        self.key = f"{box.name}/{folder}"
        self.folder = ImapFolder(box, folder)
        self.progress = progress
        self.failures = 0
        self.outage_since: float | None = None
        self.lock = FeedLock(redis, f"imap:{self.key}", runtime.settings.imap.lock_ttl_seconds)
        self._executor: ThreadPoolExecutor | None = None
        self._processing: Future[list[pipeline.Outcome]] | None = None

    # --- one cycle ---------------------------------------------------------------------------

    def run_once(self) -> PollReport:
        """Fetch, store and finish everything new; raises on connection or login failure."""
        if not self._hold_lock():
            self.folder.close()
            return PollReport(skipped="another instance holds the lock")
        try:
            state = self.folder.select() if self.folder.client else self.folder.open()
            report = self._cycle(state)
        except Exception as exc:
            self.folder.close()
            self._record_failure(exc)
            raise
        self._record_success(report)
        return report

    def _cycle(self, state: FolderState) -> PollReport:
        mark = self._load_watermark()
        resynced = False
        if mark is None:
            mark = self._first_run(state)
        elif mark["uidvalidity"] != state.uidvalidity:
            log.warning("%s: UIDVALIDITY changed %s → %s; resyncing (deduplicated by Message-ID)",
                        self.key, mark["uidvalidity"], state.uidvalidity)
            mark, resynced = {"uidvalidity": state.uidvalidity, "uid": 0, "retry": {}}, True
        self._finish_leftovers(mark["uid"])
        counts = self._retry_failed_fetches(mark, state.uidvalidity)
        since = date.fromisoformat(self.box.since) if mark.get("since") else None
        uids = self.folder.uids_after(mark["uid"], since)
        overlap = len(uids) > self.box.fetch_batch  # a backlog: fetch while processing
        for start in range(0, len(uids), self.box.fetch_batch):
            batch = uids[start:start + self.box.fetch_batch]
            self._renew_lock()
            stored = self._ingest(self.folder.fetch(batch), state.uidvalidity, mark, counts,
                                  overlap)
            mark = {**mark, "uid": batch[-1]}
            mark.pop("since", None)
            self._save_watermark(mark)  # only after the raw mails are committed
            self.folder.finish(stored)
            if self.progress:
                self.progress(len(batch), len(uids))
        self._drain(counts)
        if resynced or not uids:
            self._save_watermark(mark)
        return PollReport(fetched=counts["fetched"], created=counts["created"],
                          duplicates=counts["duplicates"], failed=counts["failed"],
                          resynced=resynced)

    def _first_run(self, state: FolderState) -> dict[str, Any]:
        """No watermark yet: everything, mail since a date, or only what arrives from now on."""
        mark: dict[str, Any] = {"uidvalidity": state.uidvalidity, "uid": 0, "retry": {}}
        if self.box.first_run == "new":
            mark["uid"] = (state.uidnext or 1) - 1
        elif self.box.first_run == "since":
            mark["since"] = self.box.since
        log.info("%s: first run (%s), starting after UID %s", self.key, self.box.first_run,
                 mark["uid"])
        self._save_watermark(mark)
        return mark

    def _ingest(self, fetched: Iterable[Fetched], uidvalidity: int, mark: dict[str, Any],
                counts: dict[str, int], overlap: bool = False) -> list[int]:
        """Store a fetched batch (committed on return) and process it; the UIDs stored.

        With `overlap`, processing runs in the background while the next batch is fetched
        (one batch at a time, in order); the raw mail is committed either way.
        """
        stored, raws = [], []
        for item in fetched:
            counts["fetched"] += 1
            if item.payload is None:
                self._note_fetch_failure(mark, item.uid, uidvalidity, "no body returned", counts)
                continue
            stored.append(item.uid)
            raws.append(self._raw(item, uidvalidity))
        new_ids = []
        for result in pipeline.store_all(self.runtime, raws):
            if isinstance(result, int):
                new_ids.append(result)
            else:
                counts["duplicates"] += 1
        self._drain(counts)
        if overlap:
            self._processing = self._background().submit(self._process, new_ids)
        else:
            self._tally(self._process(new_ids), counts)
        return stored

    def _process(self, raw_ids: list[int]) -> list[pipeline.Outcome]:
        try:
            return list(pipeline.process_batch(self.runtime, raw_ids).values())
        except Exception:  # stored and pending: the reconciler processes them later
            log.exception("%s: processing a batch failed; it waits for the reconciler",
                          self.key)
            return []

    def _drain(self, counts: dict) -> None:
        """Wait for the batch processing in the background, if any, and count its outcomes."""
        if self._processing is not None:
            future, self._processing = self._processing, None
            self._tally(future.result(), counts)

    @staticmethod
    def _tally(outcomes: list[pipeline.Outcome], counts: dict) -> None:
        for outcome in outcomes:
            counts[_COUNTED.get(outcome.status, "created")] += 1

    def _background(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix=f"process:{self.key}")
        return self._executor

    def _raw(self, item: Fetched, uidvalidity: int) -> RawMessage:
        return raw_from_bytes(
            item.payload or b"", channel=self.box.channel, mailbox=self.box.name,
            received_at=item.internaldate,
            transport={"mailbox": self.box.name, "folder": self.folder_name,
                       "uidvalidity": uidvalidity, "uid": item.uid},
        )

    def _retry_failed_fetches(self, mark: dict, uidvalidity: int) -> dict[str, int]:
        counts = {"fetched": 0, "created": 0, "duplicates": 0, "failed": 0}
        retry = mark.setdefault("retry", {})
        if retry:
            uids = sorted(int(uid) for uid in retry)
            stored = self._ingest(self.folder.fetch(uids), uidvalidity, mark, counts)
            for uid in stored:
                retry.pop(str(uid), None)
            self._save_watermark(mark)
            self.folder.finish(stored)
        return counts

    def _note_fetch_failure(self, mark: dict, uid: int, uidvalidity: int, error: str,
                            counts: dict) -> None:
        """Retry a UID that could not be fetched a few times, then record it failed and go on."""
        retry = mark.setdefault("retry", {})
        attempts = retry.get(str(uid), 0) + 1
        if attempts < self.runtime.settings.imap.max_fetch_attempts:
            retry[str(uid)] = attempts
            return
        retry.pop(str(uid), None)
        counts["failed"] += 1
        source_id = f"imap:{self.key}:{uidvalidity}:{uid}"
        raw = RawMessage(channel=self.box.channel, source_id=source_id, payload=b"",
                         received_at=repo.utcnow(), mailbox=self.box.name,
                         transport={"folder": self.folder_name, "uid": uid})
        pipeline.reject(self.runtime, raw, f"fetch failed {attempts} times: {error}")

    def _finish_leftovers(self, last_uid: int) -> None:
        """Mail stored before a crash but not yet marked/moved/deleted on the server."""
        criteria = ("UNSEEN",) if self.box.after_ingest == "seen" else ()
        leftovers = self.folder.uids_up_to(last_uid, criteria)
        if leftovers:
            log.info("%s: finishing %s mails stored before an interruption", self.key,
                     len(leftovers))
            self.folder.finish(leftovers)

    # --- watermark, lock, health ------------------------------------------------------------

    def _load_watermark(self) -> dict[str, Any] | None:
        with self.runtime.sessions() as session:
            return repo.get_watermark(session, self.box.channel, self.key)

    def _save_watermark(self, mark: dict[str, Any]) -> None:
        with self.runtime.sessions.begin() as session:
            repo.set_watermark(session, self.box.channel, self.key, mark)

    def _hold_lock(self) -> bool:
        return self.lock.hold()

    def _renew_lock(self) -> None:
        try:
            self.lock.renew()
        except Exception:  # lost it (expired and taken): stop polling this round
            log.warning("%s: lost the polling lock", self.key)
            raise

    def release(self) -> None:
        self.folder.close()
        self.lock.release()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _record_success(self, report: PollReport) -> None:
        if self.outage_since is not None:
            log.warning("%s: reachable again after %s failures (%.0f s)", self.key,
                        self.failures, time.monotonic() - self.outage_since)
        self.failures, self.outage_since = 0, None
        health.record_success(self.runtime.sessions, self.box.name, self.folder_name,
                              self.box.channel, report.fetched)

    def _record_failure(self, exc: Exception) -> None:
        self.failures += 1
        if self.outage_since is None:  # an outage is logged once, with its end
            self.outage_since = time.monotonic()
            log.error("%s: %s; retrying with backoff", self.key, exc)
        health.record_failure(self.runtime.sessions, self.box.name, self.folder_name,
                              self.box.channel, f"{type(exc).__name__}: {exc}", self.failures)

    # --- the loop ------------------------------------------------------------------------------

    def backoff(self) -> float:
        """Exponential backoff with full jitter, capped."""
        cap = self.runtime.settings.imap.backoff_max_seconds
        return random.uniform(0.5, 1.0) * min(cap, 2 ** min(self.failures, 16))

    def run_forever(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    report = self.run_once()
                except Exception:
                    stop.wait(self.backoff())
                    continue
                if report.skipped:
                    stop.wait(self.box.poll_interval_seconds)
                    continue
                self._wait_for_mail(stop)
        finally:
            self.release()

    def _wait_for_mail(self, stop: threading.Event) -> None:
        """IDLE until something arrives (re-issued before the server's timeout), else sleep."""
        if not (self.box.idle and self.folder.can_idle):
            stop.wait(self.box.poll_interval_seconds)
            return
        deadline = time.monotonic() + self.runtime.settings.imap.idle_renew_seconds
        try:
            self.folder.idle_start()
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    if self.folder.idle_check(IDLE_SLICE):
                        return
                    self._renew_lock()
            finally:
                self.folder.idle_stop()
        except Exception as exc:
            self.folder.close()
            log.info("%s: IDLE ended (%s); reconnecting", self.key, exc)


_COUNTED = {"created": "created", "duplicate": "duplicates", "failed": "failed",
            "auto_submitted": "created", "followup": "created"}


def start_pollers(runtime: Runtime, stop: threading.Event) -> list[threading.Thread]:
    """One thread per enabled mailbox folder; one broken mailbox never stops the others."""
    redis = getattr(runtime.broker, "client", None)
    threads = []
    for box in runtime.settings.mailbox:
        if not box.enabled:
            continue
        for folder in box.all_folders:
            poller = MailboxPoller(runtime, box, folder, redis=redis)
            thread = threading.Thread(target=poller.run_forever, args=(stop,),
                                      name=f"imap:{poller.key}", daemon=True)
            thread.start()
            threads.append(thread)
    if threads:
        log.info("polling %s mailbox folders", len(threads))
    return threads
