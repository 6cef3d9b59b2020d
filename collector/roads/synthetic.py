"""A synthetic road network of any size: a street grid with a hierarchy of roads. Pure.

For benchmarks and tests that need a county-sized graph (hundreds of
thousands of junctions) or a small one with known answers, without an
extract: ``rows`` x ``cols`` junctions ``spacing_m`` apart, every tenth street a
primary road, every fifth a secondary, the rest residential, and every
seventh residential street one-way (alternating directions).
"""

from __future__ import annotations

from collector.roads.graph import OsmWay
from common.geodesy import offset

__all__ = ["grid_ways"]



def _street(index: int) -> dict[str, str]:
    if index % 10 == 0:
        return {"highway": "primary"}
    if index % 5 == 0:
        return {"highway": "secondary"}
    if index % 7 == 3:
        return {"highway": "residential", "oneway": "yes" if index % 14 == 3 else "-1"}
    return {"highway": "residential"}


def grid_ways(
    rows: int, cols: int, *, spacing_m: float = 150.0, origin: tuple[float, float] = (53.0, -1.9)
) -> list[OsmWay]:
    """One way per grid row (west to east) and per column (south to north)."""
    lat0, lon0 = origin
    north, east = offset(lat0, lon0, spacing_m, spacing_m)
    dlat, dlon = north - lat0, east - lon0
    lats = [lat0 + r * dlat for r in range(rows)]
    lons = [lon0 + c * dlon for c in range(cols)]
    ways = []
    for r in range(rows):
        ids = range(r * cols + 1, (r + 1) * cols + 1)
        ways.append(OsmWay(r + 1, list(ids), [lats[r]] * cols, lons, _street(r)))
    for c in range(cols):
        ids = range(c + 1, rows * cols + 1, cols)
        ways.append(OsmWay(rows + c + 1, list(ids), lats, [lons[c]] * rows, _street(c)))
    return ways
