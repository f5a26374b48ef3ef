"""`intake status`: what operators need at a glance, from the store and the broker.

Queue depth per unit (waiting, delayed for retry, dead in the broker), complaints by status,
deliveries and acknowledgements by state, failed raw items and recorded dead letters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from intake.broker import broker_url
from intake.jobs import ACK_QUEUE
from intake.runtime import Runtime
from store.models import ComplaintRow, DeadLetterRow, RawMessageRow


def collect(runtime: Runtime) -> dict[str, Any]:
    with runtime.sessions() as session:
        def count_by(column) -> dict[str, int]:  # type: ignore[no-untyped-def]
            rows = session.execute(select(column, func.count()).group_by(column)).all()
            return {str(key): n for key, n in rows}

        report = {
            "store": runtime.engine.url.render_as_string(hide_password=True),
            "complaints": count_by(ComplaintRow.status),
            "delivery": count_by(ComplaintRow.delivery_state),
            "acknowledgement": count_by(ComplaintRow.ack_state),
            "raw_messages": count_by(RawMessageRow.status),
            "dead_letters": session.scalar(
                select(func.count()).select_from(DeadLetterRow)
                .where(DeadLetterRow.requeued_at.is_(None))
            ),
        }
    report["broker"] = broker_url(runtime.settings)
    report["queues"] = queue_depths(runtime)
    return report


def queue_depths(runtime: Runtime) -> dict[str, dict[str, int]] | str:
    """Per queue: waiting, delayed (retry backoff) and dead (broker's own dead-letter queue)."""
    broker = runtime.broker
    if broker is None:
        return "broker not connected"
    queues = [unit.queue for unit in runtime.settings.unit] + [ACK_QUEUE]
    prefix, client = broker.namespace, broker.client
    try:
        return {
            name: {
                "waiting": client.hlen(f"{prefix}:{name}.msgs"),
                "delayed": client.hlen(f"{prefix}:{name}.DQ.msgs"),
                "dead": client.zcard(f"{prefix}:{name}.XQ"),
            }
            for name in queues
        }
    except Exception as exc:  # redis down: say so, show the rest
        return f"broker unreachable: {exc}"


def render(report: dict[str, Any]) -> str:
    lines = [f"store:  {report['store']}", f"broker: {report['broker']}", ""]
    queues = report["queues"]
    if isinstance(queues, str):
        lines.append(f"queues: {queues}")
    else:
        lines.append(f"{'queue':40} {'waiting':>8} {'delayed':>8} {'dead':>6}")
        for name, depth in queues.items():
            lines.append(
                f"{name:40} {depth['waiting']:>8} {depth['delayed']:>8} {depth['dead']:>6}"
            )
    lines.append("")
    for title in ("complaints", "delivery", "acknowledgement", "raw_messages"):
        counts = report[title] or {"-": 0}
        lines.append(f"{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    failed = report["raw_messages"].get("failed", 0)
    lines.append(f"failed raw items: {failed}" + ("  (intake retry)" if failed else ""))
    dead = report["dead_letters"]
    lines.append(f"dead letters: {dead}" + ("  (intake dead-letters)" if dead else ""))
    return "\n".join(lines)
