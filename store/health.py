"""Poll health of every polled feed (IMAP folders, Telegram updates, X mentions and DMs).

One row per feed: last attempt, last success, consecutive failures, last error. The pollers
record each cycle here; `intake status` reads it (and warns about a stale SSL box).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from intake import clock
from store.models import PollStatusRow

log = logging.getLogger(__name__)


def status_row(session: Session, feed: str, folder: str, channel: str) -> PollStatusRow:
    row = session.get(PollStatusRow, (feed, folder))
    if row is None:
        row = PollStatusRow(
            mailbox=feed, folder=folder, channel=channel, consecutive_failures=0, messages_total=0
        )
        session.add(row)
    return row


def record_success(
    sessions: sessionmaker[Session], feed: str, folder: str, channel: str, fetched: int
) -> None:
    with sessions.begin() as session:
        row = status_row(session, feed, folder, channel)
        row.last_attempt_at = row.last_success_at = clock.now()
        row.consecutive_failures = 0
        row.messages_total += fetched


def record_failure(
    sessions: sessionmaker[Session], feed: str, folder: str, channel: str, error: str, failures: int
) -> None:
    """Best effort: a store that is down too must not hide the poller's own error."""
    try:
        with sessions.begin() as session:
            row = status_row(session, feed, folder, channel)
            row.last_attempt_at = row.last_error_at = clock.now()
            row.last_error, row.consecutive_failures = error[:2000], failures
    except Exception:
        log.debug("%s/%s: could not record the failure", feed, folder, exc_info=True)
