"""Strip reply noise from a plain-text body: the last text step before the size bound.

Quoted lines (`>`, RFC 3676 §4.5), attribution lines (`On … wrote:`, `… tarihinde … şunu
yazdı:`, and their kin in other languages), Outlook header blocks (`From:/Sent:/To:/Subject:`,
`Kimden:/Gönderildi:/Kime:/Konu:`), `-----Original Message-----` separators, `-- ` signatures
and "Sent from my iPhone" lines go. A forwarded message is part of the complaint (a call
centre forwards the customer's mail): from a forward marker on, the text is kept verbatim.
"""

from __future__ import annotations

import re

_I = re.IGNORECASE

FORWARD_MARKER = re.compile(
    r"^\s*(?:-{2,}|_{2,})?\s*(?:Forwarded message|Forwarded Message|İletilen ileti|"
    r"İletilmiş ileti|Yönlendirilen ileti|Weitergeleitete Nachricht|Message transféré|"
    r"Messaggio inoltrato|Mensaje reenviado|Mensagem encaminhada|Doorgestuurd bericht|"
    r"Videresendt (?:melding|besked)|Begin forwarded message|Original forwarded message)"
    r"\s*:?\s*(?:-{2,}|_{2,})?\s*$",
    _I,
)
ORIGINAL_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Özgün İleti|Orijinal İleti|Asıl İleti|"
    r"Ursprüngliche Nachricht|Message d'origine|Oprindelig besked|Opprinnelig melding|"
    r"Messaggio originale|Mensaje original|Mensagem original|Originalmeddelande|"
    r"Alkuperäinen viesti|Oorspronkelijk bericht|Wiadomość oryginalna|Původní zpráva|"
    r"Исходное сообщение)\s*-{2,}\s*$",
    _I,
)
_LABEL = r"^\s*\*?\s*(?:{})\s*\*?\s*:"
FROM_LABEL = re.compile(
    _LABEL.format("From|Kimden|Gönderen|De|Von|Fra|Van|Da|Od|Från|Lähettäjä|От|Feladó"), _I
)
OTHER_LABEL = re.compile(
    _LABEL.format(
        "Sent|Date|To|Cc|Subject|Gönderildi|Gönderilme|Tarih|Kime|Bilgi|Konu|Envoyé(?: le)?|"
        "À|A|Objet|Gesendet|Datum|An|Betreff|Sendt|Dato|Til|Emne|Verzonden|Aan|Onderwerp|"
        "Inviato|Oggetto|Enviado|Para|Asunto|Assunto|Wysłano|Do|Temat|Skickat|Till|Ämne|"
        "Lähetetty|Vastaanottaja|Aihe|Отправлено|Кому|Тема|Elküldve|Címzett|Tárgy"
    ),
    _I,
)
ATTRIBUTION_VERB = re.compile(
    r"(?:\bwrote|yazdı|schrieb|a écrit|ha scritto|schreef|escreveu|escribió|napisał|"
    r"kirjoitti|skrev|написал|napsal|írta)\s*:\s*$",
    _I,
)
ZOHO_ATTRIBUTION = re.compile(r"^-{2,}\s*On .{5,200} wrote\s*-{2,}$", _I)
ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+|<[^<>\s]+@[^<>\s]+>")
DATE_HINT = re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b(?:19|20)\d\d\b")
SIGNATURE = re.compile(r"^--\s?$")
MOBILE_LINE = re.compile(
    r"^\s*(?:Sent from (?:my )?\S.{0,40}|Sent with \S.{0,60}|Get Outlook for \S.{0,30}|"
    r"Envoyé de mon \S.{0,30}|Von meinem \S.{0,30} gesendet|Enviado desde mi \S.{0,30}|"
    r"\S.{0,30}['’]?(?:[uüıi]mdan|[uüıi]mden|dan|den|tan|ten) gönderildi|"
    r"\S.{0,20} için Outlook['’]u edinin)\s*\.?\s*$",
    _I,
)
SEPARATOR_LINE = re.compile(r"^[\s_\-=*~]*$")
MAX_ATTRIBUTION_LINES = 3


def is_attribution(text: str) -> bool:
    """An 'On <date>, <who> wrote:' line in any of the languages the desk sees."""
    text = text.strip()
    if len(text) > 300 or not text.endswith((":", "-")):
        return False
    if ATTRIBUTION_VERB.search(text[-40:]) or ZOHO_ATTRIBUTION.match(text):
        return True
    # Clients that name no verb (e.g. Russian Gmail): an address, a date and a final colon.
    return text.endswith(":") and bool(ADDRESS.search(text)) and bool(DATE_HINT.search(text))


def can_start_attribution(line: str) -> bool:
    """The first line of a wrapped attribution names a date or an address and does not end
    a sentence: so the reply's own last line is never taken for part of it."""
    line = line.rstrip()
    if line.endswith((".", "!", "?", ";")):
        return False
    return bool(DATE_HINT.search(line) or ADDRESS.search(line) or line.lower().startswith("on "))


def attribution_length(lines: list[str], i: int) -> int:
    """How many lines (1-3, wrapped) from `i` form an attribution; 0 when none does."""
    if lines[i].startswith(">") or not any(
        line.rstrip().endswith((":", "-")) for line in lines[i : i + MAX_ATTRIBUTION_LINES]
    ):
        return 0
    for n in range(1, MAX_ATTRIBUTION_LINES + 1):
        if i + n > len(lines) or not lines[i + n - 1].strip():
            return 0
        if is_attribution(" ".join(lines[i : i + n])):
            return n if n == 1 or can_start_attribution(lines[i]) else 0
    return 0


def starts_header_block(lines: list[str], i: int) -> bool:
    """A From: line followed closely by two more header-like lines (Sent/To/Subject …)."""
    if not FROM_LABEL.match(lines[i]):
        return False
    window = lines[i + 1 : i + 7]
    return sum(1 for line in window if OTHER_LABEL.match(line)) >= 2


def is_history_start(lines: list[str], i: int) -> bool:
    """An Outlook-style original message: separator line or header block."""
    line = lines[i]
    if "--" in line and ORIGINAL_SEPARATOR.match(line):
        return True
    return ":" in line[:40] and starts_header_block(lines, i)


def is_forward_marker(line: str) -> bool:
    """`---------- Forwarded message ---------`, `İletilen ileti`, `Begin forwarded message:`."""
    return len(line) < 100 and bool(FORWARD_MARKER.match(line))


def is_noise_line(line: str) -> bool:
    """A quoted line (RFC 3676 §4.5 `>`) or a "Sent from my iPhone" line."""
    return line.startswith(">") or (len(line) < 100 and bool(MOBILE_LINE.match(line)))


def has_content(kept: list[str]) -> bool:
    """True once a line of the reply itself has been kept."""
    return any(line.strip() for line in kept)


def split_reply(text: str, forwarded: bool = False) -> tuple[str, str]:
    """(visible reply, its signature) of a plain-text body.

    `forwarded` is set when the subject says Fwd/İLT: Outlook forwards with a bare header
    block, which must then be kept as the forwarded complaint rather than cut as history.
    """
    lines = text.split("\n")
    kept: list[str] = []
    signature: list[str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if is_forward_marker(line) or (forwarded and is_history_start(lines, i)):
            kept.extend(lines[i:])
            break
        span = attribution_length(lines, i)
        if is_history_start(lines, i) or (span and (has_content(kept) or signature is not None)):
            break
        if span:
            i += span
            continue
        if signature is not None:
            signature += [] if line.startswith(">") else [line]
        elif line.startswith("--") and SIGNATURE.match(line):
            signature = []
        elif not is_noise_line(line):
            kept.append(line)
        i += 1
    return tidy_lines(kept), tidy_lines(signature or [])


def tidy_lines(lines: list[str]) -> str:
    """Drop trailing separator rules and blank runs left behind by the cut."""
    while lines and SEPARATOR_LINE.match(lines[-1]):
        lines.pop()
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
