"""sd_notify against a real datagram socket, as systemd listens."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from common.sdnotify import Notifier, watchdog_interval


def test_messages_reach_the_socket(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        path = tmp_path / "notify"
        listener.bind(str(path))
        listener.settimeout(2)
        n = Notifier({"NOTIFY_SOCKET": str(path)})
        assert n.enabled
        n.ready("GPS: ok")
        n.watchdog()
        n.status("GPS: no fix for 30 s")
        n.stopping()
        got = [listener.recv(1024).decode() for _ in range(4)]
        n.close()
    assert got == ["READY=1\nSTATUS=GPS: ok", "WATCHDOG=1", "STATUS=GPS: no fix for 30 s", "STOPPING=1"]


def test_abstract_socket_address() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        name = f"activecalls-test-{os.getpid()}"
        listener.bind("\0" + name)
        listener.settimeout(2)
        Notifier({"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert listener.recv(64) == b"WATCHDOG=1"


def test_no_socket_is_a_no_op_and_a_dead_socket_is_harmless(tmp_path: Path) -> None:
    quiet = Notifier({})
    assert not quiet.enabled
    quiet.ready()
    Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")}).ready()  # must not raise


def test_watchdog_interval_is_half_of_watchdog_sec() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}) == 5.0
    assert watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
