"""The wire contract between agents, collectors and everyone else on the broker.

One owner for every topic name, payload schema and version: the agent, the
collector and the simulators all import this module; ``docs/wire.md`` shows an
example of each message. Pure: bytes in, values out, no MQTT client here.

Topic tree (``<fleet>`` and ``<unit>`` match :data:`ID_PATTERN`)::

    ac/v1/<fleet>/units/<unit>/pos       newest reported fix       QoS 1, retained
    ac/v1/<fleet>/units/<unit>/track     backlog, oldest first     QoS 1
    ac/v1/<fleet>/units/<unit>/state     "online" | "offline"      QoS 1, retained (last will)
    ac/v1/<fleet>/units/<unit>/diag      agent diagnostics (JSON)  QoS 0, retained
    ac/v1/<fleet>/units/<unit>/status    duty status               QoS 1, retained
    ac/v1/<fleet>/incidents/<id>         incident (JSON)           QoS 1, retained
    ac/v1/<fleet>/incidents/<id>/eta     ETAs to the incident      QoS 1, retained
    public/v1/<fleet>/units              public unit snapshot      QoS 1, retained
    public/v1/<fleet>/calls              public calls snapshot     QoS 1, retained

Every decoder raises a :class:`WireError` subtype on bad input and nothing
else: payloads come from other machines and must never crash a service.
:class:`FixTimeBounds` says which fix times a consumer accepts for when it
received them, and :data:`MAX_SEQ_JUMP` how far ``seq`` may jump (bounds.py).
"""

from common.wire._codec import (
    ID_PATTERN,
    MAX_PAYLOAD_BYTES,
    MAX_SEQ,
    MAX_TRACK_FIXES,
    VERSION,
    InvalidTopicError,
    MalformedPayloadError,
    OutOfRangeError,
    OversizedPayloadError,
    VersionError,
    WireError,
    check_version,
    dump_payload,
    json_object,
    load_payload,
    validate_id,
)
from common.wire.bounds import (
    MAX_FIX_AGE_S,
    MAX_FIX_AHEAD_S,
    MAX_SEQ_JUMP,
    FixTimeBounds,
    FixTimeError,
    FutureFixError,
    StaleFixError,
)
from common.wire.eta import EtaConfidence, EtaMethod, EtaReport, EtaRow, decode_eta, encode_eta
from common.wire.incidents import Incident, IncidentStatus, decode_incident, encode_incident
from common.wire.topics import TopicKind, TopicMatch, Topics
from common.wire.units import (
    DutyStatus,
    UnitState,
    WireFix,
    decode_diag,
    decode_fix,
    decode_state,
    decode_status,
    decode_track,
    encode_diag,
    encode_fix,
    encode_state,
    encode_status,
    encode_track,
)

__all__ = [
    "VERSION",
    "ID_PATTERN",
    "MAX_TRACK_FIXES",
    "MAX_PAYLOAD_BYTES",
    "MAX_SEQ",
    "WireError",
    "MalformedPayloadError",
    "OutOfRangeError",
    "VersionError",
    "OversizedPayloadError",
    "InvalidTopicError",
    "MAX_FIX_AHEAD_S",
    "MAX_FIX_AGE_S",
    "MAX_SEQ_JUMP",
    "FixTimeBounds",
    "FixTimeError",
    "FutureFixError",
    "StaleFixError",
    "validate_id",
    "load_payload",
    "dump_payload",
    "check_version",
    "json_object",
    "WireFix",
    "encode_fix",
    "decode_fix",
    "encode_track",
    "decode_track",
    "UnitState",
    "encode_state",
    "decode_state",
    "DutyStatus",
    "encode_status",
    "decode_status",
    "encode_diag",
    "decode_diag",
    "IncidentStatus",
    "Incident",
    "encode_incident",
    "decode_incident",
    "EtaMethod",
    "EtaConfidence",
    "EtaRow",
    "EtaReport",
    "encode_eta",
    "decode_eta",
    "TopicKind",
    "TopicMatch",
    "Topics",
]
