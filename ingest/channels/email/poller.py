"""The IMAP feed of one mailbox folder: no mail lost, none twice.

A cycle fetches everything after the watermark (UIDVALIDITY + last UID) in batches and stores
each batch through the pipeline with the watermark that covers it, in one commit; only then
is the mail marked, moved or deleted on the server. The sizes of a batch come first: mail over
`[limits] max_raw_bytes` is refused without its body being fetched (recorded failed, with who
sent it, and marked on the server so that it is not refused again), and the rest is fetched
in FETCHes whose bodies add up to `[imap] batch_bytes` at most, a large mail on its own.
Between cycles the feed waits in IDLE (re-issued before the server's timeout), or sleeps the
poll interval where IDLE is off. The loop, its lock, backoff and health are the shared feed
skeleton's (`ingest.feed`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

from imapclient.exceptions import IMAPClientError

from ingest import pipeline
from ingest.channels.email.imap import REFUSED, Fetched, FolderState, ImapFolder, Sized
from ingest.channels.email.raw import raw_from_bytes
from ingest.feed import Feed, FeedId, PollReport, Tally
from intake import clock
from intake.errors import IntakeError
from intake.runtime import Runtime
from intake.schema import RawMessage
from intake.settings import MailboxSettings

log = logging.getLogger(__name__)

IDLE_SLICE = 2.0  # seconds per IDLE check, so a stop request is seen quickly


class MailboxPoller(Feed):
    """One folder of one `[[mailbox]]`."""

    log = log
    expected = (IntakeError, OSError, IMAPClientError)

    def __init__(
        self,
        runtime: Runtime,
        box: MailboxSettings,
        folder: str,
        *,
        redis: Any = None,
        progress: Callable[[int, int], None] | None = None,
        wait: Callable[[float], Any] | None = None,
    ) -> None:
        key = f"{box.name}/{folder}"
        imap = runtime.settings.imap
        super().__init__(
            runtime,
            FeedId(f"imap:{key}", box.channel, (box.name, folder), (box.channel, key)),
            redis=redis,
            lock_ttl=imap.lock_ttl_seconds,
            interval=box.poll_interval_seconds,
            backoff_max=imap.backoff_max_seconds,
            wait=wait,
        )
        self.box, self.folder_name, self.key = box, folder, key
        self.folder = ImapFolder(box, folder)
        self.progress = progress
        self._executor: ThreadPoolExecutor | None = None
        self._processing: pipeline.Ingested | None = None

    # --- one cycle ---------------------------------------------------------------------------

    def cycle(self, stop: threading.Event | None = None) -> PollReport:
        state = self.folder.select() if self.folder.client else self.folder.open()
        mark = self.load_watermark()
        resynced = False
        if mark is None:
            mark = self._first_run(state)
        elif mark["uidvalidity"] != state.uidvalidity:
            log.warning(
                "%s: UIDVALIDITY changed %s → %s; resyncing (deduplicated by Message-ID)",
                self.key,
                mark["uidvalidity"],
                state.uidvalidity,
            )
            mark, resynced = {"uidvalidity": state.uidvalidity, "uid": 0, "retry": {}}, True
        self._finish_leftovers(mark["uid"])
        tally = Tally()
        self._retry_failed_fetches(mark, state.uidvalidity, tally)
        since = date.fromisoformat(self.box.since) if mark.get("since") else None
        uids = self.folder.uids_after(mark["uid"], since)
        overlap = len(uids) > self.box.fetch_batch  # a backlog: fetch while processing
        for start in range(0, len(uids), self.box.fetch_batch):
            batch = uids[start : start + self.box.fetch_batch]
            self.renew_lock()
            groups = self._admit(batch, state.uidvalidity, tally)
            for n, group in enumerate(groups):
                self.renew_lock()
                stored, raws = self._take(self.folder.fetch(group), state.uidvalidity, mark, tally)
                # the last group covers the refused mail after it, recorded already
                mark = {**mark, "uid": group[-1] if n < len(groups) - 1 else batch[-1]}
                mark.pop("since", None)
                self._store(raws, mark, tally, overlap)  # the watermark moves with the commit
                self.folder.finish(stored)
            if not groups:  # all refused (recorded): the watermark goes past them
                mark = {**mark, "uid": batch[-1]}
                mark.pop("since", None)
                self.save_watermark(mark)
            if self.progress:
                self.progress(len(batch), len(uids))
        self._drain(tally)
        if resynced or not uids:
            self.save_watermark(mark)
        return tally.report(resynced=resynced)

    def _first_run(self, state: FolderState) -> dict[str, Any]:
        """No watermark yet: everything, mail since a date, or only what arrives from now on."""
        mark: dict[str, Any] = {"uidvalidity": state.uidvalidity, "uid": 0, "retry": {}}
        if self.box.first_run == "new":
            mark["uid"] = (state.uidnext or 1) - 1
        elif self.box.first_run == "since":
            mark["since"] = self.box.since
        log.info(
            "%s: first run (%s), starting after UID %s", self.key, self.box.first_run, mark["uid"]
        )
        self.save_watermark(mark)
        return mark

    def _admit(self, uids: list[int], uidvalidity: int, tally: Tally) -> list[list[int]]:
        """The sizes of `uids` first (one FETCH): mail over `max_raw_bytes` is refused and
        recorded without its body being fetched; the rest in groups to fetch, in UID order,
        each within `[imap] batch_bytes` (a mail over `fetch_alone_bytes` alone)."""
        limit = self.runtime.settings.limits.max_raw_bytes
        sized = self.folder.sizes(uids)
        over = [item for item in sized.values() if (item.size or 0) > limit]
        if over:
            self._refuse(over, uidvalidity, limit, tally)
        refused = {item.uid for item in over}
        imap = self.runtime.settings.imap
        return plan_fetches(
            [(uid, sized[uid].size or 0) for uid in uids if uid not in refused],
            imap.batch_bytes,
            imap.fetch_alone_bytes,
        )

    def _refuse(self, over: list[Sized], uidvalidity: int, limit: int, tally: Tally) -> None:
        """Record each mail over the limit failed, with a few header fields (who sent it), then
        mark it on the server; mail marked so before (a resync) is not recorded twice."""
        new = [item for item in over if not item.refused]
        heads = self.folder.headers([item.uid for item in new]) if new else {}
        where = self.box.move_to if self.box.after_ingest == "move" else self.folder_name
        for item in new:
            head = heads.get(item.uid)
            text = (head.payload or b"") if head else b""
            sender = _sender(text)
            error = (
                f"mail of {item.size} bytes is over max_raw_bytes {limit}: refused, not "
                f"fetched; from {sender or '(unknown)'}; kept on the server in "
                f"{self.box.name}/{where}, keyword {REFUSED.decode()}"
            )
            raw = RawMessage(
                channel=self.box.channel,
                source_id=f"imap:{self.key}:{uidvalidity}:{item.uid}",
                payload=b"",  # nothing for `intake retry` to make a complaint of
                received_at=(head.internaldate if head else None) or clock.now(),
                mailbox=self.box.name,
                transport={
                    "mailbox": self.box.name,
                    "folder": self.folder_name,
                    "uidvalidity": uidvalidity,
                    "uid": item.uid,
                    "size": item.size,
                    "refused": "over max_raw_bytes",
                    "from": sender,
                    "headers": text.decode("utf-8", "replace"),
                },
            )
            pipeline.reject(self.runtime, raw, error)
        tally.fetched += len(over)
        tally.failed += len(new)
        tally.duplicates += len(over) - len(new)
        self.folder.refuse([item.uid for item in over])

    def _take(
        self, fetched: Iterable[Fetched], uidvalidity: int, mark: dict[str, Any], tally: Tally
    ) -> tuple[list[int], list[RawMessage]]:
        """The UIDs and raw mails of a fetched batch; a UID without a body is noted in `mark`
        for another try."""
        uids, raws = [], []
        for item in fetched:
            tally.fetched += 1
            if item.payload is None:
                self._note_fetch_failure(mark, item.uid, uidvalidity, "no body returned", tally)
                continue
            uids.append(item.uid)
            raws.append(self._raw(item, uidvalidity))
        return uids, raws

    def _store(
        self, raws: list[RawMessage], mark: dict[str, Any], tally: Tally, overlap: bool = False
    ) -> None:
        """Store `raws` with the watermark `mark` in one commit, then process them: here, or
        (`overlap`) in the background while the next batch is fetched and stored; the batch
        before is waited for then, so one batch at a time is processed, in order."""
        ingested = pipeline.ingest(
            self.runtime,
            raws,
            watermark=self.watermark(mark),
            background=self._background() if overlap else None,
        )
        self._drain(tally)
        if overlap:
            self._processing = ingested
        else:
            self._count(ingested, tally)

    def _drain(self, tally: Tally) -> None:
        """Wait for the batch processing in the background, if any, and count its outcomes."""
        if self._processing is not None:
            ingested, self._processing = self._processing, None
            self._count(ingested, tally)

    def _count(self, ingested: pipeline.Ingested, tally: Tally) -> None:
        try:
            tally.add(ingested.outcomes())
        except Exception:  # stored and pending: the reconciler processes them later
            log.exception("%s: processing a batch failed; it waits for the reconciler", self.key)

    def _background(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"process:{self.key}"
            )
        return self._executor

    def _raw(self, item: Fetched, uidvalidity: int) -> RawMessage:
        return raw_from_bytes(
            item.payload or b"",
            channel=self.box.channel,
            mailbox=self.box.name,
            received_at=item.internaldate,
            transport={
                "mailbox": self.box.name,
                "folder": self.folder_name,
                "uidvalidity": uidvalidity,
                "uid": item.uid,
            },
        )

    def _retry_failed_fetches(self, mark: dict[str, Any], uidvalidity: int, tally: Tally) -> None:
        retry = mark.setdefault("retry", {})
        if not retry:
            return
        uids = sorted(int(uid) for uid in retry)
        groups = self._admit(uids, uidvalidity, tally)
        for uid in set(uids).difference(*groups):  # refused for their size: recorded
            retry.pop(str(uid), None)
        for group in groups:
            stored, raws = self._take(self.folder.fetch(group), uidvalidity, mark, tally)
            for uid in stored:
                retry.pop(str(uid), None)
            self._store(raws, mark, tally)
            self.folder.finish(stored)

    def _note_fetch_failure(
        self, mark: dict[str, Any], uid: int, uidvalidity: int, error: str, tally: Tally
    ) -> None:
        """Retry a UID that could not be fetched a few times, then record it failed and go on."""
        retry = mark.setdefault("retry", {})
        attempts = retry.get(str(uid), 0) + 1
        if attempts < self.runtime.settings.imap.max_fetch_attempts:
            retry[str(uid)] = attempts
            return
        retry.pop(str(uid), None)
        tally.failed += 1
        source_id = f"imap:{self.key}:{uidvalidity}:{uid}"
        raw = RawMessage(
            channel=self.box.channel,
            source_id=source_id,
            payload=b"",
            received_at=clock.now(),
            mailbox=self.box.name,
            transport={"folder": self.folder_name, "uid": uid},
        )
        pipeline.reject(self.runtime, raw, f"fetch failed {attempts} times: {error}")

    def _finish_leftovers(self, last_uid: int) -> None:
        """Mail stored before a crash but not yet marked/moved/deleted on the server."""
        criteria: tuple = {
            "seen": ("UNSEEN",),
            "delete": ("UNKEYWORD", REFUSED.decode()),  # refused mail is kept, never deleted
        }.get(self.box.after_ingest, ())
        leftovers = self.folder.uids_up_to(last_uid, criteria)
        if leftovers:
            log.info(
                "%s: finishing %s mails stored before an interruption", self.key, len(leftovers)
            )
            self.folder.finish(leftovers)

    # --- between cycles --------------------------------------------------------------------------

    def wait_for_more(self, stop: threading.Event) -> None:
        """IDLE until something arrives (re-issued before the server's timeout), else sleep."""
        if not (self.box.idle and self.folder.can_idle):
            self.wait(stop, self.box.poll_interval_seconds)
            return
        deadline = time.monotonic() + self.runtime.settings.imap.idle_renew_seconds
        try:
            self.folder.idle_start()
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    if self.folder.idle_check(IDLE_SLICE):
                        return
                    self.renew_lock()
            finally:
                self.folder.idle_stop()
        except Exception as exc:
            self.folder.close()
            log.info("%s: IDLE ended (%s); reconnecting", self.key, exc)

    def disconnect(self) -> None:
        self.folder.close()

    def close(self) -> None:
        super().close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def plan_fetches(sized: list[tuple[int, int]], budget: int, alone: int) -> list[list[int]]:
    """(UID, size) pairs, in order, cut into FETCHes whose sizes add up to `budget` at most;
    a mail over `alone` (or over the budget by itself) is a FETCH of its own."""
    groups: list[list[int]] = []
    group: list[int] = []
    total, big = 0, False
    for uid, size in sized:
        if group and (big or size > alone or total + size > budget):
            groups.append(group)
            group, total = [], 0
        group.append(uid)
        total, big = total + size, size > alone
    if group:
        groups.append(group)
    return groups


def _sender(headers: bytes) -> str:
    """The address in From (else Reply-To) of a refused mail's header fields, or ""."""
    try:
        fields = BytesHeaderParser(policy=compat32).parsebytes(headers)
        for name in ("From", "Reply-To"):
            for _, address in getaddresses([str(value) for value in fields.get_all(name, [])]):
                if "@" in address:
                    return address[:254]
    except Exception:  # headers this broken say nothing; the size is reason enough
        pass
    return ""


def feeds(runtime: Runtime) -> list[Feed]:
    """One feed per folder of every enabled `[[mailbox]]`."""
    redis = getattr(runtime.broker, "client", None)
    return [
        MailboxPoller(runtime, box, folder, redis=redis)
        for box in runtime.settings.mailbox
        if box.enabled
        for folder in box.all_folders
    ]
