"""Secret files (passwords, private keys, the public feed's pseudonym secret), treated as ssh treats keys.

A secret readable by other users is no secret: :func:`check_private` refuses
a file that others may read or write, that its group may write, that a group
other than the service's may read, or that a user other than root or this
process owns (who could swap it), and says how to fix it.

"The service's group": the installed services run as user and group
``activecalls`` (systemd/ and docs/install.md), and their secrets are
installed ``root:activecalls`` mode 0640, so that the service reads them
through its group and nobody else at all. Group read is therefore accepted
for the group ``activecalls`` (also when root runs ``check``: it judges the
file as the service will) and for this process's own effective group (a
developer's files, or a service run under another account); any other group
may not read it. Mode 0600 is always fine.

:func:`read_password` is the one reader of MQTT password files: the first
line, its newline not included; a second non-empty line is refused (a file
holding something else than one password is a mistake, not a password).
"""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path
from typing import Final

from common.tomlconfig import ConfigError

__all__ = ["SERVICE_GROUP", "check_private", "exposure", "read_password", "read_private_bytes"]

SERVICE_GROUP: Final = "activecalls"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _service_gids() -> set[int]:
    gids = {os.getegid()}
    try:
        gids.add(grp.getgrnam(SERVICE_GROUP).gr_gid)
    except KeyError:
        pass
    return gids


def exposure(mode: int, uid: int, gid: int, *, euid: int, service_gids: set[int]) -> list[str]:
    """Who besides its owner and the service can get at a file: one phrase each. Pure."""
    problems = []
    if mode & 0o007:
        problems.append("every user on this machine can " + ("read it" if mode & 0o004 else "get at it"))
    if mode & 0o020:
        problems.append(f"group {_group_name(gid)} can change it")
    if mode & 0o040 and gid not in service_gids:
        problems.append(f"group {_group_name(gid)} can read it")
    if uid not in (0, euid):
        problems.append(f"user {uid} owns it and could replace it")
    return problems


def check_private(path: Path, what: str) -> None:
    """Raise ConfigError (with the fix) unless only its owner and the service's group can read ``path``."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"the {what} does not exist", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror or exc}", path=path) from None
    mode = stat.S_IMODE(info.st_mode)
    problems = exposure(mode, info.st_uid, info.st_gid, euid=os.geteuid(), service_gids=_service_gids())
    if problems:
        fix = (
            f"make it readable by its owner and the {SERVICE_GROUP} group only: "
            f"sudo chown root:{SERVICE_GROUP} {path} && sudo chmod 0640 {path} (0600 for a file only its owner uses)"
        )
        raise ConfigError(f"the {what} is not private (mode {mode:04o}: {'; '.join(problems)}); {fix}", path=path)


def read_private_bytes(path: Path, what: str) -> bytes:
    """The content of a secret file, after :func:`check_private`."""
    check_private(path, what)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror or exc}", path=path) from None


def read_password(path: Path) -> str:
    """The MQTT password: the file's first line, without its newline (a file made by
    ``echo``, an editor or ``printf`` gives the same password)."""
    try:
        text = read_private_bytes(path, "MQTT password file").decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("the MQTT password file is not UTF-8 text", path=path) from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise ConfigError("the MQTT password file is empty: put the password on its first line", path=path)
    if any(line.strip() for line in lines[1:]):
        raise ConfigError("the MQTT password file has more than one line: put only the password in it", path=path)
    return lines[0]
