"""Regenerate the built-in route files: patrol routes over the real roads of Chesterfield.

    python -m simulators.routes.build [--osm FILE]

Each route below is a few places (a name and a position each: the police
station, a point on the way out, the farthest place of the patrol, a point on
the way back); the script snaps each to the nearest junction of a main road
(tertiary or better) of the OpenStreetMap extract (default: the shipped
``data/osm/chesterfield-s40.osm.pbf``) and joins them by the fastest paths over
its roads (:mod:`simulators.roads`). The files keep the roads' own geometry,
each segment's road speed (``speeds_mps``) and the junctions with signals or a
give-way line (``stops``). Derived from OpenStreetMap data: ODbL, see README.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Final, NamedTuple

from common.paths import DEFAULT_OSM_EXTRACT, data_file


class Waypoint(NamedTuple):
    lat: float
    lon: float
    name: str = ""


W = Waypoint
STATION: Final = W(53.23380, -1.42640, "Beetwell Street (police station)")

ROUTES: Final[dict[str, tuple[str, list[Waypoint]]]] = {
    "a61-sheffield-road": (
        "Police station - A61 north - Whittington Moor roundabout - back by Sheffield Road / Holywell Street",
        [STATION, W(53.24050, -1.41800, "A61"), W(53.25900, -1.42250, "Whittington Moor roundabout"),
         W(53.24000, -1.42620, "Sheffield Road / Holywell Street"), STATION],
    ),
    "a61-derby-road": (
        "Police station - A61 Derby Road south through Birdholme to the Hunloke roundabout, and back",
        [STATION, W(53.22350, -1.42250, "A61 Derby Road"), W(53.20150, -1.42500, "A61 Hunloke roundabout"),
         W(53.22000, -1.42400, "A61 Derby Road"), STATION],
    ),
    "a619-chatsworth-road": (
        "Police station - A619 Chatsworth Road west through Brampton and Walton to the Holymoorside turn, and back",
        [STATION, W(53.23350, -1.44550, "A619 Chatsworth Road, Brampton"),
         W(53.22750, -1.48000, "A619 Chatsworth Road, Holymoorside turn"),
         W(53.23290, -1.45000, "A619 Chatsworth Road"), STATION],
    ),
    "a619-brimington-road": (
        "Police station - Tapton roundabout - A619 Brimington Road to Brimington Common, and back",
        [STATION, W(53.24500, -1.41640, "Tapton roundabout (A61/A619)"),
         W(53.26100, -1.38100, "A619, Brimington Common"), W(53.24510, -1.41650, "Tapton roundabout"), STATION],
    ),
    "a617-hasland": (
        "Police station - A617 east to the Mansfield Road roundabout - back by Hasland Road",
        [STATION, W(53.22800, -1.41400, "A617"), W(53.21800, -1.38000, "A617 / Mansfield Road roundabout"),
         W(53.22300, -1.41100, "Hasland Road"), STATION],
    ),
    "newbold": (
        "Police station - Saltergate / Newbold Road - Highfield Lane, Newbold - back by Sheffield Road",
        [STATION, W(53.23700, -1.43200, "Saltergate / Newbold Road"), W(53.24950, -1.44000, "Highfield Lane"),
         W(53.24300, -1.42600, "Sheffield Road"), STATION],
    ),
    "town-centre-ring": (
        "A lap of the town centre: Holywell Street - the A61 - Lordsmill Street",
        [STATION, W(53.23880, -1.42800, "Holywell Street"), W(53.23950, -1.41900, "A61 junction"),
         W(53.23420, -1.42200, "Lordsmill Street"), STATION],
    ),
}  # fmt: skip

ALTITUDE_M: Final = 90.0  # the town centre; the roads rise to ~150 m, not modelled
ATTRIBUTION: Final = "© OpenStreetMap contributors (ODbL 1.0): roads of data/osm/chesterfield-s40.osm.pbf"


def build(directory: Path, osm: Path) -> None:
    from simulators.roads import load_paths, route_via

    paths = load_paths(osm)
    for name, (description, waypoints) in ROUTES.items():
        route = route_via(paths, [(w.lat, w.lon) for w in waypoints], name=name, description=description)
        feature = {
            "type": "Feature",
            "properties": {
                "name": name,
                "description": description,
                "source": ATTRIBUTION,
                "stops": list(route.stops),
                "speeds_mps": [round(v, 2) for v in route.speeds or ()],
                "waypoints": [{"name": w.name, "lat": w.lat, "lon": w.lon} for w in waypoints],
            },
            "geometry": {
                "type": "LineString",
                "coordinates": [[round(lon, 7), round(lat, 7), ALTITUDE_M] for lat, lon in route.points],
            },
        }
        doc = {"type": "FeatureCollection", "features": [feature]}
        (directory / f"{name}.geojson").write_text(json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Regenerate the built-in routes over an OSM extract's roads.")
    parser.add_argument("--osm", type=Path, default=data_file(DEFAULT_OSM_EXTRACT))
    build(Path(__file__).parent, parser.parse_args().osm)
