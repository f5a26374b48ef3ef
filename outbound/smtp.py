"""Sending through the organisation's SMTP relay, with errors named by what to do next.

A 4xx reply, a refused connection or a timeout is temporary (the queue retries with backoff);
a 5xx reply for the recipient or the message is permanent (recorded on the complaint), and so
is a mail the relay cannot carry at all (an international address without SMTPUTF8).
smtplib asks for SMTPUTF8 by itself when an address needs it and the relay offers it. With
no relay configured (`[smtp] host = ""`), mails are written to an outbox folder instead.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from pathlib import Path

from intake.errors import ConfigError, PermanentError, TemporaryError
from intake.settings import SmtpSettings, secret


def send(config: SmtpSettings, message: EmailMessage, recipients: list[str]) -> None:
    """Hand `message` to the relay for `recipients`, or raise Temporary/PermanentError."""
    if not config.host:
        write_outbox(config, message)
        return
    try:
        with _connect(config) as client:
            _login(client, config)
            refused = client.send_message(message, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        raise _classify(exc.recipients) from exc
    except (smtplib.SMTPNotSupportedError, UnicodeError) as exc:  # retrying changes nothing
        raise PermanentError(
            f"the relay cannot carry this mail (an international address needs SMTPUTF8): {exc}"
        ) from exc
    except smtplib.SMTPResponseException as exc:
        cls = PermanentError if 500 <= exc.smtp_code < 600 else TemporaryError
        raise cls(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}") from exc
    except (smtplib.SMTPException, OSError, socket.timeout) as exc:
        raise TemporaryError(f"SMTP relay {config.host}:{config.port}: {exc}") from exc
    if refused:
        raise _classify(refused)


def _connect(config: SmtpSettings) -> smtplib.SMTP:
    timeout = config.timeout_seconds  # Dramatiq's time limit cannot interrupt a blocked socket
    if config.security == "tls":
        return smtplib.SMTP_SSL(
            config.host, config.port, timeout=timeout, context=ssl.create_default_context()
        )
    client = smtplib.SMTP(config.host, config.port, timeout=timeout)
    if config.security == "starttls":
        client.starttls(context=ssl.create_default_context())
    return client


def _login(client: smtplib.SMTP, config: SmtpSettings) -> None:
    if config.username:
        password = secret(config.password_env)
        if password is None:
            raise ConfigError(f"smtp.password_env: {config.password_env or '(none)'} is not set")
        client.login(config.username, password)


def _classify(refused: dict[str, tuple[int, bytes]]) -> Exception:
    codes = [code for code, _ in refused.values()]
    text = "; ".join(f"{code} {_text(reply)}" for code, reply in refused.values())
    if all(500 <= code < 600 for code in codes):
        return PermanentError(f"recipient refused: {text}")
    return TemporaryError(f"recipient deferred: {text}")


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def write_outbox(config: SmtpSettings, message: EmailMessage) -> Path:
    """Development mode without a relay: each mail becomes a file operators can open."""
    target = Path(config.outbox_dir)
    target.mkdir(parents=True, exist_ok=True)
    name = str(message["Message-ID"]).strip("<>").replace("/", "_") + ".eml"
    path = target / name
    path.write_bytes(bytes(message))
    return path
