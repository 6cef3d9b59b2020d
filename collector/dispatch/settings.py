"""The collector config's ``[dispatch]`` section: the private board and CAD API.

::

    [dispatch]
    listen = "127.0.0.1:8443"                          # HOST:PORT; never the public site's
    tokens_file = "/etc/activecalls/dispatch-tokens"   # NAME TOKEN per line; re-read when it changes
    #cert_file = "/etc/activecalls/dispatch.crt"       # TLS (both or neither)
    #key_file = "/etc/activecalls/dispatch.key"
    #session_hours = 12                                # a board login lasts this long idle

The section's presence turns the listener on (``enabled = false`` keeps it off).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from collector.web.settings import parse_listen
from common.tomlconfig import Table

__all__ = ["DEFAULT_DISPATCH_LISTEN", "DispatchSettings", "dispatch_settings"]

DEFAULT_DISPATCH_LISTEN: Final = "127.0.0.1:8443"


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    enabled: bool = False
    listen: str = DEFAULT_DISPATCH_LISTEN
    tokens_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    session_s: float = 12 * 3600.0

    @property
    def address(self) -> tuple[str, int]:
        return parse_listen(self.listen)

    @property
    def tls(self) -> bool:
        return self.cert_file is not None


def _overlap(a: tuple[str, int], b: tuple[str, int]) -> bool:
    wildcard = ("0.0.0.0", "::", "")
    return a[1] == b[1] and (a[0] == b[0] or a[0] in wildcard or b[0] in wildcard)


def dispatch_settings(table: Table | None, *, public_listen: str | None = None) -> DispatchSettings:
    """Read ``[dispatch]`` (rejecting unknown keys); ``public_listen``: the public site's, which it must not share."""
    if table is None:
        return DispatchSettings()
    enabled = table.get_bool("enabled", True)
    listen = table.get_str("listen", DEFAULT_DISPATCH_LISTEN)
    try:
        address = parse_listen(listen)
    except ValueError as exc:
        raise table.error("listen", str(exc)) from None
    if public_listen is not None and _overlap(address, parse_listen(public_listen)):
        raise table.error("listen", f"{listen!r} shares its port with the public site ([web] listen): "
                                    "the board is private and needs a listener of its own")  # fmt: skip
    cert_file, key_file = table.get_path("cert_file", None), table.get_path("key_file", None)
    if (cert_file is None) != (key_file is None):
        raise table.error("cert_file" if key_file is not None else "key_file", "cert_file and key_file go together")
    tokens_file = table.get_path("tokens_file", None)
    if enabled and tokens_file is None:
        raise table.error("tokens_file", "is needed: every page and API call of the board needs a login token "
                                         "(one line per operator or system: NAME TOKEN)")  # fmt: skip
    settings = DispatchSettings(
        enabled=enabled,
        listen=listen,
        tokens_file=tokens_file,
        cert_file=cert_file,
        key_file=key_file,
        session_s=table.get_float("session_hours", 12.0, low=0.0, low_exclusive=True, high=24.0 * 30) * 3600,
    )
    table.check_unknown()
    return settings
