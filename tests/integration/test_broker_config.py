"""The broker configuration of deploy/mosquitto/, run for real.

Every test talks to a Mosquitto started on exactly the rendered configuration
(deploy/mosquitto/render into a temporary /etc/mosquitto, free loopback ports,
certificates from deploy/pki/make-lab-pki). "Never arrives" is proved without
sleeping: a forbidden publish is followed by an allowed sentinel from the same
client, and Mosquitto keeps one client's order, so whatever the witness
received before the sentinel is everything that got through.
"""

from __future__ import annotations

import itertools
import signal
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from common.wire import TopicKind, Topics, decode_fix
from tests.integration.secure_broker import (
    ConnectRefused,
    Message,
    Probe,
    SecureBroker,
    make_lab_pki,
    positions,
    start_secure_broker,
)

pytestmark = pytest.mark.integration

FLEET = "testfleet"
TOPICS = Topics(FLEET)
UNITS = ("PC-101", "PC-102", "PC-103")
_serial = itertools.count(1)


def token(label: str) -> bytes:
    """A payload no other test sends."""
    return f"{label}-{next(_serial)}".encode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lab_pki(tmp_path_factory.mktemp("pki"), UNITS)


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[SecureBroker]:
    broker = start_secure_broker(tmp_path_factory.mktemp("broker"), FLEET, pki=pki)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def witness(secure: SecureBroker) -> Probe:
    """The collector, subscribed to everything it may read, with the retained
    messages of earlier tests read and forgotten."""
    probe = secure.probe("service", "services/collector", client_id=f"witness-{next(_serial)}")
    probe.subscribe(f"{TOPICS.root}/#")
    probe.subscribe(f"public/v1/{FLEET}/#")
    sentinel = (TOPICS.incident("WITNESS"), token("ready"))
    probe.wait_acked([probe.publish(*sentinel)])
    probe.wait_for(*sentinel)
    return probe


def unit_probe(secure: SecureBroker, unit: str, **kwargs: object) -> Probe:
    return secure.probe("vehicle", f"units/{unit}", **kwargs)  # type: ignore[arg-type]


def sent_through(
    witness: Probe, sender: Probe, forbidden: list[tuple[str, bytes]], sentinel: tuple[str, bytes]
) -> list[Message]:
    """Publish the forbidden messages then the sentinel from ``sender``; return
    what the witness received before the sentinel."""
    mids = [sender.publish(topic, payload) for topic, payload in forbidden]
    mids.append(sender.publish(*sentinel))
    sender.wait_acked(mids)
    return witness.wait_for(*sentinel)


# --- vehicles -------------------------------------------------------------------


def test_a_unit_cannot_publish_as_another_unit(secure: SecureBroker, witness: Probe) -> None:
    a = unit_probe(secure, "PC-101")
    forbidden = [
        (TOPICS.unit("PC-102", kind), token("spoof"))
        for kind in (TopicKind.POS, TopicKind.TRACK, TopicKind.STATE, TopicKind.DIAG)
    ]
    leaked = sent_through(witness, a, forbidden, (TOPICS.diag("PC-101"), token("sentinel")))
    assert leaked == []


def test_a_unit_publishes_its_own_reporting_topics(secure: SecureBroker, witness: Probe) -> None:
    a = unit_probe(secure, "PC-101")
    own = [
        (TOPICS.unit("PC-101", kind), token(kind.value)) for kind in (TopicKind.POS, TopicKind.TRACK, TopicKind.STATE)
    ]
    received = sent_through(witness, a, own, (TOPICS.diag("PC-101"), token("sentinel")))
    assert [(m.topic, m.payload) for m in received] == own


def test_a_unit_cannot_write_status_incidents_etas_or_the_public_feed(secure: SecureBroker, witness: Probe) -> None:
    a = unit_probe(secure, "PC-101")
    forbidden = [
        (TOPICS.status("PC-101"), b"available"),
        (TOPICS.status("PC-102"), b"unavailable"),
        (TOPICS.incident("INC-UNIT"), token("incident")),
        (TOPICS.eta("INC-UNIT"), token("eta")),
        (TOPICS.public_units, token("public")),
        (TOPICS.public_calls, token("public")),
        (f"{TOPICS.root}/units/PC-101", token("short")),
        (f"{TOPICS.root}/units/PC-101/pos/extra", token("long")),
    ]
    leaked = sent_through(witness, a, forbidden, (TOPICS.diag("PC-101"), token("sentinel")))
    assert leaked == []


def test_a_unit_reads_only_its_own_duty_status(secure: SecureBroker, witness: Probe) -> None:
    dispatch = secure.probe("service", "services/dispatch")
    # Retained state of other units and of the fleet exists before it subscribes.
    dispatch.wait_acked(
        [
            dispatch.publish(TOPICS.status("PC-102"), b"onscene", retain=True),
            dispatch.publish(TOPICS.incident("INC-READ"), token("incident"), retain=True),
        ]
    )
    own_status = token("dispatched")
    a = unit_probe(secure, "PC-101")
    for topic in (
        "#",
        f"{TOPICS.root}/#",
        TOPICS.unit_filter(TopicKind.POS),
        TOPICS.incidents_filter,
        TOPICS.status("PC-101"),
    ):
        a.subscribe(topic)
    dispatch.wait_acked(
        [
            dispatch.publish(TOPICS.status("PC-102"), b"enroute"),
            dispatch.publish(TOPICS.incident("INC-READ"), token("incident")),
            dispatch.publish(TOPICS.status("PC-101"), own_status),
        ]
    )
    before = a.wait_for(TOPICS.status("PC-101"), own_status)
    a.pump(0.3)  # anything else the broker sent with it is in by now
    assert [m for m in before + a.messages if m.topic != TOPICS.status("PC-101")] == []


def test_the_client_id_is_the_certificate_so_a_unit_cannot_take_over_another_session(
    secure: SecureBroker, witness: Probe
) -> None:
    b = unit_probe(secure, "PC-102")
    unit_probe(secure, "PC-101", client_id="PC-102")  # would kick b off if the id were honoured
    b.pump(0.3)
    assert not b.disconnected
    payload = token("still-here")
    b.wait_acked([b.publish(TOPICS.pos("PC-102"), payload)])
    assert witness.wait_for(TOPICS.pos("PC-102"), payload) == []


def test_service_certificates_have_no_rights_on_the_vehicle_listener(secure: SecureBroker, witness: Probe) -> None:
    # Not the collector's own certificate: its client id (the CN) is the witness's.
    collector_as_car = secure.probe("vehicle", "services/dispatch")
    forbidden = [(TOPICS.pos("collector"), token("pos")), (TOPICS.incident("INC-SVC"), token("incident"))]
    for topic, payload in forbidden:
        collector_as_car.wait_acked([collector_as_car.publish(topic, payload)])
    # Ordering holds per client only: a legitimate car's sentinel comes after
    # the broker has processed (and acknowledged) the forbidden ones.
    a = unit_probe(secure, "PC-101")
    sentinel = token("sentinel")
    a.wait_acked([a.publish(TOPICS.diag("PC-101"), sentinel)])
    assert witness.wait_for(TOPICS.diag("PC-101"), sentinel) == []


def test_unit_certificates_have_no_rights_on_the_service_listener(secure: SecureBroker, witness: Probe) -> None:
    car_as_service = secure.probe("service", "units/PC-101")
    car_as_service.subscribe(f"{TOPICS.root}/#")
    for topic, payload in [
        (TOPICS.incident("INC-CAR"), token("incident")),
        (TOPICS.status("PC-101"), b"available"),
        (TOPICS.pos("PC-101"), token("pos")),
    ]:
        car_as_service.wait_acked([car_as_service.publish(topic, payload)])
    collector = witness  # one session per certificate: the collector's is the witness
    sentinel = token("sentinel")
    collector.wait_acked([collector.publish(TOPICS.incident("INC-CAR"), sentinel)])
    assert witness.wait_for(TOPICS.incident("INC-CAR"), sentinel) == []
    car_as_service.pump(0.3)
    assert car_as_service.messages == []


def test_a_unit_can_be_shut_out_by_the_acl_and_a_reload(tmp_path: Path, pki: Path) -> None:
    """The revocation procedure of docs/broker.md, before a CRL is published."""
    secure = start_secure_broker(tmp_path, FLEET, pki=pki)
    try:
        dispatch = secure.probe("service", "services/dispatch")
        dispatch.subscribe(TOPICS.unit_filter(TopicKind.POS))
        car = unit_probe(secure, "PC-101", protocol=MQTTProtocolVersion.MQTTv5)
        before = token("before")
        car.wait_acked([car.publish(TOPICS.pos("PC-101"), before)])
        dispatch.wait_for(TOPICS.pos("PC-101"), before)

        acl = secure.etc / "activecalls" / "vehicles.acl"
        acl.write_text(acl.read_text() + "user PC-101\ntopic deny #\n")
        secure.broker.process.send_signal(signal.SIGHUP)  # what systemctl reload mosquitto does
        refused: set[bytes] = set()
        deadline = time.monotonic() + 10
        while not refused and time.monotonic() < deadline:  # the reload is asynchronous
            payload = token("after")
            mid = car.publish(TOPICS.pos("PC-101"), payload)
            car.wait_acked([mid])
            if car.puback_codes[mid].getName() == "Not authorized":  # MQTT 5 says why
                refused.add(payload)
        other = unit_probe(secure, "PC-102")
        sentinel = token("sentinel")
        other.wait_acked([other.publish(TOPICS.pos("PC-102"), sentinel)])
        arrived = {m.payload for m in dispatch.wait_for(TOPICS.pos("PC-102"), sentinel)}
    finally:
        secure.stop()
    assert refused, "the unit could still publish 10 s after the reload"
    assert arrived.isdisjoint(refused)


# --- nobody without a certificate from the CA ---------------------------------------


@pytest.mark.parametrize("listener", ["vehicle", "service"])
def test_tls_listeners_refuse_clients_without_a_certificate(secure: SecureBroker, listener: str) -> None:
    with pytest.raises(ConnectRefused):
        secure.probe(listener, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("listener", ["vehicle", "service"])
def test_tls_listeners_refuse_plain_mqtt(secure: SecureBroker, listener: str) -> None:
    plain = secure.unconnected_probe(listener, "plain")  # type: ignore[arg-type]
    with pytest.raises((ConnectRefused, ConnectionError, TimeoutError)):
        plain.connect(timeout=5)


@pytest.mark.parametrize("listener", ["vehicle", "service"])
def test_tls_listeners_refuse_certificates_of_another_ca(
    secure: SecureBroker, listener: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    rogue = make_lab_pki(tmp_path_factory.mktemp("rogue-pki"), ["PC-101"])
    probe = secure.unconnected_probe(listener, "rogue")  # type: ignore[arg-type]
    identity = "units/PC-101" if listener == "vehicle" else "services/collector"
    # Trust the real broker, present the rogue certificate.
    probe.client.tls_set(
        ca_certs=str(secure.pki / "ca.crt"),
        certfile=str(rogue / f"{identity}.crt"),
        keyfile=str(rogue / f"{identity}.key"),
        cert_reqs=ssl.CERT_REQUIRED,
    )
    secure.probes.append(probe)
    with pytest.raises((ConnectRefused, ConnectionError, TimeoutError)):
        probe.connect(timeout=5)


# --- the public WebSockets listener -------------------------------------------------


def test_public_readers_get_public_topics_only(secure: SecureBroker, witness: Probe) -> None:
    collector = witness
    units, calls = token("units-snapshot"), token("calls-snapshot")
    collector.wait_acked(
        [
            collector.publish(TOPICS.public_units, units, retain=True),
            collector.publish(TOPICS.public_calls, calls, retain=True),
            collector.publish(TOPICS.pos("PC-103"), token("pos"), retain=True),
            collector.publish(TOPICS.incident("INC-PUB"), token("incident"), retain=True),
        ]
    )
    reader = secure.probe("public", None, protocol=MQTTProtocolVersion.MQTTv5)
    # The public broker refuses (0x87) every filter but the feed's, instead of
    # granting it and storing it; what it holds came over the bridge.
    for topic in ("#", "ac/#", f"{TOPICS.root}/#", "$SYS/#", "public/#", f"public/v1/{FLEET}/x" + "y" * 1000):
        assert [code.value for code in reader.subscribe(topic, qos=1)] == [0x87]
    assert [code.value for code in reader.subscribe(f"public/v1/{FLEET}/#", qos=1)] == [0]
    reader.pump_until(lambda: {m.payload for m in reader.messages} >= {units, calls}, 10, "retained snapshots")
    reader.pump(0.3)
    assert {m.topic for m in reader.messages} == {TOPICS.public_units, TOPICS.public_calls}
    # QoS 0 whatever was asked: nothing is ever queued for an anonymous reader.
    assert {m.qos for m in reader.messages} == {0}


def test_anonymous_public_clients_cannot_write_anything(secure: SecureBroker, witness: Probe) -> None:
    collector = witness
    snapshot = token("genuine")
    collector.wait_acked([collector.publish(TOPICS.public_units, snapshot, retain=True)])
    witness.wait_for(TOPICS.public_units, snapshot)

    anonymous = secure.probe("public", None)
    for topic in (
        TOPICS.public_units,
        TOPICS.public_calls,
        TOPICS.pos("PC-101"),
        TOPICS.status("PC-101"),
        TOPICS.incident("INC-ANON"),
        TOPICS.eta("INC-ANON"),
        "$SYS/broker/x",
        "anything",
    ):
        anonymous.publish(topic, token("vandal"), qos=0, retain=True)
    anonymous.subscribe(f"public/v1/{FLEET}/#", qos=0)  # SUBACK: the broker has handled the publishes above
    sentinel = token("sentinel")
    collector.wait_acked([collector.publish(TOPICS.public_calls, sentinel, retain=True)])
    assert witness.wait_for(TOPICS.public_calls, sentinel) == []

    fresh = secure.probe("public", None)
    fresh.subscribe(TOPICS.public_units, qos=0)
    fresh.pump_until(lambda: bool(fresh.messages), 10, "retained public snapshot")
    assert fresh.messages[0].payload == snapshot


def test_anonymous_qos1_publish_is_refused_with_a_disconnect(secure: SecureBroker, witness: Probe) -> None:
    anonymous = secure.probe("public", None, protocol=MQTTProtocolVersion.MQTTv5)
    anonymous.publish(TOPICS.public_units, token("vandal"), qos=1)
    anonymous.pump_until(lambda: anonymous.disconnected, 10, "disconnect")


# --- services --------------------------------------------------------------------


def test_the_collector_reads_the_fleet_and_writes_what_it_owns(secure: SecureBroker, witness: Probe) -> None:
    dispatch = secure.probe("service", "services/dispatch")
    dispatch.subscribe(f"{TOPICS.root}/#")
    public = secure.probe("public", None)
    public.subscribe(f"public/v1/{FLEET}/#", qos=0)

    # What units and dispatch write, the collector reads.
    a = unit_probe(secure, "PC-103")
    from_unit = [
        (TOPICS.unit("PC-103", kind), token(kind.value))
        for kind in (TopicKind.POS, TopicKind.TRACK, TopicKind.STATE, TopicKind.DIAG)
    ]
    a.wait_acked([a.publish(t, p) for t, p in from_unit])
    from_dispatch = [(TOPICS.incident("INC-COL"), token("incident")), (TOPICS.status("PC-103"), b"dispatched")]
    dispatch.wait_acked([dispatch.publish(t, p) for t, p in from_dispatch])
    read = [(m.topic, m.payload) for m in witness.wait_for(*from_dispatch[-1])]
    assert read == [*from_unit, from_dispatch[0]]

    # What the collector writes: ETAs and incidents (dispatch reads them),
    # duty status (the car reads its own), the public feed (everyone).
    collector = witness  # the collector's one session
    car_status = a.subscribe(TOPICS.status("PC-103"))
    assert car_status
    writes = [
        (TOPICS.eta("INC-COL"), token("eta")),
        (TOPICS.incident("INC-COL2"), token("incident")),
        (TOPICS.status("PC-103"), b"enroute"),
    ]
    collector.wait_acked([collector.publish(t, p) for t, p in writes])
    got = dispatch.wait_for(*writes[-1])
    assert [(m.topic, m.payload) for m in got][-2:] == writes[:2]
    a.wait_for(TOPICS.status("PC-103"), b"enroute")
    snapshot = token("snapshot")
    collector.wait_acked([collector.publish(TOPICS.public_units, snapshot)])
    public.wait_for(TOPICS.public_units, snapshot)


def test_dispatch_cannot_write_etas_or_the_public_feed(secure: SecureBroker, witness: Probe) -> None:
    dispatch = secure.probe("service", "services/dispatch")
    forbidden = [
        (TOPICS.eta("INC-DIS"), token("eta")),
        (TOPICS.public_units, token("public")),
        (TOPICS.pos("PC-101"), token("pos")),
    ]
    leaked = sent_through(witness, dispatch, forbidden, (TOPICS.incident("INC-DIS"), token("sentinel")))
    assert leaked == []


# --- queues: nothing dropped silently ---------------------------------------------------

BURST = 100_000
DROPPED = "$SYS/broker/publish/messages/dropped"


def stalled_collector(secure: SecureBroker) -> Probe:
    """The collector's persistent session, subscribed, then not reading."""
    collector = secure.probe("service", "services/collector", client_id="collector", clean=False)
    collector.subscribe(TOPICS.unit_filter(TopicKind.POS))
    return collector


def drain(collector: Probe, car: Probe, sent: int) -> list[int]:
    """Let the stalled collector read again and return the seqs it gets.

    Once it has read more than the in-flight window, its queue has room; a
    sentinel the car publishes then is queued behind everything kept for it,
    so when the sentinel arrives, the drain is complete.
    """
    collector.pump_until(lambda: len(collector.messages) > 200, 60, "the drain to start")
    sentinel = positions("PC-101", sent + 1)[-1]
    car.wait_acked([car.publish(TOPICS.pos("PC-101"), sentinel)])
    kept = collector.wait_for(TOPICS.pos("PC-101"), sentinel, timeout=120)
    return [decode_fix(m.payload, unit="PC-101").seq for m in kept]


@pytest.mark.slow
def test_a_burst_of_100k_positions_to_a_stalled_collector_loses_nothing(
    tmp_path: Path, pki: Path, record_property: Callable[[str, object], None]
) -> None:
    secure = start_secure_broker(tmp_path, FLEET, pki=pki)
    try:
        collector = stalled_collector(secure)
        car = unit_probe(secure, "PC-101")
        payloads = positions("PC-101", BURST)
        rss_before = secure.rss_bytes()
        car.publish_burst(TOPICS.pos("PC-101"), payloads, window=5000, retain=True)
        # Everything is acknowledged to the car, and the collector has read nothing:
        # the broker now holds the whole burst for it.
        per_message = (secure.rss_bytes() - rss_before) / BURST
        seqs = drain(collector, car, BURST)
    finally:
        secure.stop()
    assert sorted(seqs) == list(range(1, BURST + 1))  # each once, none missing
    record_property("broker_bytes_per_queued_position", round(per_message))
    print(f"\nbroker memory per queued position ({len(payloads[0])} B payload): {per_message:.0f} B")
    # docs/broker.md quotes ~570 B (bench/broker_queue.py); an order of
    # magnitude more would make its sizing advice wrong.
    assert per_message < 2048


def test_with_mosquittos_default_queue_limit_the_same_stall_loses_messages(tmp_path: Path, pki: Path) -> None:
    """The control: the burst test above can fail. 1000 is Mosquitto's default.
    The loss is not silent: it is logged and counted for the monitor identity."""
    secure = start_secure_broker(tmp_path, FLEET, pki=pki, render_options=["--max-queued-messages", "1000"])
    try:
        monitor = secure.probe("service", "services/monitor")
        monitor.subscribe(DROPPED)
        collector = stalled_collector(secure)
        car = unit_probe(secure, "PC-101")
        car.publish_burst(TOPICS.pos("PC-101"), positions("PC-101", 5000), window=5000)
        seqs = drain(collector, car, 5000)
        # $SYS is republished every sys_interval (10 s by default).
        monitor.pump_until(lambda: any(int(m.payload) > 0 for m in monitor.messages), 30, "a dropped count")
        log = secure.broker.log.read_text()
    finally:
        secure.stop()
    assert len(seqs) <= 1000 + 100  # the queue and the in-flight window; the rest was dropped
    assert "Outgoing messages are being dropped for client collector" in log


def test_the_monitor_reads_broker_statistics_and_nothing_else(secure: SecureBroker, witness: Probe) -> None:
    monitor = secure.probe("service", "services/monitor")
    monitor.subscribe(DROPPED)
    monitor.subscribe(f"{TOPICS.root}/#")
    monitor.subscribe("public/#")
    monitor.pump_until(lambda: bool(monitor.messages), 10, "the retained $SYS counter")
    assert monitor.messages[0].payload == b"0"
    sentinel = token("sentinel")
    monitor.wait_acked([monitor.publish(TOPICS.incident("INC-MON"), token("incident"))])
    collector = witness
    collector.wait_acked([collector.publish(TOPICS.incident("INC-MON"), sentinel)])
    assert witness.wait_for(TOPICS.incident("INC-MON"), sentinel) == []  # it wrote nothing
    monitor.pump(0.3)
    assert {m.topic for m in monitor.messages} == {DROPPED}  # and read nothing of the fleet


def test_queued_messages_and_retained_positions_survive_a_broker_restart(tmp_path: Path, pki: Path) -> None:
    secure = start_secure_broker(tmp_path, FLEET, pki=pki)
    try:
        collector = stalled_collector(secure)
        collector.close()  # offline, session kept
        car = unit_probe(secure, "PC-101")
        car.publish_burst(TOPICS.pos("PC-101"), positions("PC-101", 1000), retain=True)
        car.close()
        secure.broker.stop()  # SIGTERM: mosquitto saves its store
        secure.broker.start()
        reader = secure.probe("service", "services/dispatch")
        reader.subscribe(TOPICS.pos("PC-101"))
        reader.pump_until(lambda: bool(reader.messages), 10, "retained position")
        collector = secure.probe("service", "services/collector", client_id="collector", clean=False)
        car = unit_probe(secure, "PC-101")
        seqs = drain(collector, car, 1000)
    finally:
        secure.stop()
    assert decode_fix(reader.messages[0].payload).seq == 1000  # the newest before the restart
    assert sorted(seqs) == list(range(1, 1001))
