"""normalize_webform: the stored body of a web-form POST to a `Normalized` holding the Complaint.

The web form's stage of `normalize/` (store → normalize → Complaint). Pure: the body is parsed
by its content type (urlencoded, multipart with attachments, JSON); the same field rules serve
the HTTP route, which checks them before storing (a 422 stores nothing). A filled honeypot
field makes the submission a recorded rejection (`auto_submitted`), never a complaint.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from intake.errors import PermanentError
from intake.schema import PRODUCTS, Complainant, Complaint
from normalize.body import bound_text
from normalize.headers import one_line
from normalize.language import detect_language
from normalize.mail import DEFAULT_LIMITS, admit_attachments
from normalize.mime import RawAttachment
from normalize.records import EmailLimits, Normalized

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "application/json")
MAX_LENGTH = {
    "name": 200,
    "email": 254,
    "phone": 40,
    "subject": 300,
    "message": 50_000,
    "product": 40,
}
# No control character (NUL, CR, LF, …) gets into an address or a number that reaches a mail.
_PART = r"[^@\s<>(),;:\"\x00-\x1f\x7f]"
EMAIL = re.compile(rf"{_PART}+@{_PART}+\.{_PART}{{2,}}")
PHONE = re.compile(r"\+?[\d ().-]{7,}")  # spaces, not newlines or tabs
TRUE = ("true", "1", "on", "yes", "evet")


class MalformedForm(PermanentError):
    """The body cannot be read as the form its content type announces."""


@dataclass(frozen=True)
class Form:
    """A parsed submission: text fields (first value of each name) and uploaded files."""

    fields: dict[str, str]
    files: tuple[RawAttachment, ...] = field(default=())

    def get(self, name: str) -> str:
        return self.fields.get(name, "").strip()


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_form(payload: bytes, content_type: str) -> Form:
    """Parse `payload` by its content type; `MalformedForm` when it cannot be read."""
    kind = media_type(content_type)
    if kind == "application/x-www-form-urlencoded":
        return parse_urlencoded(payload)
    if kind == "multipart/form-data":
        return parse_multipart(payload, content_type)
    if kind == "application/json" or kind.endswith("+json"):
        return parse_json(payload)
    raise MalformedForm(f"unsupported content type {kind or '(none)'}")


def parse_urlencoded(payload: bytes) -> Form:
    pairs = parse_qsl(payload.decode("utf-8", "replace"), keep_blank_values=True)
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return Form(storable(fields))


def parse_json(payload: bytes) -> Form:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # nested too deep
        raise MalformedForm(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedForm("JSON body must be an object")
    fields = {}
    for name, value in data.items():
        if isinstance(value, (dict, list)):
            raise MalformedForm(f"field {name!r} must be a string, number or boolean")
        fields[name] = as_text(value)
    return Form(storable(fields))


def as_text(value: object) -> str:
    """A JSON scalar as the text a form would have sent (true → "true", null → "")."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)


def parse_multipart(payload: bytes, content_type: str) -> Form:
    """multipart/form-data (RFC 7578): files become attachments, the rest text fields."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedForm("multipart body without a boundary")
    parts = _split_parts(payload, boundary)
    fields: dict[str, str] = {}
    files: list[RawAttachment] = []
    for part in parts:
        _, disposition = parse_options_header(part.headers.get("content-disposition", ""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in disposition:
            filename = disposition[b"filename"].decode("utf-8", "replace") or None
            if filename or part.data:  # an empty file input sends neither
                ctype = part.headers.get("content-type") or "application/octet-stream"
                files.append(RawAttachment(filename, media_type(ctype), bytes(part.data)))
        elif name:
            fields.setdefault(name, bytes(part.data).decode("utf-8", "replace"))
    return Form(storable(fields), tuple(files))


# A NUL, or half of a UTF-16 surrogate pair (JSON's "\ud800"), is no text: no store keeps it
# (PostgreSQL refuses a NUL, UTF-8 a lone surrogate) and no person types one.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(fields: dict[str, str]) -> dict[str, str]:
    """`fields`, unless one holds what no store keeps: then `MalformedForm` (a 400), so that
    nothing is answered 202 that the pipeline can only fail."""
    for name, value in fields.items():
        if UNSTORABLE.search(name) or UNSTORABLE.search(value):
            raise MalformedForm(f"field {name!r} holds a NUL or a lone surrogate")
    return fields


def _split_parts(payload: bytes, boundary: bytes) -> list[_Part]:
    parts: list[_Part] = []
    header: list[bytes] = [b"", b""]

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def on_header_end() -> None:
        name, value = (h.decode("latin-1") for h in header)
        parts[-1].headers[name.strip().lower()] = value.strip()
        header[:] = [b"", b""]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data += data[start:end]

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": lambda: parts.append(_Part()),
            "on_part_data": on_part_data,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
        },
    )
    try:
        parser.write(payload)
    except MultipartParseError as exc:
        raise MalformedForm(f"multipart body unreadable: {exc}") from None
    if parser.state != MultipartState.END:
        raise MalformedForm("multipart body ends before its closing boundary")
    return parts


# --- The field rules: shared with the desk entries, checked at the edge ----------------------


def contact_errors(values: dict[str, str], *, text_field: str) -> dict[str, str]:
    """Field errors of the fields a web form and a desk entry share; {} when all is well."""
    errors: dict[str, str] = {}
    for name, limit in MAX_LENGTH.items():
        key = text_field if name == "message" else name
        if len(values.get(key, "")) > limit:
            errors[key] = f"at most {limit} characters"
    if not values.get(text_field, "").strip():
        errors[text_field] = "required"
    email, phone = values.get("email", "").strip(), values.get("phone", "").strip()
    if email and "email" not in errors and not EMAIL.fullmatch(email):
        errors["email"] = "not a valid e-mail address"
    if phone and "phone" not in errors and not PHONE.fullmatch(phone):
        errors["phone"] = "digits, spaces and + - ( ) only, at least 7"
    product = values.get("product", "").strip()
    if product and product not in PRODUCTS:
        errors["product"] = f"one of {', '.join(PRODUCTS)}"
    return errors


def form_errors(form: Form) -> dict[str, str]:
    """What a person must fix before the form is taken (the route answers 422 with it)."""
    errors = contact_errors(form.fields, text_field="message")
    if not form.get("email") and not form.get("phone"):
        errors["contact"] = "an e-mail address or a phone number is required"
    if form.get("kvkk_consent").lower() not in TRUE:
        errors["kvkk_consent"] = "consent to the processing of personal data is required (KVKK)"
    return errors


# --- The complaint ----------------------------------------------------------------------------


def typed_complaint(
    *,
    channel: str,
    received_at: datetime,
    values: dict[str, str],
    text_field: str,
    max_body_chars: int,
) -> tuple[Complaint, tuple[str, ...]]:
    """The complaint typed into a form (by the complainant or the desk) and the notes made."""
    text = unicodedata.normalize("NFC", values.get(text_field, "").replace("\r\n", "\n"))
    body, notes = bound_text(text.strip(), max_body_chars)
    subject = one_line(values.get("subject", ""))[: MAX_LENGTH["subject"]]
    product = values.get("product", "").strip()
    complaint = Complaint(
        channel=channel,
        source_id="",
        received_at=received_at,
        complainant=Complainant(
            name=one_line(values.get("name", ""))[: MAX_LENGTH["name"]] or None,
            email=values.get("email", "").strip() or None,
            phone=values.get("phone", "").strip() or None,
        ),
        subject=subject,
        body=body,
        language=detect_language(subject + "\n" + body),
        product=product if product in PRODUCTS else None,
    )
    return complaint, notes


def normalize_webform(
    payload: bytes,
    content_type: str,
    *,
    received_at: datetime,
    honeypot_field: str = "website",
    limits: EmailLimits = DEFAULT_LIMITS,
) -> Normalized:
    """The complaint of one stored web-form body (`MalformedForm` when unreadable)."""
    form = parse_form(payload, content_type)
    honeypot = bool(honeypot_field and form.get(honeypot_field))
    if not honeypot and not form.get("message"):
        raise MalformedForm("web form without a message")
    complaint, notes = typed_complaint(
        channel="webform",
        received_at=received_at,
        values=form.fields,
        text_field="message",
        max_body_chars=limits.max_body_chars,
    )
    attachments, blobs, refused, attachment_notes = (
        ((), {}, (), ()) if honeypot else admit_attachments(list(form.files), limits)
    )
    return Normalized(
        complaint=dataclasses.replace(complaint, attachments=attachments, auto_submitted=honeypot),
        blobs=blobs,
        message_id=None,
        in_reply_to=(),
        references=(),
        date=None,
        auto_reason="honeypot filled" if honeypot else None,
        refused_attachments=refused,
        notes=notes + attachment_notes,
    )
