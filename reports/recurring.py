"""The recurring complaints of a period, for `intake recurring` and the monthly report: the
store query lives in `handling.recurring` (the console reads it too, and may not read
reports/); its names stay importable from here."""

from __future__ import annotations

from handling.recurring import LEFT_OUT, load_items, local_span, recurring_between

__all__ = ["LEFT_OUT", "load_items", "local_span", "recurring_between"]
