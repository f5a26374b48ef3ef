"""What the desk says, in Turkish and English: to complainants, to units, to the supervisor.

Pure. A message to a complainant holds only the reference and our own text (or the unit's
words, which the unit wrote for them): nothing another sender wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from normalize.commands import Problem, usage

CLOCK_NAMES = {
    "eta_notice": "Tahmini süre bildirimi / ETA notice (1 iş günü / business day)",
    "ssl_preliminary": "SSL ön rapor / SSL preliminary report (BR 4.9.5, 24 saat / hours)",
    "cimer_answer": "CİMER yanıtı / CİMER answer (30 gün / days)",
    "kvkk_answer": "KVKK başvuru yanıtı / KVKK request answer (30 gün / days)",
    "resolution": "Çözüm hedefi / Resolution target",
}

ANSWER_HINT = (
    "Kararı kabul ediyorsanız bu iletiyi KABUL, kabul etmiyorsanız RET yazarak yanıtlayınız.\n"
    "If you accept the decision, reply ACCEPT (KABUL); if not, reply REJECT (RET)."
)

OTHER_WAYS = (
    "Kararı kabul etmediğinizi kaydettik; başvurunuz açık tutulmaktadır ve ilgili birim "
    "yeniden inceleyecektir. Başvurunuzu ayrıca şu yollarla da sürdürebilirsiniz: "
    "şirketimizin üst yönetimine yazılı itiraz; Bilgi Teknolojileri ve İletişim Kurumu (BTK); "
    "CİMER (www.cimer.gov.tr); tüketici iseniz Tüketici Hakem Heyeti veya Tüketici "
    "Mahkemesi.\n\n"
    "We have recorded that you do not accept the decision; your complaint stays open and the "
    "unit will look at it again. You may also pursue it through: a written objection to our "
    "management; the Information and Communication Technologies Authority (BTK); CİMER; and, "
    "as a consumer, the Consumer Arbitration Committee or the Consumer Court."
)

SURVEY = (
    "Başvurunuz kapatıldı. Hizmetimizden ne kadar memnun kaldınız? Lütfen 1 (hiç memnun "
    "değilim) ile 5 (çok memnunum) arasında tek bir rakamla yanıtlayınız.\n\n"
    "Your complaint is closed. How satisfied are you with how we handled it? Please reply "
    "with a single digit from 1 (not at all) to 5 (very satisfied)."
)


@dataclass(frozen=True)
class Text:
    subject: str  # without the reference tag, which the mail adds
    body: str


def _prefix(reference: str) -> str:
    return reference.rsplit("-", 2)[0]


def local(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d.%m.%Y %H:%M")


# --- to the complainant --------------------------------------------------------------------


def eta(reference: str, when: datetime, timezone: str, *, typical: bool = False) -> Text:
    why = (
        "Başvurunuzun incelenmesi sürüyor; benzer başvuruların olağan çözüm süresine göre "
        if typical
        else "İlgili birimimizin bildirdiği "
    )
    return Text(
        "Tahmini çözüm zamanı / Estimated resolution time",
        f"{why}tahmini çözüm zamanı: {local(when, timezone)}.\n\n"
        f"The estimated resolution time of {reference} is {local(when, timezone)}.",
    )


def reply(reference: str, text: str) -> Text:
    return Text("Başvurunuz hakkında / About your complaint", text)


def decision(reference: str, text: str) -> Text:
    return Text(
        "Başvurunuz hakkında karar / Decision on your complaint", f"{text}\n\n{ANSWER_HINT}"
    )


def merged(reference: str, into: str) -> Text:
    return Text(
        "Başvurularınız birleştirildi / Your messages are joined",
        f"{reference} numaralı başvurunuz aynı konudaki {into} numaralı başvurunuzla "
        f"birleştirildi; yazışmaları {into} ile sürdürebilirsiniz.\n\n"
        f"{reference} is the same matter as your complaint {into} and is joined to it; please "
        f"continue under {into}.",
    )


def other_ways(reference: str) -> Text:
    return Text("Başvurunuz açık tutuluyor / Your complaint stays open", OTHER_WAYS)


def survey(reference: str) -> Text:
    return Text("Başvurunuz kapatıldı / Your complaint is closed", SURVEY)


# --- to the unit and the supervisor --------------------------------------------------------


def reopened(reference: str) -> Text:
    return Text(
        "Karar reddedildi, kayıt yeniden açıldı / Decision rejected, reopened",
        f"Başvuru sahibi {reference} için verilen kararı kabul etmedi (RET). Kayıt yeniden "
        "açıldı; çözüm süresi yeniden başladı. Yeni kararınızı #resolved ile bildiriniz.\n\n"
        f"The complainant rejected the decision on {reference}. It is open again and its "
        "resolution clock has started over; give the new decision with #resolved.",
    )


def accepted(reference: str) -> Text:
    return Text(
        "Karar kabul edildi, kayıt kapandı / Decision accepted, closed",
        f"Başvuru sahibi {reference} için verilen kararı kabul etti; kayıt kapatıldı.\n"
        f"The complainant accepted the decision on {reference}; it is closed.",
    )


def command_problems(reference: str, problems: tuple[Problem, ...]) -> Text:
    lines = [f"- satır / line {p.line}: {p.given!r}: {p.reason}" for p in problems]
    return Text(
        "Komut anlaşılamadı / Command not understood",
        "Yanıtınızdaki şu komutlar uygulanmadı / These commands in your reply were not "
        "applied:\n" + "\n".join(lines) + "\n\n" + usage(prefix=_prefix(reference)),
    )


def command_refused(reference: str, command: str, reason: str) -> Text:
    return Text(
        "Komut uygulanmadı / Command not applied",
        f"#{command}: {reason}\n\n" + usage(prefix=_prefix(reference)),
    )


def eta_reminder(reference: str, due: datetime, timezone: str) -> Text:
    return Text(
        "Tahmini süre bekleniyor / ETA wanted",
        f"{reference} için başvuru sahibine tahmini çözüm zamanı {local(due, timezone)} "
        "tarihine kadar bildirilmelidir. Yanıtınıza '#eta GG.AA.YYYY SS:DD' yazınız.\n\n"
        f"The complainant of {reference} must be told the estimated resolution time by "
        f"{local(due, timezone)}. Reply with '#eta YYYY-MM-DD HH:MM'.",
    )


def warning(reference: str, clock: str, part: float, due: datetime, timezone: str) -> Text:
    name = CLOCK_NAMES.get(clock, clock)
    return Text(
        f"Süre uyarısı %{part * 100:.0f} / Deadline warning {part:.0%}",
        f"{reference}: {name}\nSürenin %{part * 100:.0f}'i doldu; son tarih "
        f"{local(due, timezone)}.\n{part:.0%} of the time is used; the deadline is "
        f"{local(due, timezone)}.",
    )


def breach(reference: str, clock: str, due: datetime, timezone: str) -> Text:
    name = CLOCK_NAMES.get(clock, clock)
    return Text(
        "Süre aşıldı / Deadline missed",
        f"{reference}: {name}\nSon tarih {local(due, timezone)} idi ve geçti; aşım kaydedildi.\n"
        f"The deadline was {local(due, timezone)} and has passed; the breach is recorded.",
    )


def eta_defaulted(reference: str, unit: str, sent: datetime, timezone: str) -> Text:
    return Text(
        "Birim tahmini süre vermedi / The unit gave no ETA",
        f"{reference}: {unit} bir iş günü içinde tahmini süre bildirmedi. Başvuru sahibine "
        f"birimin olağan çözüm süresi ({local(sent, timezone)}) bildirildi.\n\n"
        f"{reference}: {unit} gave no estimated time within one business day. The "
        f"complainant was told the unit's typical resolution time ({local(sent, timezone)}).",
    )
