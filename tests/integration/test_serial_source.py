"""The source shell on a socket:// URL (a vehicle router forwarding NMEA over TCP):
data arrives, the router going away is noticed, and its return is picked up."""

from __future__ import annotations

import asyncio
import socket

import pytest

from agent.source import SerialSource
from common.backoff import Backoff
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def test_socket_source_reconnects_after_the_router_restarts() -> None:
    port = free_port()

    async def go() -> tuple[list[str], bytes]:
        events: list[str] = []
        data = bytearray()
        opened = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_open() -> None:
            events.append("open")
            opened.set()

        source = SerialSource(
            f"socket://127.0.0.1:{port}", 9600, on_open=on_open, on_chunk=data.extend,
            on_closed=lambda reason: events.append("closed: " + reason), backoff=Backoff(0.05, 0.2),
        )  # fmt: skip
        source.start()
        await asyncio.sleep(0.3)  # nothing listens yet: failed opens, retried
        for round_ in range(2):
            with socket.create_server(("127.0.0.1", port)) as server:
                server.settimeout(5)
                conn, _ = await loop.run_in_executor(None, server.accept)
                await asyncio.wait_for(opened.wait(), 5)
                opened.clear()
                conn.sendall(b"$GPGGA,round%d*00\r\n" % round_)
                await asyncio.sleep(0.3)
                conn.close()  # the router reboots
            await asyncio.sleep(0.3)
        await asyncio.to_thread(source.stop, 1.0)
        return events, bytes(data)

    events, data = asyncio.run(go())
    assert data == b"$GPGGA,round0*00\r\n$GPGGA,round1*00\r\n"
    assert events[0].startswith("closed: cannot open socket://127.0.0.1:") and "refused" in events[0]
    opens = [i for i, e in enumerate(events) if e == "open"]
    assert len(opens) == 2
    assert any(e.startswith("closed: ") for e in events[opens[0] : opens[1]])  # the loss was reported
