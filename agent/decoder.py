"""The whole receive path in one sans-I/O object: bytes in, fixes out.

``NmeaDecoder`` = ``LineFramer`` -> ``nmea.parse`` -> ``FixAssembler``, with
the counters a technician or a test needs. The serial shell, the ``parse``
command, the replay tests and the benchmark all use this one object.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from agent import nmea
from agent.fixes import AssemblerStats, FixAssembler
from agent.framer import MAX_SENTENCE_LENGTH, FramerStats, LineFramer
from common.fix import Fix

__all__ = ["DecodeStats", "NmeaDecoder"]


@dataclass(slots=True)
class DecodeStats:
    """Counters over everything decoded so far."""

    framing: FramerStats
    assembly: AssemblerStats
    decoded: int = 0  # sentences that passed checksum and grammar
    bad_checksum: int = 0  # wrong *hh
    missing_checksum: int = 0  # no *hh at all (cut-off lines, run-together fragments)
    malformed: int = 0  # right checksum, wrong grammar
    duplicates: int = 0  # a sentence byte for byte the same as the one before it

    @property
    def rejected_checksum(self) -> int:
        return self.bad_checksum + self.missing_checksum

    def as_dict(self) -> dict[str, int]:
        """Flat counters, in the order the ``--stats`` line prints them."""
        return {
            "lines": self.framing.lines,
            "sentences": self.decoded,
            "checksum_rejected": self.rejected_checksum,
            "malformed": self.malformed,
            "duplicates": self.duplicates,
            "junk": self.framing.junk,
            "overlong": self.framing.overlong,
            "ais_skipped": self.framing.encapsulated,
            "epochs": self.assembly.epochs,
            "missed_epochs": self.assembly.missed,
            "fixes": self.assembly.fixes,
        }


class NmeaDecoder:
    """Feed raw receiver bytes in any chunking; get the same fixes.

    ``last_sentence`` keeps the newest decoded sentence, for diagnostics.
    With ``count_types``, ``sentence_types`` counts decoded sentences by address
    (``GPGGA``, ``GNRMC``, ``PUBX``...), for the technician's ``check``.
    """

    def __init__(
        self,
        *,
        week_rollover_reference: dt.date | None = None,
        skip_comments: bool = False,
        max_length: int = MAX_SENTENCE_LENGTH,
        count_types: bool = False,
    ) -> None:
        self._framer = LineFramer(max_length=max_length, skip_comments=skip_comments)
        self._assembler = FixAssembler(week_rollover_reference=week_rollover_reference)
        self.stats = DecodeStats(self._framer.stats, self._assembler.stats)
        self.last_sentence: nmea.Sentence | None = None
        self.sentence_types: Counter[str] | None = Counter() if count_types else None
        self._previous = b""  # the last candidate sentence, for the duplicate count

    def feed(self, chunk: bytes) -> list[Fix]:
        """Decode a chunk of bytes; return the fixes it completed."""
        return self._decode(self._framer.feed(chunk))

    def finish(self) -> list[Fix]:
        """End of stream (EOF, device gone): flush what is pending."""
        fixes = self._decode(self._framer.flush())
        fixes.extend(self._assembler.flush())
        return fixes

    def _decode(self, candidates: list[bytes]) -> list[Fix]:
        fixes: list[Fix] = []
        stats = self.stats
        parse = nmea.parse
        feed = self._assembler.feed
        decoded = 0
        sentence: nmea.Sentence | None = None
        types = self.sentence_types
        previous = self._previous
        for candidate in candidates:
            if candidate == previous:
                stats.duplicates += 1  # counted; still decoded (a frozen receiver repeats itself too)
            previous = candidate
            try:
                sentence = parse(candidate)
            except nmea.MissingChecksumError:
                stats.missing_checksum += 1
                continue
            except nmea.ChecksumError:
                stats.bad_checksum += 1
                continue
            except nmea.MalformedSentenceError:
                stats.malformed += 1
                continue
            decoded += 1
            if types is not None:
                types[candidate[1:].split(b",", 1)[0].decode("ascii", "replace")] += 1
            found = feed(sentence)
            if found:
                fixes.extend(found)
        stats.decoded += decoded
        self._previous = previous
        if sentence is not None:
            self.last_sentence = sentence
        return fixes
