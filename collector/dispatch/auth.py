"""Who may use the board and the CAD API: tokens, sessions, the login limiter, CSRF. Pure: time is an argument.

- :func:`parse_tokens`: the tokens file's text -> :class:`TokenBook` (``NAME TOKEN``
  per line, ``#`` comments), or a :class:`TokensFileError` naming the line;
- :class:`TokenBook`: which name a presented token belongs to (constant-time
  comparison of hashes: the book keeps no token itself);
- :class:`Sessions`: the board's logins (a random cookie value -> the token's
  name and hash, a CSRF token, idle expiry). A session whose token has left the
  file ends at its next request: revoking a token logs its operators out;
- :class:`LoginLimiter`: failed logins per client address and in all, as token
  buckets: a guesser gets a few tries a minute, never a fast loop.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from common.errors import ActiveCallsError

__all__ = [
    "MIN_TOKEN_LENGTH",
    "LoginLimiter",
    "Session",
    "Sessions",
    "TokenBook",
    "TokensFileError",
    "parse_tokens",
]

MIN_TOKEN_LENGTH: Final = 20
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_TOKEN = re.compile(r"[\x21-\x7e]+")


class TokensFileError(ActiveCallsError):
    """The tokens file cannot be used as it is (the line is named; the token never is)."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class TokenBook:
    """Named tokens, kept as SHA-256 digests."""

    digests: tuple[tuple[str, bytes], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.digests)

    def name_of(self, presented: str) -> str | None:
        """The name of the token presented, or None. Every entry is compared (no early exit)."""
        digest = _digest(presented)
        found = None
        for name, known in self.digests:
            if hmac.compare_digest(digest, known):
                found = name
        return found

    def holds(self, name: str, digest: bytes) -> bool:
        return any(n == name and hmac.compare_digest(d, digest) for n, d in self.digests)

    def digest_of(self, name: str) -> bytes | None:
        return next((d for n, d in self.digests if n == name), None)


def parse_tokens(text: str, source: str = "tokens file") -> TokenBook:
    """``NAME TOKEN`` per line; blank lines and ``#`` comments skipped. Names and tokens unique."""
    entries: list[tuple[str, bytes]] = []
    names: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        where = f"{source}:{number}"
        if len(parts) != 2:
            raise TokensFileError(f"{where}: expected NAME TOKEN (two fields), got {len(parts)}")
        name, token = parts
        if not _NAME.fullmatch(name):
            raise TokensFileError(f"{where}: the name must be letters, digits and _.@- (1-64), got {name[:64]!r}")
        if len(token) < MIN_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
            raise TokensFileError(f"{where}: {name}'s token must be {MIN_TOKEN_LENGTH}+ printable characters "
                                  "without spaces (openssl rand -hex 24 makes one)")  # fmt: skip
        if name in names:
            raise TokensFileError(f"{where}: the name {name} is given twice")
        digest = _digest(token)
        if any(hmac.compare_digest(digest, d) for _, d in entries):
            raise TokensFileError(f"{where}: {name}'s token is another name's too")
        names.add(name)
        entries.append((name, digest))
    return TokenBook(tuple(entries))


@dataclass(slots=True)
class Session:
    name: str  # the token's name: who did what, in the audit log
    token_digest: bytes
    csrf: str
    last_used: float


@dataclass
class Sessions:
    """The board's logins, by cookie value; ``idle_s`` without a request ends one."""

    idle_s: float
    max_sessions: int = 10_000
    _by_id: OrderedDict[str, Session] = field(default_factory=OrderedDict)

    def open(self, name: str, token_digest: bytes, now: float) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(name, token_digest, secrets.token_urlsafe(32), now)
        self._by_id[session_id] = session
        while len(self._by_id) > self.max_sessions:  # the oldest go first
            self._by_id.popitem(last=False)
        return session_id, session

    def get(self, session_id: str, book: TokenBook, now: float) -> Session | None:
        """The live session of this cookie value: not idle too long, its token still in the book."""
        session = self._by_id.get(session_id)
        if session is None:
            return None
        if now - session.last_used > self.idle_s or not book.holds(session.name, session.token_digest):
            del self._by_id[session_id]
            return None
        session.last_used = now
        self._by_id.move_to_end(session_id)
        return session

    def close(self, session_id: str) -> None:
        self._by_id.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._by_id)


def csrf_ok(session: Session, presented: str | None) -> bool:
    """The synchronizer token: the page got it with the board, a cross-site form cannot read it."""
    return presented is not None and hmac.compare_digest(session.csrf.encode(), presented.encode())


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass
class LoginLimiter:
    """Failed logins: ``burst`` at once then one per ``every_s``, per client address; and
    ``burst_all`` then one per ``every_all_s`` in all (many addresses, one guesser)."""

    burst: float = 5.0
    every_s: float = 12.0
    burst_all: float = 30.0
    every_all_s: float = 1.0
    max_clients: int = 10_000
    _clients: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)
    _all: _Bucket | None = None

    def _level(self, bucket: _Bucket, burst: float, every_s: float, now: float) -> float:
        return min(burst, bucket.tokens + max(0.0, now - bucket.at) / every_s)

    def retry_after(self, client: str, now: float) -> float:
        """0 when a login attempt from ``client`` may be tried now; else seconds to wait."""
        waits = [0.0]
        bucket = self._clients.get(client)
        if bucket is not None:
            level = self._level(bucket, self.burst, self.every_s, now)
            if level < 1.0:
                waits.append((1.0 - level) * self.every_s)
        if self._all is not None:
            level = self._level(self._all, self.burst_all, self.every_all_s, now)
            if level < 1.0:
                waits.append((1.0 - level) * self.every_all_s)
        return max(waits)

    def failed(self, client: str, now: float) -> None:
        bucket = self._clients.pop(client, None) or _Bucket(self.burst, now)
        bucket.tokens, bucket.at = self._level(bucket, self.burst, self.every_s, now) - 1.0, now
        self._clients[client] = bucket
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
        every = self._all or _Bucket(self.burst_all, now)
        every.tokens, every.at = self._level(every, self.burst_all, self.every_all_s, now) - 1.0, now
        self._all = every

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)
