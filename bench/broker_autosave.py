"""What the private broker's autosave costs in disk writes, with a live fleet.

Renders the production configuration (deploy/mosquitto/render, lab PKI), starts
it, connects the collector's persistent session (reading everything, as the
service does) and runs ``activecalls-sim fleet`` over TLS with a certificate per
unit for DURATION_S. Then prints the store's size, how often it is rewritten
(``autosave_interval``), what that makes per hour, and, as a cross-check, the
bytes the broker process actually wrote to storage in the run (``/proc/<pid>/io``
write_bytes, its log file's growth left out; 0 on a tmpfs).

    python bench/broker_autosave.py [UNITS] [DURATION_S] [AUTOSAVE_S]

Defaults: 500 units at 1 Hz for 60 s, the rendered autosave (10 s). Making the
lab PKI for 500 units takes about 20 s the first time (kept in the temp dir
of this run only).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from simulators.securebroker import make_lab_pki, start_secure_brokers

FLEET = "bench"


def storage_writes(pid: int) -> int:
    """Bytes the process caused to be written to storage (not sockets: wchar counts those)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/<pid>/io")


def collector(pki: Path, port: int, received: list[int]) -> paho.Client:
    """The collector's persistent session on the service listener, reading everything."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="collector", clean_session=False)
    client.tls_set(ca_certs=str(pki / "ca.crt"), certfile=str(pki / "services/collector.crt"),
                   keyfile=str(pki / "services/collector.key"))  # fmt: skip
    subscribed = threading.Event()

    def on_connect(c: paho.Client, *_a: object) -> None:
        c.subscribe(f"ac/v1/{FLEET}/#", 1)
        subscribed.set()

    client.on_connect = on_connect
    client.on_message = lambda *_a: received.append(1)
    client.connect("localhost", port)
    client.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("the collector did not connect")
    return client


def main() -> int:
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    duration = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    options = ["--autosave-interval", sys.argv[3]] if len(sys.argv) > 3 else []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "units.txt").write_text("".join(f"SIM-{n:04d}\n" for n in range(1, units + 1)))
        started = time.monotonic()
        pki = make_lab_pki(work / "pki", (), "--units-file", str(work / "units.txt"))
        print(f"lab PKI for {units} units in {time.monotonic() - started:.1f} s", flush=True)
        brokers = start_secure_brokers(work / "broker", FLEET, pki=pki, render_options=options, bridged=False)
        config = (brokers.etc / "conf.d" / "activecalls.conf").read_text()
        autosave = int(re.search(r"^autosave_interval (\d+)$", config, re.M).group(1))  # type: ignore[union-attr]
        store = brokers.workdir / "var-lib-mosquitto" / "mosquitto.db"
        received: list[int] = []
        reader = collector(pki, brokers.ports.service, received)
        try:
            pid = brokers.private.process.pid
            log_before = brokers.private.log.stat().st_size
            written_before = storage_writes(pid)
            fleet = subprocess.run(
                [sys.executable, "-m", "simulators.cli", "fleet", "--host", "localhost",
                 "--port", str(brokers.ports.vehicle), "--ca-file", str(pki / "ca.crt"),
                 "--cert-dir", str(pki / "units"), "--fleet", FLEET, "--units", str(units), "--hz", "1",
                 "--duration", str(duration)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            written = storage_writes(pid) - written_before - (brokers.private.log.stat().st_size - log_before)
            size = store.stat().st_size if store.exists() else 0
        finally:
            reader.loop_stop()
            reader.disconnect()
            brokers.stop()
    if fleet.returncode != 0:
        print(fleet.stderr, file=sys.stderr)
        return 1
    acked = re.search(r"positions acknowledged: (\d+)", fleet.stdout)
    seconds = duration + 5  # the fleet's connect and drain around its run
    per_hour = size * 3600 / autosave
    print(f"{units} units at 1 Hz for {duration} s: {acked.group(1) if acked else '?'} positions acknowledged, "
          f"{len(received)} messages delivered to the collector")  # fmt: skip
    print(f"store: {size / 1e3:.0f} kB, rewritten every {autosave} s (autosave_interval): "
          f"{per_hour / 1e6:.0f} MB per hour, {per_hour * 24 / 1e9:.1f} GB per day")  # fmt: skip
    print(f"cross-check: the broker wrote {written / 1e6:.1f} MB in about {seconds} s "
          f"({written * 3600 / seconds / 1e6:.0f} MB per hour at that rate)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
