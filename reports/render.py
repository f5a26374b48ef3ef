"""The report to management as one self-contained HTML file, and the same as a PDF.

The charts are matplotlib SVG (Agg backend, a fixed `svg.hashsalt`, no date), written inline
into the Jinja2 template with the style sheet, so `report.html` asks for nothing outside
itself (no script, font, style sheet or image to fetch) and the same store gives the same
bytes. WeasyPrint renders that HTML to PDF with pango and the DejaVu fonts, which have every
Turkish letter. Words are Turkish with the English beside them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from intake.schema import KIND_NAMES, PRODUCT_NAMES
from reports.figures import DIMENSIONS, Report, Verdict
from reports.tables import group_numbers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SVG_SALT = "intake-report"  # fixed ids in the SVG: the same figures give the same file
COLOURS = ("#1f4e79", "#8faadc", "#c9c9c9")  # the period, the one before, a year before
VERDICT_COLOURS = {
    "on_time": "#2e7d32",
    "late": "#f9a825",
    "breached": "#c62828",
    "running": "#90a4ae",
}

DIMENSION_TITLES = {
    "channel": "Kanallara göre başvurular / Intake by channel",
    "product": "Ürünlere göre başvurular / Intake by product",
    "unit": "Birimlere göre başvurular / Intake by unit",
    "kind": "Türlerine göre başvurular / Intake by kind",
    "category": "Kategoriye göre başvurular / Intake by category",
}
CHANNEL_NAMES = {
    "email": "E-posta / E-mail",
    "email_ssl": "SSL problem adresi / SSL problem address",
    "telegram": "Telegram",
    "twitter": "X",
    "webform": "Web formu / Web form",
    "phone": "Telefon / Phone",
    "cimer": "CİMER",
    "tubimer": "TÜBİMER",
    "face_to_face": "Yüz yüze / In person",
}
KIND_EN = {"complaint": "Complaint", "request": "Request", "suggestion": "Suggestion"}
CATEGORY_NAMES = {"kvkk": "KVKK başvurusu / KVKK request", "none": "Genel / General"}
CLOCK_NAMES = {
    "eta_notice": "Tahmini süre bildirimi / ETA notice",
    "ssl_preliminary": "SSL ön raporu / SSL preliminary report",
    "cimer_answer": "CİMER yanıtı / CİMER answer",
    "kvkk_answer": "KVKK yanıtı / KVKK answer",
    "resolution": "Çözüm / Resolution",
}
MEASURE_NAMES = {
    "business": "iş saati / working hours",
    "wall": "saat / wall clock",
    "calendar": "takvim / calendar",
}
VERDICT_NAMES = {
    "on_time": "Zamanında / On time",
    "late": "Geç / Late",
    "breached": "Aşıldı / Breached",
    "running": "Sürüyor / Running",
}
STATUS_NAMES = {
    "received": "Alındı / Received",
    "acknowledged": "Bildirildi / Acknowledged",
    "assigned": "Atandı / Assigned",
    "investigating": "İnceleniyor / Investigating",
    "waiting_on_complainant": "Başvurandan bekleniyor / Waiting on complainant",
    "reopened": "Yeniden açıldı / Reopened",
    "resolved": "Karara bağlandı / Resolved",
    "closed": "Kapandı / Closed",
    "merged": "Birleştirildi / Merged",
    "not_a_complaint": "Şikâyet değil / Not a complaint",
}

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def html(report: Report) -> str:
    """The report as one HTML document, charts inline."""
    zone = ZoneInfo(report.timezone)
    return TEMPLATES.get_template("report.html").render(
        r=report,
        dimensions=[(d, DIMENSION_TITLES[d], dimension_rows(report, d)) for d in DIMENSIONS],
        charts=charts(report),
        groups=group_numbers(report),
        names={"clock": CLOCK_NAMES, "measure": MEASURE_NAMES, "verdict": VERDICT_NAMES},
        status=STATUS_NAMES,
        product=PRODUCT_NAMES,
        verdicts=[v.value for v in Verdict],
        when=lambda moment: moment.astimezone(zone).strftime("%d.%m.%Y %H:%M") if moment else "—",
        hours=lambda value: "—" if value is None else f"{value:.1f}",
        share=lambda value: "—" if value is None else f"{value:.0%}",
    )


def pdf(document: str) -> bytes:
    """The same document as PDF (WeasyPrint; the fonts are the system's DejaVu)."""
    import weasyprint  # loads pango: only when a PDF is made

    return bytes(weasyprint.HTML(string=document).write_pdf())


def label(dimension: str, value: str, report: Report) -> str:
    """A value as management reads it: the product's name, the unit's, Turkish / English."""
    if dimension == "channel":
        return CHANNEL_NAMES.get(value, value)
    if dimension == "product":
        return PRODUCT_NAMES.get(value, value)
    if dimension == "unit":
        return report.unit_names.get(value, value)
    if dimension == "kind":
        return f"{KIND_NAMES[value]} / {KIND_EN[value]}" if value in KIND_NAMES else value
    return CATEGORY_NAMES.get(value, value)


def dimension_rows(report: Report, dimension: str) -> list[tuple[str, str, list[int]]]:
    """(value, label, [the period, the one before, a year before]) by the period's count."""
    values = set().union(*(i.by[dimension] for i in report.intake))
    rows = [
        (v, label(dimension, v, report), [i.by[dimension][v] for i in report.intake])
        for v in values
    ]
    return sorted(rows, key=lambda row: (-row[2][0], row[0]))


def charts(report: Report) -> dict[str, Markup]:
    """The inline SVG charts, by name (matplotlib loads only when a report is made: every
    `intake` command imports this module, through the scheduler's mailing)."""
    import matplotlib

    matplotlib.use("Agg")  # no display; the figures are drawn by the SVG canvas anyway
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT, "font.family": "DejaVu Sans"}):
        found = {d: _compared(report, dimension_rows(report, d)) for d in ("channel", "product")}
        found["clocks"] = _clocks(report)
        found["satisfaction"] = _scores(report)
    return found


def _compared(report: Report, rows: Sequence[tuple[str, str, list[int]]]) -> Markup:
    """Horizontal bars of the period beside the one before and a year before."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 0.45 * max(len(rows), 2) + 1.0))
    axes = figure.subplots()
    names = [row[1] for row in rows][::-1]
    for index, intake in enumerate(report.intake):
        values = [row[2][index] for row in rows][::-1]
        offsets = [y + (1 - index) * 0.27 for y in range(len(rows))]
        axes.barh(offsets, values, height=0.26, color=COLOURS[index], label=intake.period.label)
    axes.set_yticks(range(len(rows)), names, fontsize=8)
    axes.legend(fontsize=8, loc="lower right")
    return _svg(figure)


def _clocks(report: Report) -> Markup:
    """One stacked bar per clock: on time, late, breached, running."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 0.5 * max(len(report.clocks), 2) + 1.0))
    axes = figure.subplots()
    names = [CLOCK_NAMES[c.name] for c in report.clocks]
    left = [0] * len(report.clocks)
    for verdict in Verdict:
        values = [c.counts[verdict.value] for c in report.clocks]
        axes.barh(
            names,
            values,
            left=left,
            color=VERDICT_COLOURS[verdict.value],
            label=VERDICT_NAMES[verdict.value],
        )
        left = [a + b for a, b in zip(left, values)]
    axes.tick_params(labelsize=8)
    axes.legend(fontsize=7, loc="lower right")
    return _svg(figure)


def _scores(report: Report) -> Markup:
    """The distribution of the satisfaction scores, 1 to 5."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(5, 2.6))
    axes = figure.subplots()
    scores = report.scores
    axes.bar([str(s) for s in range(1, 6)], [scores[s] for s in range(1, 6)], color=COLOURS[0])
    axes.set_xlabel("Puan / Score", fontsize=8)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts, not fractions
    return _svg(figure)


def _svg(figure: Figure) -> Markup:
    """The figure as an <svg> element (its XML declaration and doctype dropped)."""
    figure.tight_layout()
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return Markup(text[text.index("<svg") :])
