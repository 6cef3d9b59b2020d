"""Text from other machines, made safe to write into one log line.

A topic or payload comes from whoever could publish it: a newline in it would
start a forged log line ("INFO collector: ..."), an escape sequence would
drive the reader's terminal. :func:`escaped` keeps printable text as it is
and writes everything else as a Python escape, so one message is always one
line, and cuts it to a bound.
"""

from __future__ import annotations

__all__ = ["escaped"]


def escaped(text: str, limit: int = 200) -> str:
    """``text`` with control, format and separator characters (newlines, ANSI
    escapes, U+2028) and backslashes escaped, cut to ``limit`` characters."""
    out = []
    size = 0
    for char in text:
        piece = char if char.isprintable() and char != "\\" else char.encode("unicode_escape").decode("ascii")
        if size + len(piece) > limit:
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)
