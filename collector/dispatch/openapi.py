"""The CAD API's OpenAPI 3.1 document, served at ``/api/openapi.json``.

Its schemas follow the wire payloads of :mod:`common.wire` (the incident is
the ``incidents/<id>`` payload, the ETA report the ``incidents/<id>/eta``
one, with the board's additions); tests validate it with
openapi-spec-validator and check that its paths are exactly the app's routes.
"""

from __future__ import annotations

from typing import Any

from common.wire import DutyStatus, EtaConfidence, EtaMethod

__all__ = ["openapi_document"]

_ID = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}
_TIME = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601, ending in Z"}
_DUTY = [s.value for s in DutyStatus]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERR = {"$ref": "#/components/responses/Error"}
_AUTH = {"401": {"$ref": "#/components/responses/Unauthorized"}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _incident_id() -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": _ID, "description": "The CAD's incident id"}


_SCHEMAS: dict[str, Any] = {
    "Incident": {
        "type": "object",
        "required": ["id", "type", "priority", "lat", "lon", "status", "opened", "units"],
        "properties": {
            "v": {"type": "integer"},
            "id": _ID,
            "type": {"type": "string", "minLength": 1, "maxLength": 64, "description": "CAD incident type"},
            "priority": {"type": "integer", "minimum": 1, "maximum": 4, "description": "1 emergency .. 4 routine"},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "status": {"type": "string", "enum": ["open", "closed"]},
            "opened": _TIME,
            "units": {"type": "array", "items": _ID},
            "updated": {"type": "number", "description": "When the collector took in this version (Unix time)"},
        },
    },
    "NewIncident": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "type", "priority", "lat", "lon"],
        "properties": {
            "id": {**_ID, "description": "The CAD's own id: the same call sent again is answered, not duplicated"},
            "type": {"type": "string", "minLength": 1, "maxLength": 64},
            "priority": {"type": "integer", "minimum": 1, "maximum": 4},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "units": {"type": "array", "items": _ID, "maxItems": 100},
            "opened": _TIME,
        },
    },
    "IncidentChanges": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "type": {"type": "string", "minLength": 1, "maxLength": 64},
            "priority": {"type": "integer", "minimum": 1, "maximum": 4},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "units": {"type": "array", "items": _ID, "maxItems": 100},
        },
    },
    "Unit": {
        "type": "object",
        "required": ["unit", "duty", "stale", "offline"],
        "properties": {
            "unit": _ID,
            "lat": {"type": ["number", "null"]},
            "lon": {"type": ["number", "null"]},
            "fix_time": {"oneOf": [_TIME, {"type": "null"}]},
            "fix_age_s": {"type": ["number", "null"]},
            "speed_mps": {"type": ["number", "null"]},
            "heading": {"type": ["number", "null"]},
            "duty": {"type": "string", "enum": [*_DUTY, "unknown"]},
            "connectivity": {"type": ["string", "null"], "enum": ["online", "offline", None]},
            "stale": {"type": "boolean"},
            "offline": {"type": "boolean"},
            "stale_after_s": {"type": "number"},
        },
    },
    "EtaRow": {
        "type": "object",
        "required": ["unit", "eta_s", "distance_m", "fix_age_s", "status", "method", "stale", "confidence"],
        "properties": {
            "unit": _ID,
            "rank": {"type": "integer", "minimum": 1},
            "eta_s": {"type": "number", "minimum": 0},
            "eta_min_s": {"type": "number", "minimum": 0},
            "distance_m": {"type": "number", "minimum": 0},
            "fix_age_s": {"type": "number", "minimum": 0},
            "status": {"type": "string", "enum": [*_DUTY, "unknown"]},
            "method": {"type": "string", "enum": [m.value for m in EtaMethod]},
            "method_label": {"type": "string", "enum": ["road", "model", "fallback"]},
            "confidence": {"type": "string", "enum": [c.value for c in EtaConfidence]},
            "stale": {"type": "boolean"},
            "offline": {"type": "boolean"},
            "assigned": {"type": "boolean"},
            "recommended": {"type": "boolean"},
            "why_not": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Why this unit is not the recommendation (empty for it)",
            },
        },
    },
    "EtaReport": {
        "type": "object",
        "required": ["incident", "computed", "recommended", "rows"],
        "properties": {
            "v": {"type": "integer"},
            "incident": _ID,
            "computed": _TIME,
            "recommended": {"type": ["string", "null"]},
            "candidates": {"type": "integer"},
            "units": {"type": "array", "description": "The wire rows, as published on the broker"},
            "rows": {"type": "array", "items": _ref("EtaRow")},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error", "field"],
        "properties": {
            "error": {"type": "string", "description": "One line saying what is wrong"},
            "field": {"type": ["string", "null"], "description": "The field at fault, if one is"},
        },
    },
}


def openapi_document() -> dict[str, Any]:
    incident = {"type": "object", "properties": {"incident": _ref("Incident")}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Active Calls dispatch API",
            "version": "1",
            "description": "Incidents, duty status, units and ETAs for a force's CAD system. Every call needs "
            "Authorization: Bearer TOKEN (a token of the collector's [dispatch] tokens_file). What changes is "
            "published on the broker's wire topics and taken in by the collector like any other message.",
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}, **_AUTH},
                }
            },
            "/api/units": {
                "get": {
                    "summary": "Every unit: position, fix age, duty, stale/offline",
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {
                                    "now": {"type": "number"},
                                    "units": {"type": "array", "items": _ref("Unit")},
                                },
                            }
                        ),
                        **_AUTH,
                    },
                }
            },
            "/api/units/{unit}/status": {
                "put": {
                    "summary": "Set a unit's duty status (published on units/<unit>/status)",
                    "parameters": [{"name": "unit", "in": "path", "required": True, "schema": _ID}],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["status"],
                            "properties": {"status": {"type": "string", "enum": _DUTY}},
                        }
                    ),
                    "responses": {"200": _ok({"type": "object"}), "400": _ERR, **_AUTH, "503": _ERR},
                }
            },
            "/api/incidents": {
                "get": {
                    "summary": "Open incidents by priority, then age",
                    "parameters": [
                        {
                            "name": "closed",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["1", "true"]},
                            "description": "Closed incidents too",
                        }
                    ],
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {"incidents": {"type": "array", "items": _ref("Incident")}},
                            }
                        ),
                        **_AUTH,
                    },
                },
                "post": {
                    "summary": "Open an incident (idempotent by its id)",
                    "requestBody": _body(_ref("NewIncident")),
                    "responses": {
                        "201": _ok(
                            {
                                "type": "object",
                                "properties": {"incident": _ref("Incident"), "created": {"const": True}},
                            },
                            "Published",
                        ),
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {"incident": _ref("Incident"), "created": {"const": False}},
                            },
                            "The same call was opened before: nothing published",
                        ),
                        "400": _ERR,
                        **_AUTH,
                        "409": _ERR,
                        "413": _ERR,
                        "503": _ERR,
                    },
                },
            },
            "/api/incidents/{id}": {
                "parameters": [_incident_id()],
                "get": {
                    "summary": "One incident (open or recently closed) and its ETA report",
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {
                                    "incident": _ref("Incident"),
                                    "eta": {"oneOf": [_ref("EtaReport"), {"type": "null"}]},
                                },
                            }
                        ),
                        **_AUTH,
                        "404": _ERR,
                    },
                },
                "patch": {
                    "summary": "Change an open incident's type, priority, location or units",
                    "requestBody": _body(_ref("IncidentChanges")),
                    "responses": {"200": _ok(incident), "400": _ERR, **_AUTH, "404": _ERR, "409": _ERR, "503": _ERR},
                },
            },
            "/api/incidents/{id}/assign": {
                "post": {
                    "summary": "Assign a unit (added to the incident's units)",
                    "parameters": [_incident_id()],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["unit"],
                            "properties": {"unit": _ID},
                        }
                    ),
                    "responses": {"200": _ok(incident), "400": _ERR, **_AUTH, "404": _ERR, "409": _ERR, "503": _ERR},
                }
            },
            "/api/incidents/{id}/close": {
                "post": {
                    "summary": "Close an incident (closing a closed one changes nothing)",
                    "parameters": [_incident_id()],
                    "responses": {"200": _ok(incident), "400": _ERR, **_AUTH, "404": _ERR, "503": _ERR},
                }
            },
            "/api/incidents/{id}/eta": {
                "get": {
                    "summary": "The last ETA report published for an open incident",
                    "parameters": [_incident_id()],
                    "responses": {"200": _ok(_ref("EtaReport")), **_AUTH, "404": _ERR},
                }
            },
            "/api/etas": {
                "get": {
                    "summary": "The last ETA report of every open incident",
                    "responses": {
                        "200": _ok(
                            {"type": "object", "properties": {"etas": {"type": "array", "items": _ref("EtaReport")}}}
                        ),
                        **_AUTH,
                    },
                }
            },
            "/api/events": {
                "get": {
                    "summary": "Server-Sent Events: snapshot, then eta, incident and units events as they happen",
                    "responses": {
                        "200": {
                            "description": "text/event-stream; each event's data is one JSON object",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        **_AUTH,
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A token of the tokens file"}
            },
            "schemas": _SCHEMAS,
            "responses": {
                "Error": _ok(_ref("Error"), "Refused; nothing was changed"),
                "Unauthorized": _ok(_ref("Error"), "No token, or one unknown or revoked; nothing was changed"),
            },
        },
    }
