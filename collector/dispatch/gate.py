"""The login shell of the dispatch listener: the tokens file, the session cookie, the limiter, the audit lines.

Who is asking, for every request but ``/healthz``, ``/login`` and the login
page's files:

- ``Authorization: Bearer TOKEN`` (the CAD system, scripts, Prometheus): a
  token of the tokens file; no cookie, so no CSRF to fear;
- else the session cookie of a board login, and for anything but GET its
  ``X-CSRF-Token`` header too (the synchronizer token the board page carries;
  a page of another site can neither read it nor send it).

The tokens file is read again when its size, mtime or inode changes (checked
at most once a second), so a line deleted revokes that token, and the
board logins made with it, at their next request; a file that stops parsing
keeps the last good book and logs why.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from collector.dispatch.auth import LoginLimiter, Session, Sessions, TokenBook, TokensFileError, csrf_ok, parse_tokens
from common.logsafe import escaped

__all__ = ["Caller", "Gate", "TokensFile"]

log = logging.getLogger("collector.dispatch")
audit = logging.getLogger("collector.dispatch.audit")

RECHECK_S: Final = 1.0


class TokensFile:
    """The tokens file, read again when it changes."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.clock = clock
        self.book = TokenBook()
        self._signature: tuple[int, int, int] | None = None
        self._checked = -RECHECK_S
        self.reload(force=True)

    def reload(self, *, force: bool = False) -> TokenBook:
        now = self.clock()
        if not force and now - self._checked < RECHECK_S:
            return self.book
        self._checked = now
        try:
            st = os.stat(self.path)
        except OSError as exc:
            if self._signature is not None or force:
                log.error("dispatch tokens file %s: %s; no token is accepted", self.path, exc.strerror or exc)
            self._signature, self.book = None, TokenBook()
            return self.book
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if signature == self._signature:
            return self.book
        self._signature = signature
        try:
            book = parse_tokens(self.path.read_text(encoding="utf-8"), str(self.path))
        except (TokensFileError, OSError, UnicodeDecodeError) as exc:
            log.error("dispatch tokens file: %s; keeping the %d tokens read before", exc, len(self.book.digests))
            return self.book
        log.info("dispatch tokens file %s: %d tokens (%s)", self.path, len(book.digests), ", ".join(book.names))
        self.book = book
        return book


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    session: Session | None  # None: a bearer token
    token_digest: bytes = b""


class Gate:
    def __init__(
        self, tokens: TokensFile, sessions: Sessions, limiter: LoginLimiter, *, secure: bool, clock: Callable[[], float]
    ) -> None:
        self.tokens = tokens
        self.sessions = sessions
        self.limiter = limiter
        self.secure = secure
        self.clock = clock
        # The __Host- prefix (RFC 6265bis): Secure, Path=/, no Domain: no other host may set it.
        self.cookie = "__Host-ac-board" if secure else "ac-board"
        self.on_failure: Callable[[], None] = lambda: None  # counted in /metrics

    def client(self, request: web.Request) -> str:
        return request.remote or "?"

    def limited(self, request: web.Request) -> float:
        return self.limiter.retry_after(self.client(request), self.clock())

    def check_token(self, request: web.Request, token: str, what: str) -> str | None:
        """The token's name, or None (counted, logged, rate-limited)."""
        book = self.tokens.reload()
        name = book.name_of(token) if token else None
        client = self.client(request)
        if name is None:
            self.on_failure()
            self.limiter.failed(client, self.clock())
            log.warning(
                "dispatch: %s refused from %s (%s)", what, escaped(client), "no token" if not token else "unknown token"
            )
        else:
            self.limiter.succeeded(client)
        return name

    def login(self, request: web.Request, token: str) -> tuple[str, Session] | None:
        name = self.check_token(request, token, "login")
        if name is None:
            return None
        digest = self.tokens.book.digest_of(name)
        assert digest is not None
        session_id, session = self.sessions.open(name, digest, self.clock())
        audit.info("%s: logged in from %s", name, escaped(self.client(request)))
        return session_id, session

    def set_cookie(self, response: web.StreamResponse, session_id: str) -> None:
        response.set_cookie(self.cookie, session_id, path="/", httponly=True, secure=self.secure, samesite="Strict",
                            max_age=int(self.sessions.idle_s))  # fmt: skip

    def session_of(self, request: web.Request) -> tuple[str, Session] | None:
        session_id = request.cookies.get(self.cookie)
        if not session_id:
            return None
        session = self.sessions.get(session_id, self.tokens.reload(), self.clock())
        return None if session is None else (session_id, session)

    def caller(self, request: web.Request) -> Caller | web.Response:
        """Who is asking, or the 401/403/429 to answer with."""
        header = request.headers.get("Authorization")
        if header is not None:
            wait = self.limited(request)
            if wait > 0:
                return _refusal(429, f"too many failed tokens from this address; try again in {wait:.0f} s",
                                {"Retry-After": str(max(1, round(wait)))})  # fmt: skip
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer":
                return _refusal(401, "Authorization must be 'Bearer TOKEN'")
            name = self.check_token(request, token.strip(), f"token for {request.method} {request.path[:100]}")
            if name is None:
                return _refusal(401, "unknown or revoked token")
            return Caller(name, None, self.tokens.book.digest_of(name) or b"")
        found = self.session_of(request)
        if found is None:
            return _refusal(401, "log in first (or send Authorization: Bearer TOKEN)")
        _, session = found
        if request.method not in ("GET", "HEAD") and not csrf_ok(session, request.headers.get("X-CSRF-Token")):
            log.warning("dispatch: %s %s by %s refused: no valid X-CSRF-Token", request.method,
                        escaped(request.path[:100]), session.name)  # fmt: skip
            return _refusal(403, "missing or wrong X-CSRF-Token (reload the board)")
        return Caller(session.name, session, session.token_digest)

    def still_valid(self, caller: Caller) -> bool:
        """Whether the caller's token is still in the file (a long-lived event stream asks this)."""
        return self.tokens.reload().holds(caller.name, caller.token_digest)


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    extra = {"WWW-Authenticate": 'Bearer realm="activecalls-dispatch"'} if status == 401 else {}
    return web.json_response({"error": message, "field": None}, status=status,
                             headers={"Cache-Control": "no-store", **extra, **(headers or {})})  # fmt: skip
