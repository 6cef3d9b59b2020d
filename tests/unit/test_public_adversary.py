"""An attacker with a day of public unit snapshots cannot say where a car is now.

The fleet, its calls and the attackers live in bench/public_adversary.py (the
same code prints the full-size figure); here a smaller fleet runs a whole day.
Run with ``pytest -s`` to see the figures.
"""

from __future__ import annotations

from bench.public_adversary import CENTRE, measure
from collector.public import PublicPolicy


def test_the_best_attacker_is_at_least_a_third_of_a_cell_off_at_the_current_time() -> None:
    result = measure(units=10, hours=24, seed=7)
    print()
    print(result.report())
    assert result.samples > 0.6 * 10 * 24 * 120, "the feed should show the fleet most of the day"
    name, median = result.best
    assert median >= result.cell_m / 3, f"{name} locates cars to {median:.0f} m"
    assert result.worst_unit[1] >= result.cell_m / 3, f"{result.worst_unit[0]} is easy to locate"


def test_the_measure_sees_what_the_delay_does() -> None:
    """Without the delay the same attackers find cars within a cell: the figure
    above is the delay and the grid at work, not an artefact of the simulation."""
    result = measure(units=6, hours=6, seed=7, policy=PublicPolicy(centre=CENTRE, unit_delay_s=0))
    print()
    print(result.report())
    assert result.medians["latest"] < result.cell_m
