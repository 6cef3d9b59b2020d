"""Reference fixes from gpsd's regression output (``.chk`` files).

The rule, from tests/data/gpsd/README.md: keep the TPV reports with
``mode >= 2`` and a ``time``, then collapse each run of consecutive TPVs with
the same time to the last one.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReferenceFix:
    time: dt.datetime
    lat: float
    lon: float
    alt: float | None


def reference_fixes(chk: Path) -> list[ReferenceFix]:
    refs: list[ReferenceFix] = []
    for raw in chk.read_bytes().splitlines():
        if not raw.startswith(b"{"):
            continue
        report = json.loads(raw)
        if report.get("class") != "TPV" or report.get("mode", 0) < 2 or "time" not in report:
            continue
        if "lat" not in report or "lon" not in report:
            continue
        time = dt.datetime.fromisoformat(report["time"].replace("Z", "+00:00"))
        fix = ReferenceFix(time, report["lat"], report["lon"], report.get("altMSL"))
        if refs and refs[-1].time == time:
            refs[-1] = fix
        else:
            refs.append(fix)
    return refs
