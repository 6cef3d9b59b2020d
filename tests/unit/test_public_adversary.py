"""An attacker with a day of public unit snapshots cannot say where a car is now.

The fleet, its calls and the attackers live in bench/public_adversary.py (the
same code prints the full-size figure); here a smaller fleet runs a whole day.
Run with ``pytest -s`` to see the figures.
"""

from __future__ import annotations

import functools

from bench.public_adversary import CENTRE, Result, measure
from collector.public import PublicPolicy


@functools.cache
def day() -> Result:
    """A day of a 10-car fleet (shared by the tests: it takes a few seconds)."""
    return measure(units=10, hours=24, seed=7)


def test_the_best_attacker_is_at_least_a_third_of_a_cell_off_at_the_current_time() -> None:
    result = day()
    print()
    print(result.report())
    assert result.samples > 0.6 * 10 * 24 * 120, "the feed should show the fleet most of the day"
    name, median = result.best
    assert median >= result.cell_m / 3, f"{name} locates cars to {median:.0f} m"
    assert result.worst_unit[1] >= result.cell_m / 3, f"{result.worst_unit[0]} is easy to locate"
    name, closest = result.best_p10
    assert closest >= result.cell_m / 10, f"{name}'s best tenth of guesses come within {closest:.0f} m"


def test_routine_is_what_an_attacker_exploits() -> None:
    """The cars park at hotspots: an attacker who knows them gets its best guesses closer than one who
    does not (the simulation gives routine something to find), yet stays beyond a tenth of a cell."""
    result = day()
    others = min(p for name, p in result.p10.items() if name != "hotspot")
    assert result.p10["hotspot"] < 0.8 * others
    assert result.close["hotspot"] > max(v for name, v in result.close.items() if name != "hotspot")


def test_the_measure_sees_what_the_delay_does() -> None:
    """Without the delay the same attackers find cars within a cell: the figure
    above is the delay and the grid at work, not an artefact of the simulation."""
    result = measure(units=6, hours=6, seed=7, policy=PublicPolicy(centre=CENTRE, unit_delay_s=0))
    print()
    print(result.report())
    assert result.medians["latest"] < result.cell_m
