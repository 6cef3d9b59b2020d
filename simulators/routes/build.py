"""Regenerate the built-in route files from their hand-placed waypoints.

    python -m simulators.routes.build

Each route below is a list of waypoints placed along the real roads (names
in the comments) at junctions, bends and every few hundred metres; the
script joins them with a centripetal Catmull-Rom spline, so the line bends
the way a road does instead of cutting corners, and writes one GeoJSON
LineString per route with a vertex every ~25 m. Waypoints marked ``stop``
are junctions with lights, roundabouts or give-way lines: the ``stops``
property lists the vertices they became. See README.md for accuracy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Final, NamedTuple

from simulators.geo import LocalPlane


class Waypoint(NamedTuple):
    lat: float
    lon: float
    name: str = ""
    stop: bool = False


W = Waypoint
STATION: Final = W(53.23380, -1.42640, "Beetwell Street (police station)", True)

ROUTES: Final[dict[str, tuple[str, list[Waypoint]]]] = {
    "a61-sheffield-road": (
        "Police station - A61 north past the railway station - Tapton - Whittington Moor - "
        "back south on Sheffield Road (B6057) through Stonegravels - Holywell Street - West Bars",
        [
            STATION,
            W(53.23370, -1.42420, "Beetwell Street / St Mary's Gate", True),
            W(53.23430, -1.42250, "St Mary's Gate"),
            W(53.23540, -1.42010, "Hollis Lane", True),
            W(53.23620, -1.41860, "A61 Hollis Lane junction", True),
            W(53.23800, -1.41840, "A61 by the railway station"),
            W(53.24050, -1.41800, "A61"),
            W(53.24300, -1.41700, "A61"),
            W(53.24500, -1.41640, "Tapton roundabout (A61/A619)", True),
            W(53.24750, -1.41700, "A61 Lockoford"),
            W(53.25050, -1.41850, "A61"),
            W(53.25350, -1.42000, "A61"),
            W(53.25650, -1.42150, "A61"),
            W(53.25900, -1.42250, "Whittington Moor roundabout", True),
            W(53.25700, -1.42350, "Sheffield Road (B6057)"),
            W(53.25300, -1.42420, "Sheffield Road"),
            W(53.24950, -1.42520, "Sheffield Road, Stonegravels"),
            W(53.24650, -1.42560, "Sheffield Road"),
            W(53.24300, -1.42600, "Sheffield Road"),
            W(53.24000, -1.42620, "Sheffield Road / Holywell Street", True),
            W(53.23880, -1.42800, "Holywell Street"),
            W(53.23830, -1.43000, "Holywell Cross", True),
            W(53.23700, -1.43200, "Newbold Road / Saltergate"),
            W(53.23530, -1.43380, "West Bars roundabout", True),
            W(53.23400, -1.43150, "Boythorpe Road / Markham Road"),
            W(53.23330, -1.42880, "Beetwell Street"),
            STATION,
        ],
    ),
    "a61-derby-road": (
        "Police station - Lordsmill Street - Horns Bridge - A61 Derby Road south through Birdholme "
        "to Wingerworth (Hunloke junction), turn at the roundabout and back",
        [
            STATION,
            W(53.23330, -1.42300, "Lordsmill Street", True),
            W(53.23150, -1.42180, "Lordsmill Street"),
            W(53.22900, -1.41980, "Horns Bridge roundabout", True),
            W(53.22650, -1.42120, "A61 Derby Road"),
            W(53.22350, -1.42250, "A61 Derby Road"),
            W(53.22000, -1.42380, "A61 Derby Road"),
            W(53.21650, -1.42500, "A61 Derby Road, Birdholme", True),
            W(53.21300, -1.42600, "A61 Derby Road"),
            W(53.20900, -1.42680, "A61 Derby Road"),
            W(53.20500, -1.42650, "A61 Derby Road, Wingerworth"),
            W(53.20150, -1.42500, "A61 Hunloke roundabout", True),
            W(53.20500, -1.42660, "A61 Derby Road, northbound"),
            W(53.20900, -1.42700, "A61 Derby Road"),
            W(53.21300, -1.42620, "A61 Derby Road"),
            W(53.21650, -1.42520, "Birdholme", True),
            W(53.22000, -1.42400, "A61 Derby Road"),
            W(53.22350, -1.42270, "A61 Derby Road"),
            W(53.22650, -1.42140, "A61 Derby Road"),
            W(53.22900, -1.42000, "Horns Bridge roundabout", True),
            W(53.23150, -1.42200, "Lordsmill Street"),
            W(53.23330, -1.42320, "Lordsmill Street / Beetwell Street", True),
            STATION,
        ],
    ),
    "a619-chatsworth-road": (
        "Police station - West Bars - A619 Chatsworth Road west through Brampton and Walton "
        "to Somersall and the Holymoorside turn, and back",
        [
            STATION,
            W(53.23330, -1.42880, "Beetwell Street"),
            W(53.23400, -1.43150, "Markham Road / Boythorpe Road"),
            W(53.23530, -1.43380, "West Bars roundabout", True),
            W(53.23480, -1.43700, "A619 Chatsworth Road"),
            W(53.23420, -1.44100, "A619 Chatsworth Road"),
            W(53.23350, -1.44550, "A619 Chatsworth Road, Brampton", True),
            W(53.23280, -1.45000, "A619 Chatsworth Road"),
            W(53.23180, -1.45500, "A619 Chatsworth Road"),
            W(53.23050, -1.46000, "A619 Chatsworth Road, Walton", True),
            W(53.22950, -1.46500, "A619 Chatsworth Road"),
            W(53.22880, -1.47000, "A619 Chatsworth Road, Somersall"),
            W(53.22820, -1.47500, "A619 Chatsworth Road"),
            W(53.22750, -1.48000, "A619 Chatsworth Road, Holymoorside turn", True),
            W(53.22830, -1.47500, "A619 Chatsworth Road, eastbound"),
            W(53.22890, -1.47000, "A619 Chatsworth Road"),
            W(53.22960, -1.46500, "A619 Chatsworth Road"),
            W(53.23060, -1.46000, "Walton", True),
            W(53.23190, -1.45500, "A619 Chatsworth Road"),
            W(53.23290, -1.45000, "A619 Chatsworth Road"),
            W(53.23360, -1.44550, "Brampton", True),
            W(53.23430, -1.44100, "A619 Chatsworth Road"),
            W(53.23490, -1.43700, "A619 Chatsworth Road"),
            W(53.23530, -1.43400, "West Bars roundabout", True),
            W(53.23400, -1.43160, "Markham Road"),
            W(53.23330, -1.42880, "Beetwell Street"),
            STATION,
        ],
    ),
    "a619-brimington-road": (
        "Police station - A61 north - Tapton roundabout - A619 Brimington Road north-east to "
        "Brimington and Brimington Common, and back",
        [
            STATION,
            W(53.23370, -1.42420, "Beetwell Street / St Mary's Gate", True),
            W(53.23540, -1.42010, "Hollis Lane", True),
            W(53.23620, -1.41860, "A61 Hollis Lane junction", True),
            W(53.23800, -1.41840, "A61 by the railway station"),
            W(53.24050, -1.41800, "A61"),
            W(53.24300, -1.41700, "A61"),
            W(53.24500, -1.41640, "Tapton roundabout (A61/A619)", True),
            W(53.24700, -1.41200, "A619 Brimington Road"),
            W(53.24950, -1.40650, "A619 Brimington Road"),
            W(53.25200, -1.40100, "A619 Brimington Road, Tapton"),
            W(53.25450, -1.39600, "A619 Brimington Road"),
            W(53.25700, -1.39150, "A619, Brimington", True),
            W(53.25900, -1.38650, "A619 High Street, Brimington"),
            W(53.26100, -1.38100, "A619, Brimington Common", True),
            W(53.25910, -1.38640, "A619 High Street, westbound"),
            W(53.25710, -1.39140, "Brimington", True),
            W(53.25460, -1.39590, "A619 Brimington Road"),
            W(53.25210, -1.40090, "A619 Brimington Road"),
            W(53.24960, -1.40640, "A619 Brimington Road"),
            W(53.24710, -1.41190, "A619 Brimington Road"),
            W(53.24510, -1.41650, "Tapton roundabout", True),
            W(53.24310, -1.41710, "A61 southbound"),
            W(53.24060, -1.41810, "A61"),
            W(53.23810, -1.41850, "A61 by the railway station"),
            W(53.23630, -1.41870, "A61 Hollis Lane junction", True),
            W(53.23550, -1.42020, "Hollis Lane"),
            W(53.23380, -1.42430, "St Mary's Gate / Beetwell Street", True),
            STATION,
        ],
    ),
    "a617-hasland": (
        "Police station - Horns Bridge - A617 east past Hasland to the Mansfield Road roundabout - "
        "back west along Mansfield Road (B6039) through Hasland village and Hasland Road",
        [
            STATION,
            W(53.23330, -1.42300, "Lordsmill Street", True),
            W(53.23150, -1.42180, "Lordsmill Street"),
            W(53.22900, -1.41980, "Horns Bridge roundabout", True),
            W(53.22800, -1.41400, "A617"),
            W(53.22650, -1.40700, "A617"),
            W(53.22500, -1.40000, "A617, Hasland"),
            W(53.22300, -1.39300, "A617"),
            W(53.22050, -1.38600, "A617"),
            W(53.21800, -1.38000, "A617 / Mansfield Road roundabout", True),
            W(53.21800, -1.38600, "Mansfield Road (B6039)"),
            W(53.21850, -1.39300, "Mansfield Road"),
            W(53.21900, -1.40000, "Mansfield Road, Hasland village", True),
            W(53.22050, -1.40600, "Hasland Road"),
            W(53.22300, -1.41100, "Hasland Road"),
            W(53.22600, -1.41550, "Hasland Road"),
            W(53.22880, -1.41950, "Horns Bridge roundabout", True),
            W(53.23150, -1.42200, "Lordsmill Street"),
            W(53.23330, -1.42320, "Lordsmill Street / Beetwell Street", True),
            STATION,
        ],
    ),
    "newbold": (
        "Police station - West Bars - Newbold Road (B6051) north-west to Newbold - Highfield Lane "
        "east - Sheffield Road south - Holywell Street",
        [
            STATION,
            W(53.23330, -1.42880, "Beetwell Street"),
            W(53.23400, -1.43150, "Markham Road / Boythorpe Road"),
            W(53.23530, -1.43380, "West Bars roundabout", True),
            W(53.23700, -1.43200, "Saltergate / Newbold Road"),
            W(53.23830, -1.43000, "Holywell Cross", True),
            W(53.24100, -1.43350, "Newbold Road"),
            W(53.24400, -1.43800, "Newbold Road"),
            W(53.24700, -1.44200, "Newbold Road, Newbold", True),
            W(53.24950, -1.44000, "Highfield Lane"),
            W(53.25050, -1.43500, "Highfield Lane"),
            W(53.25000, -1.43000, "Highfield Lane"),
            W(53.24900, -1.42550, "Sheffield Road, Stonegravels", True),
            W(53.24650, -1.42560, "Sheffield Road"),
            W(53.24300, -1.42600, "Sheffield Road"),
            W(53.24000, -1.42620, "Sheffield Road / Holywell Street", True),
            W(53.23880, -1.42800, "Holywell Street"),
            W(53.23800, -1.42700, "Knifesmithgate / Cavendish Street"),
            W(53.23550, -1.42600, "Cavendish Street"),
            W(53.23380, -1.42550, "St Mary's Gate", True),
            STATION,
        ],
    ),
    "town-centre-ring": (
        "One lap of the town-centre ring: West Bars - Saltergate - Holywell Cross - Holywell Street - "
        "A61 - Hollis Lane - Lordsmill Street - Markham Road - West Bars",
        [
            W(53.23530, -1.43380, "West Bars roundabout", True),
            W(53.23700, -1.43200, "Saltergate"),
            W(53.23830, -1.43000, "Holywell Cross", True),
            W(53.23880, -1.42800, "Holywell Street"),
            W(53.24000, -1.42620, "Holywell Street / Sheffield Road", True),
            W(53.24020, -1.42300, "Brewery Street"),
            W(53.23950, -1.41900, "A61 junction", True),
            W(53.23800, -1.41840, "A61 by the railway station"),
            W(53.23620, -1.41860, "A61 Hollis Lane junction", True),
            W(53.23540, -1.42010, "Hollis Lane"),
            W(53.23420, -1.42200, "Lordsmill Street", True),
            W(53.23250, -1.42250, "Lordsmill Street"),
            W(53.23180, -1.42500, "Markham Road"),
            W(53.23250, -1.42850, "Markham Road"),
            W(53.23400, -1.43150, "Markham Road / Boythorpe Road", True),
            W(53.23530, -1.43380, "West Bars roundabout", True),
        ],
    ),
}

SPACING_M: Final = 25.0
ALTITUDE_M: Final = 90.0  # the town centre; the routes rise to ~150 m, not modelled


def _catmull_rom(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float],
                 p3: tuple[float, float], n: int) -> list[tuple[float, float]]:  # fmt: skip
    """Points from p1 (included) towards p2 (excluded) on a centripetal
    Catmull-Rom spline (alpha = 0.5: no cusps, no loops within a segment)."""

    def knot(t: float, a: tuple[float, float], b: tuple[float, float]) -> float:
        return t + math.sqrt(max(math.dist(a, b), 1e-6))

    t0 = 0.0
    t1 = knot(t0, p0, p1)
    t2 = knot(t1, p1, p2)
    t3 = knot(t2, p2, p3)
    out = []
    for k in range(n):
        t = t1 + (t2 - t1) * k / n

        def lerp(
            a: tuple[float, float], b: tuple[float, float], ta: float, tb: float, t: float = t
        ) -> tuple[float, float]:
            wa, wb = (tb - t) / (tb - ta), (t - ta) / (tb - ta)
            return a[0] * wa + b[0] * wb, a[1] * wa + b[1] * wb

        a1, a2, a3 = lerp(p0, p1, t0, t1), lerp(p1, p2, t1, t2), lerp(p2, p3, t2, t3)
        b1, b2 = lerp(a1, a2, t0, t2), lerp(a2, a3, t1, t3)
        out.append(lerp(b1, b2, t1, t2))
    return out


def densify(waypoints: list[Waypoint]) -> tuple[list[tuple[float, float]], list[int]]:
    """(lat, lon) every ~SPACING_M along the spline; vertex indices of the stop waypoints."""
    plane = LocalPlane(waypoints[0].lat, waypoints[0].lon)
    xy = [plane.to_xy(w.lat, w.lon) for w in waypoints]
    points: list[tuple[float, float]] = []
    stops: list[int] = []
    for i in range(len(xy) - 1):
        p0 = xy[i - 1] if i > 0 else xy[i]
        p3 = xy[i + 2] if i + 2 < len(xy) else xy[i + 1]
        if waypoints[i].stop:
            stops.append(len(points))
        n = max(1, round(math.dist(xy[i], xy[i + 1]) / SPACING_M))
        points.extend(_catmull_rom(p0, xy[i], xy[i + 1], p3, n))
    if waypoints[-1].stop:
        stops.append(len(points))
    points.append(xy[-1])
    return [plane.to_latlon(x, y) for x, y in points], stops


def build(directory: Path) -> None:
    for name, (description, waypoints) in ROUTES.items():
        points, stops = densify(waypoints)
        feature = {
            "type": "Feature",
            "properties": {
                "name": name,
                "description": description,
                "stops": stops,
                "waypoints": [{"name": w.name, "lat": w.lat, "lon": w.lon} for w in waypoints if w.name],
            },
            "geometry": {
                "type": "LineString",
                "coordinates": [[round(lon, 6), round(lat, 6), ALTITUDE_M] for lat, lon in points],
            },
        }
        doc = {"type": "FeatureCollection", "features": [feature]}
        (directory / f"{name}.geojson").write_text(json.dumps(doc, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    build(Path(__file__).parent)
