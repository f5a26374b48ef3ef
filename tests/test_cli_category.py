"""`intake ticket REF category kvkk|none`: an operator says whether a complaint is a data
subject's request. Set, the 30-day `kvkk_answer` clock runs from the complaint's receipt and
is its answer due; cleared, the clock stops as met (its row kept); both are events."""

from __future__ import annotations

from datetime import timedelta

from tests.test_cli_lifecycle import (
    RECEIVED,
    by_name,
    clocks_json,
    inject,
    instant,
    intake,  # noqa: F401 (the fixture)
    ok,
    show,
)


def test_an_operator_sets_and_clears_the_kvkk_category(intake):  # noqa: F811
    ref = inject(intake, "plain_tr.eml")
    later = RECEIVED + timedelta(days=2)
    assert show(intake, ref, later)["category"] is None

    done = ok(intake("ticket", ref, "category", "kvkk", "--operator", "ayse", now=later))
    assert done.startswith(f"{ref}: category done")
    shown = show(intake, ref, later)
    assert shown["category"] == "kvkk"
    kvkk = by_name(clocks_json(intake, ref, now=later), ref)["kvkk_answer"]
    assert instant(kvkk["started_at"]) == RECEIVED  # from receipt, not from the correction
    assert instant(kvkk["due_at"]) == RECEIVED + timedelta(days=30)
    assert kvkk["state"] == "running"
    assert instant(shown["due_at"]) == RECEIVED + timedelta(days=30)  # the answer due
    [event] = [e for e in shown["events"] if e["kind"] == "category_set"]
    assert event["detail"] == {"who": "operator:ayse", "was": None, "now": "kvkk"}

    ok(intake("ticket", ref, "category", "none", "--operator", "ayse", now=later))
    shown = show(intake, ref, later)
    assert shown["category"] is None
    assert instant(shown["due_at"]) == RECEIVED + timedelta(days=1)  # the ETA's again
    kvkk = by_name(shown["clocks"], ref)["kvkk_answer"]  # kept, stopped
    assert (kvkk["state"], instant(kvkk["met_at"])) == ("met", later)
    assert [e["detail"]["now"] for e in shown["events"] if e["kind"] == "category_set"] == [
        "kvkk",
        None,
    ]

    refused = intake("ticket", ref, "category", "gdpr", now=later)
    assert refused.returncode == 1 and "kvkk or none" in refused.stderr
