"""Bytes in, sentence candidates out: a bounded line framer for serial streams.

A serial port hands over arbitrary chunks: half a sentence, three sentences
run together, binary protocol frames (UBX, CASIC) between them, NUL padding.
``LineFramer.feed(chunk)`` returns every *complete* candidate found so far, so
how the stream was split into reads never changes the result.

A candidate is ``$`` up to the next ``$``, ``!``, CR or LF, cut just after
its ``*hh`` checksum when bytes follow it. ``$`` is reserved in NMEA 0183
(section 5.1.3: it may only start a sentence), so a ``$`` inside another
sentence means that sentence was cut off; the fragment becomes a candidate
without checksum that the decoder rejects. ``$$`` prefixes (ST Teseo) thus
give one empty candidate, which is dropped silently. ``!`` starts an
encapsulated sentence (AIS ``!AIVDM``) and is skipped. Memory is bounded:
nothing longer than ``max_length`` is buffered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_SENTENCE_LENGTH", "FramerStats", "LineFramer"]

# NMEA 0183 allows 82 characters, but real receivers exceed it (NMEA 4.10
# GSV with signal IDs, $PSTM and $PUBX messages reach 120-200). Anything past
# this is not a sentence we could use, and it bounds the buffer.
MAX_SENTENCE_LENGTH: Final = 256

_TOKEN: Final = re.compile(rb"[$!][^$!\r\n]*")
_TOKEN_OR_COMMENT: Final = re.compile(rb"(?<![^\r\n])#[^\r\n]*|[$!][^$!\r\n]*")
_BLANK: Final = b" \t\r\n\x00"


@dataclass(slots=True)
class FramerStats:
    lines: int = 0  # lines seen, ended by LF, CRLF or a lone CR
    candidates: int = 0  # '$' candidates handed to the decoder
    junk: int = 0  # runs of bytes that are not part of any sentence
    overlong: int = 0  # candidates dropped for exceeding max_length
    encapsulated: int = 0  # '!' sentences (AIS) skipped
    comments: int = 0  # '#' lines skipped (recorded logs only)


class LineFramer:
    """Split a byte stream into NMEA sentence candidates.

    ``skip_comments`` drops lines starting with ``#``: recorded logs (gpsd's
    regression files, our own traces) carry such headers, a receiver never.
    """

    def __init__(self, *, max_length: int = MAX_SENTENCE_LENGTH, skip_comments: bool = False) -> None:
        if max_length < 8:
            raise ValueError("max_length must be at least 8")
        self.max_length = max_length
        self.stats = FramerStats()
        self._pattern = _TOKEN_OR_COMMENT if skip_comments else _TOKEN
        clean = rb"\$[0-9A-Za-z]{3}[^$!\r\n*]{0,%d}\*[^$!\r\n*]{2}" % (max_length - 7)
        self._lines = re.compile(rb"(%s)\r?\n|([^\n]*\n)" % clean)
        self._clean_block = re.compile(rb"(?:%s\r?\n)*" % clean)
        # The byte before _pending (or the last byte seen): lets the comment
        # lookbehind know whether _pending starts at the beginning of a line.
        self._before = b"\n"
        self._pending = b""
        self._in_junk = False
        self._cr_last = False  # the last chunk ended with CR: an LF next ends the same line

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add bytes from the stream; return the candidates they completed."""
        if chunk:
            crlf = chunk.count(b"\r\n") + (self._cr_last and chunk[0] == 0x0A)
            self.stats.lines += chunk.count(b"\n") + chunk.count(b"\r") - crlf
            self._cr_last = chunk[-1] == 0x0D
        data = self._pending + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            # No complete line yet: hold the bytes, but never more than one
            # sentence's worth (binary streams, CR-only line endings).
            if len(data) > self.max_length:
                out = self._scan(self._before + data, final=False)
                self.stats.candidates += len(out)
                return out
            self._pending = data
            return []
        # Fastest path: every line is exactly one clean sentence (the usual
        # case), checked and split in C.
        if self._clean_block.fullmatch(data, 0, cut):
            out = data[:cut].replace(b"\r", b"").split(b"\n")
            out.pop()  # after the last LF
            self._in_junk = False
            return self._keep_rest(data, cut, out)
        out = []
        before = self._before
        in_junk = self._in_junk
        # Otherwise line by line: clean lines are still matched whole in C;
        # any other line goes through _scan, which would give the same
        # result for a clean line, only slower.
        for token, other in self._lines.findall(data, 0, cut):
            if token:
                out.append(token)
                in_junk = False
            else:
                self._in_junk = in_junk
                out.extend(self._scan(before + other, final=True))
                in_junk = self._in_junk
            before = b"\n"
        self._in_junk = in_junk
        return self._keep_rest(data, cut, out)

    def _keep_rest(self, data: bytes, cut: int, out: list[bytes]) -> list[bytes]:
        """Hold the bytes after the last LF for the next chunk, bounded."""
        self._before = b"\n"
        self._pending = b""
        rest = data[cut:]
        if len(rest) > self.max_length:
            out.extend(self._scan(b"\n" + rest, final=False))
        else:
            self._pending = rest
        self.stats.candidates += len(out)
        return out

    def flush(self) -> list[bytes]:
        """End of stream: whatever is pending is as complete as it will get."""
        out = self._scan(self._before + self._pending, final=True)
        self._pending = b""
        self.stats.candidates += len(out)
        return out

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a sentence."""
        return len(self._pending)

    def _scan(self, buf: bytes, *, final: bool) -> list[bytes]:
        out: list[bytes] = []
        stats = self.stats
        limit = self.max_length
        end_of_buf = len(buf)
        prev_end = 1  # buf[0] is the context byte, not data
        self._pending = b""
        for match in self._pattern.finditer(buf, 1):
            start, end = match.span()
            if start > prev_end and buf[prev_end:start].strip(_BLANK):
                self._count_junk()
            prev_end = end
            token = match.group()
            lead = token[0]
            star = token.find(b"*") if lead == 0x24 else -1
            # A '$' sentence ends at its checksum, whatever follows; anything
            # else is complete only once a delimiter follows it.
            complete = final or end < end_of_buf or 0 <= star <= len(token) - 3
            if not complete:
                if end - start > limit:
                    stats.overlong += 1
                    self._in_junk = True  # its continuation is not new junk
                    self._before = b"x"  # ... and not a line start
                else:
                    self._before = buf[start - 1 : start]
                    self._pending = token
                return out
            if lead == 0x24:  # '$'
                tail = b""
                if 0 <= star < len(token) - 3:
                    token, tail = token[: star + 3], token[star + 3 :]
                if len(token) > limit:
                    stats.overlong += 1
                    self._in_junk = True
                elif token[1:4].isalnum():
                    out.append(token)
                    self._in_junk = False
                elif len(token) > 1:  # a '$' byte inside binary data
                    self._count_junk()
                # else: the first '$' of '$$', harmless
                if tail.strip(_BLANK):
                    self._count_junk()
            elif lead == 0x21:  # '!'
                if token[1:6].isalnum() and token[6:7] == b",":
                    stats.encapsulated += 1
                    self._in_junk = False
                else:  # a '!' byte inside binary data
                    self._count_junk()
            else:
                stats.comments += 1
                self._in_junk = False
        if prev_end < end_of_buf and buf[prev_end:].strip(_BLANK):
            self._count_junk()
        self._before = buf[-1:]
        return out

    def _count_junk(self) -> None:
        # One run of junk between two sentences counts once, however the
        # reads split it.
        if not self._in_junk:
            self.stats.junk += 1
            self._in_junk = True
