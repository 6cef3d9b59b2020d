"""What a message queued for a stalled collector costs the broker.

Runs Mosquitto on the rendered deploy/mosquitto configuration (lab PKI, TLS,
as tests/integration/test_broker_config.py does), stalls the collector's
persistent session, publishes N messages from one car, and prints:

  - resident memory per queued message (VmRSS growth / N), for pos-sized and
    track-sized payloads, so a site can size max_queued_messages and
    max_queued_bytes for its RAM;
  - how long a clean stop takes to save that queue, and the store's size
    per message (persistence: what autosave_interval costs);
  - how fast the collector then drains the queue.

    python bench/broker_queue.py [N]      (default 100000)
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from pathlib import Path

# The harness lives with the integration tests; this script runs from a checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.wire import TopicKind, Topics, encode_track
from tests.integration.secure_broker import make_lab_pki, position, positions, start_secure_broker

FLEET = "bench"
TOPICS = Topics(FLEET)


def run(workdir: Path, pki: Path, kind: TopicKind, payloads: list[bytes]) -> None:
    count = len(payloads)
    secure = start_secure_broker(workdir, FLEET, pki=pki)
    try:
        collector = secure.probe("service", "services/collector", client_id="collector", clean=False)
        collector.subscribe(TOPICS.unit_filter(kind))
        car = secure.probe("vehicle", "units/PC-101")
        before = secure.rss_bytes()
        started = time.perf_counter()
        car.publish_burst(TOPICS.unit("PC-101", kind), payloads, window=5000)
        published = time.perf_counter() - started
        per_message = (secure.rss_bytes() - before) / count
        payload = len(payloads[0])
        print(
            f"{kind.value}: {count} x {payload} B payload, published in {published:.1f} s "
            f"({count / published:,.0f}/s acknowledged)"
        )
        print(
            f"  broker memory per queued message: {per_message:,.0f} B "
            f"(payload {payload} B + {per_message - payload:,.0f} B overhead)"
        )

        # A clean stop writes the whole store, queue included.
        collector.close()
        car.close()
        stop_started = time.perf_counter()
        secure.broker.process.send_signal(signal.SIGTERM)
        secure.broker.process.wait(timeout=600)
        saved_in = time.perf_counter() - stop_started
        store = next(workdir.glob("var-lib-mosquitto/*.db"))
        print(
            f"  clean stop with the queue: {saved_in:.2f} s; store {store.stat().st_size / 1e6:.1f} MB "
            f"({store.stat().st_size / count:,.0f} B per message)"
        )

        secure.broker.start()
        collector = secure.probe("service", "services/collector", client_id="collector", clean=False)
        started = time.perf_counter()
        collector.pump_until(lambda: len(collector.messages) >= count, 600, "the drain")
        drained = time.perf_counter() - started
        print(f"  after a restart the collector drains it in {drained:.1f} s ({count / drained:,.0f} messages/s)")
    finally:
        secure.stop()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pki = make_lab_pki(work / "pki", ["PC-101"])
        run(work / "pos", pki, TopicKind.POS, positions("PC-101", count))
        # A full backlog message: 500 fixes, as the agent sends after an outage.
        track = encode_track("PC-101", [position("PC-101", seq) for seq in range(1, 501)])
        tracks = max(1, count // 100)
        run(work / "track", pki, TopicKind.TRACK, [track] * tracks)


if __name__ == "__main__":
    main()
