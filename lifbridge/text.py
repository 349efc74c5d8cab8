"""Free text (descriptions, references, reasons, notes) on its way into generated code and messages.

A model's free text is printed into comments of generated code (Brian2 scripts,
NESTML files). A line break inside such a text would end the comment, and what
follows would be read as code. :func:`comment_text` makes any string safe inside a
one-line ``#`` comment, for every target: Python's and NESTML's comments both run
from ``#`` to the end of the line and neither language has a way to close them early.

:func:`shorten` bounds user text echoed in error messages.
"""

from __future__ import annotations

import unicodedata

#: Longest piece of user text an error message repeats (longer text ends in "…").
ECHO_CHARS = 60

# Unicode categories folded to a space in a comment: control characters (Cc: \n, \r,
# \x0b, \x0c, \x1c-\x1f, \x85, NUL ...), format characters (Cf: bidirectional
# overrides that make a line read differently from what a compiler sees), line and
# paragraph separators (Zl, Zp: \u2028, \u2029) and lone surrogates (Cs, which cannot
# be written to a UTF-8 file).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def is_unsafe_char(char: str) -> bool:
    """True for a character that must never appear in a one-line comment (tab is allowed)."""
    return char != "\t" and unicodedata.category(char) in _UNSAFE_CATEGORIES


def first_unsafe_char(text: str):
    """The first character of ``text`` that :func:`is_unsafe_char`, or None."""
    for char in text:
        if is_unsafe_char(char):
            return char
    return None


def comment_text(text) -> str:
    """``text`` as one line that is safe inside a ``#`` comment of Python or NESTML.

    Every line break and control or format character becomes a space; runs of
    spaces made that way collapse into one. Ordinary text is returned unchanged.
    """
    text = str(text)
    if first_unsafe_char(text) is None:
        return text
    out = []
    for char in text:
        if char == "\t" or not is_unsafe_char(char):
            out.append(char)
        elif not out or out[-1] != " ":
            out.append(" ")
    return "".join(out)


def shorten(text, limit: int = ECHO_CHARS) -> str:
    """``text`` cut to ``limit`` characters (with "…"), folded to one line: for echoing user text in messages."""
    text = comment_text(text)
    return text if len(text) <= limit else text[:limit] + "…"


def show(text, limit: int = ECHO_CHARS) -> str:
    """``repr`` of user text, cut to about ``limit`` characters: for quoting a value in a message."""
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + "…"


def one_line(text) -> str:
    """``text`` with every unsafe character (line breaks, control and format characters) escaped.

    For messages: the text stays recognisable (``a\\nb`` shows as ``a\\nb``) and stays on one line.
    """
    text = str(text)
    if first_unsafe_char(text) is None:
        return text
    return "".join(char if not is_unsafe_char(char) else ascii(char)[1:-1] for char in text)
