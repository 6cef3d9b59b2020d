"""The ✓/✗ table of ``activecalls-agent check`` and ``activecalls-collector check``.

Both commands answer the same question for a technician ("is this
installation right, and if not, what do I do?"), so both print the same
table: one line per check, a hint under every ✗, a count at the end. The
broker's failures get the same hints too, since both log in with the same
``[mqtt]`` settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from common.mqtt import AuthError, BrokerUnreachableError, MqttError, TlsError
from common.tomlconfig import ConfigError

__all__ = ["FAIL", "OK", "CheckResult", "broker_failure", "format_report"]

OK: Final = "✓"
FAIL: Final = "✗"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    hint: str = ""


def format_report(heading: Sequence[str], results: Sequence[CheckResult]) -> str:
    """The table a technician reads, under ``heading`` lines. Pure."""
    width = max((len(r.name) for r in results), default=0)
    lines = [*heading, ""]
    for r in results:
        lines.append(f"  {OK if r.ok else FAIL}  {r.name.ljust(width)}  {r.detail}")
        if r.hint and not r.ok:
            lines.append(f"     {' ' * width}  hint: {r.hint}")
    failed = sum(not r.ok for r in results)
    lines.append("")
    lines.append("all checks passed" if not failed else f"{failed} problem{'s' if failed > 1 else ''} found")
    return "\n".join(lines) + "\n"


def broker_failure(exc: MqttError | ConfigError, *, network: str, identity: str, account: str) -> CheckResult:
    """A failed login to the broker, with what to do about it.

    ``network`` names the link to check when the broker is unreachable,
    ``identity`` whose certificate mTLS presents, ``account`` whose ACL to check.
    """
    if isinstance(exc, BrokerUnreachableError):
        hint = f"broker unreachable: check [mqtt] host and port, {network}, and that a firewall lets the port through"
    elif isinstance(exc, TlsError):
        hint = (
            "TLS failure: [mqtt] ca_file must hold the CA that signed the broker's certificate, [mqtt] host must "
            f"match a name in it, and with mTLS cert_file/key_file must be {identity}'s certificate, signed by a CA "
            "the broker trusts; also check the clock (certificate dates)"
        )
    elif isinstance(exc, AuthError):
        hint = (
            "auth failure: check [mqtt] username and the password in password_file (first line, no quotes), "
            f"and the broker's ACL for {account}"
        )
    elif isinstance(exc, ConfigError):
        hint = "this user must be able to read that file (run check as the service's user)"
    else:
        hint = "the broker closed the connection: see its log"
    return CheckResult("broker", False, str(exc), hint)
