"""The root of the project's own errors.

Every error the project raises on purpose (a bad config value, a malformed
payload, a broker that refuses a login, an NMEA line that does not parse)
derives from :class:`ActiveCallsError`, so a command line can say "this is a
mistake to report in one line" with one ``except`` and let anything else,
which is a bug, show its traceback.
"""

from __future__ import annotations

__all__ = ["ActiveCallsError"]


class ActiveCallsError(Exception):
    """An expected failure with a message meant for a person."""
