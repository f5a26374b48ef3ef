"""`intake ticket CMP-… <action> …` and `intake clocks`: an operator acting on a complaint,
and the clocks at a glance.

The actions are the units' mail commands (same syntax, same checks, `normalize.commands`)
taken as an operator, plus what an operator may record for a complainant who answered by
phone (`accept`, `reject`, `rate N`), `close`, and `category kvkk|none` (whether it is a
data subject's request, with its 30-day clock). `show` prints the state, the category, the
events, the clocks and the survey answer.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handling import actions, clocks, inbound
from handling.actions import Act, Refused
from intake import clock
from intake.cli.wiring import connect_broker, open_runtime
from intake.lifecycle import Actor
from intake.settings import Settings
from outbound import jobs
from routing.kvkk import CATEGORY as KVKK
from store.models import ComplaintRow, EventRow, NoticeRow

ANSWERS = ("accept", "reject", "close", "rate")
ACTIONS = (*inbound.TYPED, *ANSWERS, "category", "show")
CATEGORIES = {"kvkk": KVKK, "none": None}
# What `show` prints under the heading, when set.
SHOWN = ("category", "received_at", "eta_at", "resolved_at", "closed_at", "merged_into", "decision")


def add_parsers(sub: Any) -> None:
    cmd = sub.add_parser("ticket", help="act on a complaint as an operator, or show it")
    cmd.add_argument("reference", help="CMP-YYYY-NNNNNN")
    cmd.add_argument("action", choices=ACTIONS)
    cmd.add_argument("words", nargs="*", help="the action's argument (a date, a text, a unit…)")
    cmd.add_argument("--json", action="store_true", help="show: as JSON")
    cmd.add_argument("--operator", help="who acts (default: the login name)")
    cmd.set_defaults(handler=ticket)

    cmd = sub.add_parser("clocks", help="the clocks of every complaint, or of one")
    cmd.add_argument("reference", nargs="?")
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=list_clocks)


def ticket(args: argparse.Namespace, settings: Settings) -> int:
    rt = open_runtime(settings, with_broker=False)
    try:
        if args.action == "show":
            return _show(rt.sessions, args, settings)
        with rt.sessions.begin() as session:
            complaint = _complaint(session, args.reference)
            act = Act(
                session,
                settings,
                complaint,
                Actor.OPERATOR,
                f"operator:{args.operator or getpass.getuser()}",
                source=f"cli:{uuid.uuid4().hex}",
            )
            _act(act, args.action, " ".join(args.words).strip(), settings)
            status = complaint.status
            work = list(act.work)
        if work:  # the broker only now: a refused action has nothing to send
            rt.broker = connect_broker(settings)
            jobs.dispatch(rt, work)
        print(f"{args.reference}: {args.action} done; status {status}; {len(work)} message(s) owed")
        return 0
    except Refused as exc:
        print(f"intake: {args.reference}: {exc}", file=sys.stderr)
        return 1
    finally:
        rt.close()


def _act(act: Act, action: str, words: str, settings: Settings) -> None:
    if action in inbound.TYPED:
        inbound.apply_typed(act, action, words)
    elif action == "accept":
        actions.accept(act)
    elif action == "reject":
        actions.reject(act)
    elif action == "close":
        actions.close(act)
    elif action == "rate":
        if not (words.isdigit() and 1 <= int(words) <= 5):
            raise Refused("rate takes one digit from 1 to 5")
        actions.rate(act, int(words))
    elif action == "category":
        if words.lower() not in CATEGORIES:
            raise Refused("category takes kvkk or none")
        actions.set_category(act, CATEGORIES[words.lower()])


def _complaint(session: Session, reference: str) -> ComplaintRow:
    found = session.scalars(
        select(ComplaintRow).where(ComplaintRow.reference == reference.upper())
    ).one_or_none()
    if found is None:
        raise Refused("no such complaint")
    return found


def _show(sessions: Any, args: argparse.Namespace, settings: Settings) -> int:
    with sessions() as session:
        complaint = _complaint(session, args.reference)
        shown = describe(session, complaint)
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        return 0
    print(
        f"{shown['reference']}  {shown['status']}  unit {shown['unit']}  ({shown['product']}, {shown['kind']})"
    )
    for key in SHOWN:
        if shown.get(key):
            print(f"  {key}: {shown[key]}")
    if shown["satisfaction"] is not None:
        print(f"  satisfaction: {shown['satisfaction']} ({shown['satisfaction_at']})")
    print("clocks:")
    for item in shown["clocks"]:
        print(f"  {item['name']:<16} {item['state']:<9} due {item['due_at']}")
    print("events:")
    for event in shown["events"]:
        print(f"  {event['at']}  {event['kind']:<18} {event['actor']}")
    return 0


def describe(session: Session, complaint: ComplaintRow) -> dict[str, Any]:
    """A complaint as `show --json` prints it."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    events = session.scalars(
        select(EventRow).where(EventRow.complaint_id == complaint.id).order_by(EventRow.id)
    )
    notices = session.scalars(
        select(NoticeRow).where(NoticeRow.complaint_id == complaint.id).order_by(NoticeRow.id)
    )
    return {
        "reference": complaint.reference,
        "status": complaint.status,
        "unit": complaint.unit,
        "product": complaint.product,
        "kind": complaint.kind,
        "category": complaint.category,
        "channel": complaint.channel,
        "received_at": iso(complaint.received_at),
        "due_at": iso(complaint.due_at),
        "eta_at": iso(complaint.eta_at),
        "decision": complaint.decision,
        "resolved_at": iso(complaint.resolved_at),
        "closed_at": iso(complaint.closed_at),
        "merged_into": complaint.merged_into,
        "satisfaction": complaint.satisfaction,
        "satisfaction_at": iso(complaint.satisfaction_at),
        "clocks": [c.to_json() for c in clocks.listing(session, clock.now(), complaint.reference)],
        "events": [
            {"kind": e.kind, "at": iso(e.at), "actor": e.actor, "detail": e.detail} for e in events
        ],
        "notices": [
            {
                "purpose": n.purpose,
                "audience": n.audience,
                "state": n.state,
                "sent_at": iso(n.sent_at),
            }
            for n in notices
        ],
    }


def list_clocks(args: argparse.Namespace, settings: Settings) -> int:
    rt = open_runtime(settings, with_broker=False)
    try:
        with rt.sessions() as session:
            listed = clocks.listing(session, clock.now(), args.reference)
    finally:
        rt.close()
    if args.json:
        print(json.dumps([item.to_json() for item in listed], ensure_ascii=False, indent=2))
        return 0
    for item in listed:
        print(f"{item.reference}  {item.name:<16} {item.state:<9} due {item.due_at.isoformat()}")
    return 0
