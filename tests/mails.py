"""Mail as the tests send it to the desk: a complainant's, a unit's reply, a forgery."""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid


def mail(
    sender: str,
    subject: str,
    body: str,
    *,
    in_reply_to: str | None = None,
    reply_to: str | None = None,
    authentication_results: tuple[str, ...] = (),
    when: datetime | None = None,
    utf8: bool = False,
) -> bytes:
    """An RFC 5322 mail to the desk from `sender`; `in_reply_to` threads it (In-Reply-To
    and References), `authentication_results` are stamped on top as an MX would; `utf8`
    writes the headers as UTF-8 (RFC 6532, as an international address arrives)."""
    msg = EmailMessage()
    for value in authentication_results:
        msg["Authentication-Results"] = value
    msg["From"] = sender
    msg["To"] = "sikayet@example.org"
    if reply_to is not None:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="mail.example.net")
    if when is not None:
        msg["Date"] = when.strftime("%a, %d %b %Y %H:%M:%S %z")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes(policy=policy.SMTPUTF8) if utf8 else msg.as_bytes()


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a mail the desk sent."""
    body = message.get_body(("plain",))
    assert body is not None, "no text/plain part"
    return body.get_content()
