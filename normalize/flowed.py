"""Unwrap `format=flowed` text/plain parts (RFC 3676) right after `mime` decodes them.

A line ending in a space is soft-broken and joins the next line of the same quote depth;
with `delsp=yes` that trailing space was added by the sender and is deleted (§4.2). Space
stuffing is undone (§4.4) and the signature separator `-- ` is never joined (§4.3).
"""

from __future__ import annotations

SIGNATURE_SEPARATOR = "-- "


def split_quote(line: str) -> tuple[int, str]:
    """Quote depth and content of one line (§4.5: '>' marks, then the unstuffed text)."""
    depth = len(line) - len(line.lstrip(">"))
    content = line[depth:]
    if content.startswith(" "):
        content = content[1:]  # §4.4: remove one stuffed space
    return depth, content


def unflow(text: str, delsp: bool = False) -> str:
    """Join the soft line breaks of a format=flowed body; hard breaks stay."""
    out: list[str] = []
    pending: str | None = None
    pending_depth = 0
    for line in text.replace("\r\n", "\n").split("\n"):
        depth, content = split_quote(line)
        if pending is not None and depth != pending_depth:
            out.append(quote(pending_depth, pending))  # §4.5: a depth change ends a paragraph
            pending = None
        flowed = content.endswith(" ") and content != SIGNATURE_SEPARATOR
        if flowed and delsp:
            content = content[:-1]
        pending = content if pending is None else pending + content
        pending_depth = depth
        if not flowed:
            out.append(quote(depth, pending))
            pending = None
    if pending is not None:
        out.append(quote(pending_depth, pending))
    return "\n".join(out)


def quote(depth: int, content: str) -> str:
    """A line with its quote marks restored, so `reply` can still see the quoting."""
    return (">" * depth + " " + content) if depth else content
