"""Table cells that wrap between words, and inside a word only where the word is long.

A cell output's table is as wide as its columns' narrowest possible widths allow. A header that
may break anywhere (CSS ``overflow-wrap: anywhere``) lets the browser squeeze a column until
"NegLabel" reads "NegLab/el"; one that breaks only between words keeps short names whole but lets
a long name from a reader's data (a set or class name without spaces) push the table past the
text column. So the book's CSS breaks table cells between words only, and the built pages offer
break opportunities (``<wbr>``) inside table words: after a word's own joints ("_", "/", and "."
or ":" between letters, so a number is never split; a browser breaks after "-" by itself), and
every :data:`CHUNK` characters in a part longer than :data:`LONG_WORD`. Short names and numbers
stay whole, long names can still wrap.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..files import atomic_write_text

LONG_WORD = 12  # a table word longer than this (in characters as shown) may be broken
CHUNK = 8  # ... every this many characters
# A table cell whose content is text only (how pandas writes a DataFrame's headers, row labels and
# values); a cell holding markup is left as it is.
_TEXT_CELL = re.compile(r"(<t[hd]\b[^>]*>)([^<]*)(</t[hd]\s*>)", re.I)
_WORD = re.compile(r"\S+")
_NUMERIC = frozenset("0123456789.,+-−%[]()eE")
_SHOWN_CHAR = re.compile(r"&(?:#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);|.", re.S)  # an entity is one character


def _is_joint(chars: list[str], i: int) -> bool:
    """Whether a break may follow ``chars[i]``: after "_" or "/", and after "." or ":" between two
    letters ("document.body", never "15.4")."""
    char = chars[i]
    if char in "_/":
        return True
    return (char in ".:" and 0 < i < len(chars) - 1 and chars[i - 1][:1].isalpha() and chars[i + 1][:1].isalpha())


def _soften_word(word: str) -> str:
    chars = _SHOWN_CHAR.findall(word)
    joints = {i for i in range(len(chars) - 1) if _is_joint(chars, i)}
    if len(chars) <= LONG_WORD and not joints:
        return word
    out, segment = "", []

    def close(joint: str) -> str:  # a segment, chunked where it is still long, and what may follow it
        long = len(segment) > LONG_WORD and not all(c in _NUMERIC for c in segment)  # a number stays whole
        parts = [segment[i:i + CHUNK] for i in range(0, len(segment), CHUNK)] if long else [segment]
        return "<wbr>".join("".join(part) for part in parts) + joint

    for i, char in enumerate(chars):  # a <wbr> after each joint; after "-" a browser breaks by itself
        segment.append(char)
        if i in joints or char == "-":
            out += close("<wbr>" if i in joints else "")
            segment = []
    return out + (close("") if segment else "")


def soften_cells(page: str) -> str:
    """``page`` with break opportunities (``<wbr>``) inside the words of every text-only table
    cell, ``<th>`` or ``<td>``, as the module says (an entity such as ``&amp;`` counts as one
    character and is never split)."""
    def soften(match: re.Match) -> str:
        start, text, end = match.groups()
        return start + _WORD.sub(lambda w: _soften_word(w.group(0)), text) + end

    return _TEXT_CELL.sub(soften, page)


def soften_site(folder: Path) -> int:
    """:func:`soften_cells` on every HTML page under ``folder`` that has a long table word (written
    atomically), the theme's fragments in ``_static`` aside; returns how many pages changed."""
    changed = 0
    for path in sorted(p for p in Path(folder).rglob("*.html") if "_static" not in p.relative_to(folder).parts):
        page = path.read_text(encoding="utf-8")
        softened = soften_cells(page)
        if softened != page:
            atomic_write_text(path, softened)
            changed += 1
    return changed
