"""The public grid: square cells in a projected CRS, and the hysteresis that
keeps a unit's public cell from betraying where it is inside it.

Positions are never rounded in degrees: a degree of longitude shrinks with
latitude, so 0.005° is a 550 m by 330 m cell in Derbyshire and a different one
in Cornwall. Instead a WGS84 point is projected (a UTM zone by default, or
any projected EPSG such as 27700 for Great Britain), floored to a cell of
``cell_m`` metres, and the cell's centre projected back to WGS84 for GeoJSON.
The cell index is the fact; the centre is computed from it alone, so snapping
a published centre again gives the same centre (idempotent).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Final

from pyproj import Transformer

__all__ = ["Cell", "Grid", "grid_for", "utm_epsg", "next_cell", "inset"]

Cell = tuple[int, int]  # (column, row): floor(x / cell_m), floor(y / cell_m) in the projected CRS

# Published centres carry 6 decimals (0.1 m): finer would only be noise, and a
# fixed number of digits keeps the serialized feed byte-stable.
DECIMALS: Final = 6
_CENTRE_CACHE: Final = 4096


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the WGS84 UTM zone holding (lat, lon): 326zz north, 327zz south."""
    zone = min(60, int((lon + 180.0) // 6.0) + 1)
    return (32600 if lat >= 0 else 32700) + zone


def centre_epsg(points: Iterable[tuple[float, float]]) -> int | None:
    """The UTM zone of the median of (lat, lon) points, or None without points.

    The median, so a few wild fixes (a receiver's 0,0 on a cold start) cannot
    pick the zone.
    """
    lats, lons = [], []
    for lat, lon in points:
        lats.append(lat)
        lons.append(lon)
    if not lats:
        return None
    lats.sort()
    lons.sort()
    return utm_epsg(lats[len(lats) // 2], lons[len(lons) // 2])


class Grid:
    """Square cells of ``cell_m`` metres in the projected CRS ``epsg``."""

    def __init__(self, epsg: int, cell_m: float) -> None:
        self.epsg = epsg
        self.cell_m = float(cell_m)
        self._forward = Transformer.from_crs(4326, epsg, always_xy=True)
        self._inverse = Transformer.from_crs(epsg, 4326, always_xy=True)

    def __repr__(self) -> str:
        return f"Grid(epsg={self.epsg}, cell_m={self.cell_m:g})"

    def project(self, lat: float, lon: float) -> tuple[float, float] | None:
        """Projected (x, y) in metres, or None where the CRS cannot represent the point."""
        x, y = self._forward.transform(lon, lat)
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        return float(x), float(y)

    def unproject(self, x: float, y: float) -> tuple[float, float]:
        """WGS84 (lat, lon) of projected (x, y)."""
        lon, lat = self._inverse.transform(x, y)
        return float(lat), float(lon)

    def cell_at(self, x: float, y: float) -> Cell:
        return math.floor(x / self.cell_m), math.floor(y / self.cell_m)

    def cell_of(self, lat: float, lon: float) -> Cell | None:
        xy = self.project(lat, lon)
        return None if xy is None else self.cell_at(*xy)

    def centre_xy(self, cell: Cell) -> tuple[float, float]:
        return (cell[0] + 0.5) * self.cell_m, (cell[1] + 0.5) * self.cell_m

    @functools.lru_cache(maxsize=_CENTRE_CACHE)  # noqa: B019 - grids live as long as the process (grid_for)
    def centre(self, cell: Cell) -> tuple[float, float]:
        """The cell's centre as WGS84 (lat, lon), rounded to DECIMALS."""
        lat, lon = self.unproject(*self.centre_xy(cell))
        return round(lat, DECIMALS), round(lon, DECIMALS)

    def snap(self, lat: float, lon: float) -> tuple[float, float] | None:
        """The centre of the cell holding (lat, lon); None where the CRS fails."""
        cell = self.cell_of(lat, lon)
        return None if cell is None else self.centre(cell)

    def is_centre(self, lat: float, lon: float, tolerance_m: float = 0.5) -> bool:
        """Whether (lat, lon) is a cell centre within ``tolerance_m`` (for checkers)."""
        xy = self.project(lat, lon)
        if xy is None:
            return False
        cx, cy = self.centre_xy(self.cell_at(*xy))
        return abs(xy[0] - cx) <= tolerance_m and abs(xy[1] - cy) <= tolerance_m


@functools.lru_cache(maxsize=16)
def grid_for(epsg: int, cell_m: float) -> Grid:
    """One Grid per (CRS, cell size) per process: building transformers costs milliseconds."""
    return Grid(epsg, cell_m)


def inset(grid: Grid, x: float, y: float) -> float:
    """How far (x, y) is inside its own cell: the distance to the nearest edge."""
    column, row = grid.cell_at(x, y)
    left, bottom = column * grid.cell_m, row * grid.cell_m
    return min(x - left, left + grid.cell_m - x, y - bottom, bottom + grid.cell_m - y)


def next_cell(grid: Grid, current: Cell | None, x: float, y: float, hysteresis_m: float) -> Cell:
    """The public cell of a unit now at projected (x, y) whose public cell was ``current``.

    The public cell moves to the cell holding the unit only once the unit is at
    least ``hysteresis_m`` inside it, so a car parked on (or driving along) an
    edge does not flip between two cells and reveal that it is on the line
    between them. Two exceptions, both safe: a unit without a public cell gets
    the cell it is in; a unit that is no longer in ``current`` nor any of its 8
    neighbours moves to the cell it is in even near an edge (otherwise a car
    driving along a grid line would stay pinned to a cell kilometres behind).

    Either way, between two changes the unit has moved at least
    ``hysteresis_m`` in a straight line (at least ``cell_m`` for the second
    exception): the hysteresis property the tests check.
    """
    here = grid.cell_at(x, y)
    if current is None or here == current:
        return here
    if max(abs(here[0] - current[0]), abs(here[1] - current[1])) >= 2:
        return here
    return here if inset(grid, x, y) >= hysteresis_m else current
