"""HTML body parts to plain text, before `reply` strips the quoted history.

beautifulsoup4 (html.parser, no native dependency) parses; script/style/head are dropped,
block elements (paragraphs, divs, list items, table rows, br) become line breaks, table cells
are separated by a space, entities are decoded by the parser, and `<blockquote>` content is
prefixed with `> ` so that the plain-text reply rules remove HTML quotes the same way.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

from bs4 import (
    BeautifulSoup,
    Comment,
    Declaration,
    Doctype,
    NavigableString,
    PageElement,
    ProcessingInstruction,
    Tag,
)

DROPPED_TAGS = ("script", "style", "head", "title", "template", "noscript", "xml", "object")
BLOCK_TAGS = frozenset(
    "address article aside br dd div dl dt fieldset figure footer form h1 h2 h3 h4 h5 h6 "
    "header hr li ol p section table tbody thead tfoot tr ul center".split()
)

# Layout markers emitted while walking the tree, then read back in one linear pass.
LINE, BREAK, PARA, CELL = "\x00", "\x06", "\x07", "\x05"
QUOTE_IN, QUOTE_OUT, PRE_IN, PRE_OUT = "\x01", "\x02", "\x03", "\x04"
DEPTH_STEP = {QUOTE_IN: (1, 0), QUOTE_OUT: (-1, 0), PRE_IN: (0, 1), PRE_OUT: (0, -1)}
MARKERS = frozenset({LINE, BREAK, PARA, CELL, *DEPTH_STEP})
SKIPPED_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)
WHITESPACE = re.compile(r"[ \t\r\n\f\v\xa0\u200b]+")
BLANK_RUNS = re.compile(r"\n{3,}")


def parse_html(html: str) -> BeautifulSoup:
    """Parse leniently; bs4's guesses about odd input are warnings, not errors, here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BeautifulSoup(html, "html.parser")


def walk(soup: BeautifulSoup) -> Iterator[tuple[bool, PageElement]]:
    """(leaving, node) in document order, iteratively: mail HTML can nest 100 000 deep."""
    stack: list[tuple[bool, PageElement]] = [(False, soup)]
    while stack:
        leaving, node = stack.pop()
        yield leaving, node
        if not leaving and isinstance(node, Tag) and node.name not in DROPPED_TAGS:
            stack.append((True, node))
            stack.extend((False, child) for child in reversed(node.contents))


def opening_marker(name: str) -> str | None:
    """What an element's start tag means for the text layout."""
    if name in BLOCK_TAGS and name != "br":
        return LINE
    return {"blockquote": QUOTE_IN, "pre": PRE_IN}.get(name)


def closing_marker(name: str) -> str | None:
    """What an element's end (or a void element like br) means for the text layout."""
    if name in ("br", "p"):
        return BREAK if name == "br" else PARA
    if name in BLOCK_TAGS:
        return LINE
    return {"td": CELL, "th": CELL, "blockquote": QUOTE_OUT, "pre": PRE_OUT}.get(name)


def marked_strings(soup: BeautifulSoup) -> list[str]:
    """Visible text nodes interleaved with layout markers; scripts, styles, comments dropped."""
    out: list[str] = []
    for leaving, node in walk(soup):
        if isinstance(node, Tag):
            if node.name in DROPPED_TAGS:
                continue
            marker = closing_marker(node.name) if leaving else opening_marker(node.name)
            out += [marker] if marker else []
        elif isinstance(node, NavigableString) and not isinstance(node, SKIPPED_STRINGS):
            out.append(str(node))
    return out


def render_lines(strings: list[str]) -> list[tuple[int, str]]:
    """(quote depth, text) lines from the marked strings; blocks never add empty lines."""
    lines: list[tuple[int, str]] = []
    current: list[str] = []
    depth = pre = 0
    for piece in strings:
        if piece == CELL:
            current.append(" ")
        elif piece in MARKERS:
            text = "".join(current).strip()
            if text or piece == BREAK:
                lines.append((depth, text))
            if piece == PARA:
                lines.append((depth, ""))
            current = []
            step_depth, step_pre = DEPTH_STEP.get(piece, (0, 0))
            depth, pre = max(depth + step_depth, 0), max(pre + step_pre, 0)
        elif pre:
            *head, tail = piece.replace("\r\n", "\n").split("\n")
            for part in head:
                lines.append((depth, "".join(current) + part))
                current = []
            current.append(tail)
        else:
            current.append(WHITESPACE.sub(" ", piece))
    lines.append((depth, "".join(current).strip()))
    return lines


def html_to_text(html: str) -> str:
    """Visible text of an HTML document, one block per line, blockquotes prefixed `> `."""
    out = []
    for depth, text in render_lines(marked_strings(parse_html(html))):
        text = re.sub(" {2,}", " ", text).rstrip()
        out.append(("> " * depth + text) if depth and text else text)
    return BLANK_RUNS.sub("\n\n", "\n".join(out)).strip("\n")
