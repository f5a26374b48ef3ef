"""A ticket's attachments on their way to the unit: `normalize.attachments`, then clamd.

`outbound.delivery` screens them before composing the mail, outside any transaction: what
does not fit its name, declared type or `[attachments] allowed_types` is withheld; what fits
is scanned by clamd when `[attachments] clamd` names one (INSTREAM, clamd(8)). A virus found
is withheld like any misfit. A clamd that cannot be reached is a `TemporaryError`: the ticket
waits and is retried, since sending files unscanned would defeat the scan, and withholding
them for a passing fault would keep them from the unit for good.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from intake.errors import TemporaryError
from intake.settings import AttachmentSettings
from normalize.attachments import Withheld, screen_attachment

CHUNK = 64 * 1024
MAX_REPLY = 4096


class ClamdUnavailable(TemporaryError):
    """clamd refused, timed out or answered with an error: try the ticket again later."""


@dataclass(frozen=True)
class Stored:
    """One attachment as the store keeps it."""

    filename: str | None
    content_type: str
    data: bytes
    sha256: str


@dataclass(frozen=True)
class Screened:
    """What goes to the unit (filename, content type, bytes) and what is held back."""

    forwarded: list[tuple[str | None, str, bytes]]
    withheld: tuple[Withheld, ...]


def screen(settings: AttachmentSettings, items: Iterable[Stored]) -> Screened:
    """Sort `items` into forwarded and withheld; `ClamdUnavailable` when a scan is due and
    clamd cannot give it."""
    forwarded: list[tuple[str | None, str, bytes]] = []
    withheld: list[Withheld] = []
    for item in items:
        verdict = screen_attachment(
            item.filename, item.content_type, item.data, settings.allowed_types
        )
        reason = verdict.reason
        if reason is None and settings.clamd:
            reason = clamd_scan(settings.clamd, item.data, settings.clamd_timeout_seconds)
        if reason is None:
            forwarded.append((verdict.filename, verdict.content_type, item.data))
        else:
            size = len(item.data)
            withheld.append(
                Withheld(item.filename, verdict.content_type, size, item.sha256, reason)
            )
    return Screened(forwarded, tuple(withheld))


def clamd_scan(address: str, data: bytes, timeout: float) -> str | None:
    """Why clamd at `address` says `data` must be withheld (a signature found, too large to
    scan), or None when it is clean."""
    try:
        with _connect(address, timeout) as sock:
            sock.sendall(b"zINSTREAM\0")
            try:
                for start in range(0, len(data), CHUNK):
                    chunk = data[start : start + CHUNK]
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))  # a zero-length chunk ends the stream
            except (BrokenPipeError, ConnectionResetError):
                pass  # clamd stops reading past its StreamMaxLength, and says so: read it
            reply = _read_reply(sock)
    except OSError as exc:
        raise ClamdUnavailable(f"clamd at {address}: {exc!r}") from exc
    return _reason(reply, address)


def _connect(address: str, timeout: float) -> socket.socket:
    """A socket to "unix:/path" or "tcp:host:port" (checked by `intake.settings`)."""
    kind, _, where = address.partition(":")
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(where)
        except OSError:
            sock.close()
            raise
        return sock
    host, _, port = where.rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)


def _read_reply(sock: socket.socket) -> str:
    """clamd's answer to a z-command: up to its NUL (or the end of the connection)."""
    reply = b""
    while b"\0" not in reply and len(reply) < MAX_REPLY:
        piece = sock.recv(MAX_REPLY)
        if not piece:
            break
        reply += piece
    return reply.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def _reason(reply: str, address: str) -> str | None:
    """ "stream: OK" → None; "stream: <name> FOUND" → the reason; an oversized stream is
    withheld (it will never fit); any other answer is a fault of clamd's, for a retry."""
    if reply == "stream: OK":
        return None
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        return f"clamd found {reply[len('stream: ') : -len(' FOUND')]}"
    if "size limit exceeded" in reply:
        return "too large for clamd to scan (its StreamMaxLength)"
    raise ClamdUnavailable(f"clamd at {address} answered {reply[:200]!r}")
