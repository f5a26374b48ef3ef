"""HTML body parts to plain text, before `reply` strips the quoted history.

beautifulsoup4 (html.parser, no native dependency) parses; script/style/head are dropped,
block elements (paragraphs, divs, list items, table rows, br) become line breaks, table cells
are separated by a space, entities are decoded by the parser, and `<blockquote>` content is
prefixed with `> ` so that the plain-text reply rules remove HTML quotes the same way.
"""

from __future__ import annotations

import re
import warnings

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString
from bs4 import ProcessingInstruction, Tag

DROPPED_TAGS = ("script", "style", "head", "title", "template", "noscript", "xml", "object")
BLOCK_TAGS = frozenset(
    "address article aside br dd div dl dt fieldset figure footer form h1 h2 h3 h4 h5 h6 "
    "header hr li ol p section table tbody thead tfoot tr ul center".split()
)
CELL_TAGS = frozenset({"td", "th"})

# Markers put into the tree around elements, then read back in one linear pass.
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


def mark_structure(soup: BeautifulSoup) -> None:
    """Drop invisible elements and bracket blocks, cells, quotes and pre with markers."""
    for tag in soup.find_all(DROPPED_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        name = tag.name
        if name == "br":
            tag.insert_after(BREAK)
        elif name == "p":
            tag.insert_before(LINE)
            tag.insert_after(PARA)
        elif name in BLOCK_TAGS:
            tag.insert_before(LINE)
            tag.insert_after(LINE)
        elif name in CELL_TAGS:
            tag.insert_after(CELL)
        elif name == "blockquote":
            tag.insert_before(QUOTE_IN)
            tag.insert_after(QUOTE_OUT)
        elif name == "pre":
            tag.insert_before(PRE_IN)
            tag.insert_after(PRE_OUT)


def visible_strings(soup: BeautifulSoup) -> list[str]:
    """The text nodes and markers in document order, comments and doctypes left out."""
    return [
        str(node)
        for node in soup.descendants
        if isinstance(node, NavigableString) and not isinstance(node, SKIPPED_STRINGS)
    ]


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
    soup = parse_html(html)
    mark_structure(soup)
    out = []
    for depth, text in render_lines(visible_strings(soup)):
        text = re.sub(" {2,}", " ", text).rstrip()
        out.append(("> " * depth + text) if depth and text else text)
    return BLANK_RUNS.sub("\n\n", "\n".join(out)).strip("\n")
