"""The public feed's policy: what may be shown, how coarse and how late.

One frozen value, :class:`PublicPolicy`, with safe defaults; the collector's
``[public]`` config section fills it. Validation happens when it is built, so a
policy that exists is a policy that can be applied: a mistake in the config file
is one clear :class:`PublicConfigError` naming the key, never a surprise at
publish time. ``docs/privacy.md`` explains each default.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from common.errors import ActiveCallsError

__all__ = [
    "PublicPolicyError",
    "PublicConfigError",
    "UnitsMode",
    "PublicPolicy",
    "DEFAULT_CATEGORIES",
    "DEFAULT_SUPPRESSED",
    "DEFAULT_SUPPRESS_KEYWORDS",
    "normalize_type",
]


class PublicPolicyError(ActiveCallsError, ValueError):
    """Base of the public feed's errors."""


class PublicConfigError(PublicPolicyError):
    """A policy setting out of range or of the wrong kind; the message names the key."""


class UnitsMode(enum.StrEnum):
    """How units appear in the public feed."""

    PSEUDONYMS = "pseudonyms"  # one point per unit under a token that changes every UTC day
    COUNTS = "counts"  # only how many units of each status are in each cell
    IDS = "ids"  # real unit ids: only when a force has decided its call signs are public


# Public category names are published verbatim: keep them plain identifiers.
CATEGORY_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")

# Categories never shown, nor are the units attending them. Each one either
# identifies a victim or a vulnerable person by the place (a home), or shows
# where armed or covert officers are deploying.
DEFAULT_SUPPRESSED: Final = frozenset(
    {
        "sexual_offence",
        "domestic_abuse",
        "child_protection",
        "welfare",  # mental health, concern for welfare, missing vulnerable person
        "suicide",
        "sudden_death",
        "drugs_operation",
        "firearms_operation",  # firearms and other tactical operations
    }
)

_TABLE: Final[dict[str, tuple[str, ...]]] = {
    # suppressed
    "sexual_offence": ("sexual_offence", "sexual_assault", "rape", "indecent_exposure", "sex_offence"),
    "domestic_abuse": ("domestic", "domestic_abuse", "domestic_violence", "domestic_incident"),
    "child_protection": ("child_protection", "child_abuse", "child_neglect", "child_concern"),
    "welfare": (
        "concern_for_welfare",
        "welfare_check",
        "welfare",
        "mental_health",
        "section_136",
        "missing_person",
        "vulnerable_person",
    ),
    "suicide": ("suicide", "suicide_attempt", "threat_of_suicide", "self_harm"),
    "sudden_death": ("sudden_death", "death", "deceased_person", "body_found"),
    "drugs_operation": ("drugs", "drugs_operation", "drugs_warrant", "drug_warrant"),
    "firearms_operation": (
        "firearms",
        "firearms_incident",
        "firearms_operation",
        "armed_response",
        "tactical_operation",
        "siege",
        "hostage",
        "shots_fired",
    ),
    # published
    "burglary": ("burglary", "burglary_dwelling", "burglary_commercial", "burglary_in_progress"),
    "theft": ("theft", "shoplifting", "vehicle_crime", "theft_from_vehicle", "theft_of_vehicle"),
    "robbery": ("robbery",),
    "violence": ("assault", "violence", "fight", "affray", "wounding"),
    "criminal_damage": ("criminal_damage", "vandalism", "arson", "graffiti"),
    "traffic": ("rtc", "road_traffic_collision", "collision", "traffic", "traffic_offence", "road_obstruction"),
    "public_order": ("public_order", "disturbance", "breach_of_the_peace", "noise"),
    "anti_social_behaviour": ("asb", "anti_social_behaviour", "nuisance"),
    "suspicious": ("suspicious", "suspicious_person", "suspicious_vehicle", "suspicious_activity"),
    "alarm": ("alarm", "intruder_alarm"),
    "assistance": ("assist", "assistance", "assist_ambulance", "assist_fire", "assist_other_agency"),
}

# CAD incident type (normalized) -> public category.
DEFAULT_CATEGORIES: Final[Mapping[str, str]] = MappingProxyType(
    {incident_type: category for category, types in _TABLE.items() for incident_type in types}
)

# Safety net for types missing from the table: a CAD system gains new codes
# ("DOMESTIC-REPEAT", "RAPE-HISTORIC") long before anyone updates our table. A
# normalized unknown type containing any of these is suppressed rather than
# shown as the generic category. Substrings on purpose: over-matching only hides
# a call, under-matching could expose a victim.
DEFAULT_SUPPRESS_KEYWORDS: Final = (
    "sex",
    "rape",
    "indecen",
    "domestic",
    "child",
    "abuse",
    "welfare",
    "mental",
    "suicid",
    "self_harm",
    "death",
    "dead",
    "body",
    "drug",
    "firearm",
    "armed",
    "gun",
    "shot",
    "tactical",
    "siege",
    "hostage",
    "missing",
    "vulnerab",
    "136",
)

_SEPARATORS: Final = re.compile(r"[^a-z0-9]+")


def normalize_type(incident_type: str) -> str:
    """``"Domestic Abuse"``, ``"DOMESTIC-ABUSE"`` -> ``"domestic_abuse"``."""
    return _SEPARATORS.sub("_", incident_type.lower()).strip("_")


def _check_int(key: str, value: object, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise PublicConfigError(f"{key} must be an integer from {low} to {high}, got {value!r}")


def _check_category(key: str, value: object) -> str:
    if not isinstance(value, str) or not CATEGORY_PATTERN.fullmatch(value):
        raise PublicConfigError(f"{key}: a category must be 1-32 of a-z 0-9 _ starting with a letter, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class PublicPolicy:
    """Every knob of the public feed, with the defaults ``docs/privacy.md`` argues for.

    Times are seconds, distances metres. ``hysteresis_m=None`` means a quarter
    of the cell. ``epsg=None`` means the UTM zone of ``centre`` (lat, lon) or,
    without a centre, of the fleet's first positions (remembered in the state so
    the grid never moves).
    """

    unit_delay_s: int = 900  # units are shown as they were this long ago
    call_delay_s: int = 600  # a call is shown this long after it opened, at the earliest
    cell_m: float = 500.0  # side of the square grid cells
    hysteresis_m: float | None = None  # how far inside another cell before a unit's cell moves
    epsg: int | None = None  # projected CRS of the grid, e.g. 27700
    centre: tuple[float, float] | None = None  # (lat, lon) whose UTM zone is the grid's CRS
    units: UnitsMode = UnitsMode.PSEUDONYMS
    linger_s: int = 1800  # a closed call stays (as closed) this long
    stale_s: int = 900  # a unit whose last fix is older than this at the shown time is not shown
    categories: Mapping[str, str] = field(default_factory=lambda: DEFAULT_CATEGORIES)  # CAD type -> category
    suppressed: frozenset[str] = DEFAULT_SUPPRESSED  # categories never shown
    suppress_keywords: tuple[str, ...] = DEFAULT_SUPPRESS_KEYWORDS  # unknown types containing one are suppressed
    unknown_category: str | None = "other"  # category of types missing from the table

    def __post_init__(self) -> None:
        _check_int("unit_delay_s", self.unit_delay_s, 0, 7 * 86400)
        _check_int("call_delay_s", self.call_delay_s, 0, 7 * 86400)
        _check_int("linger_s", self.linger_s, 0, 7 * 86400)
        _check_int("stale_s", self.stale_s, 1, 7 * 86400)
        cell = self.cell_m
        if type(cell) not in (int, float) or not math.isfinite(cell) or not 50 <= cell <= 50_000:
            raise PublicConfigError(f"cell_m must be a number of metres from 50 to 50000, got {cell!r}")
        object.__setattr__(self, "cell_m", float(cell))
        h = self.hysteresis_m
        if h is not None and (type(h) not in (int, float) or not math.isfinite(h) or not 0 <= h < cell / 2):
            raise PublicConfigError(f"hysteresis_m must be at least 0 and less than half of cell_m, got {h!r}")
        if self.epsg is not None:
            _check_projected_epsg(self.epsg)
        if self.centre is not None:
            _check_centre(self.centre)
            object.__setattr__(self, "centre", (float(self.centre[0]), float(self.centre[1])))
        try:
            object.__setattr__(self, "units", UnitsMode(self.units))
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in UnitsMode)
            raise PublicConfigError(f"units must be one of {allowed}, got {self.units!r}") from None
        object.__setattr__(self, "categories", _checked_table(self.categories))
        object.__setattr__(self, "suppressed", _checked_names("suppressed", self.suppressed))
        object.__setattr__(self, "suppress_keywords", _checked_keywords(self.suppress_keywords))
        if self.unknown_category == "":  # how a config file (TOML has no null) says "suppress unknown types"
            object.__setattr__(self, "unknown_category", None)
        if self.unknown_category is not None:
            _check_category("unknown_category", self.unknown_category)

    @property
    def hysteresis(self) -> float:
        """Metres a unit must be inside another cell before its public cell moves."""
        return self.cell_m / 4 if self.hysteresis_m is None else float(self.hysteresis_m)

    def category(self, incident_type: str) -> str | None:
        """The public category of a CAD incident type, or None when it must not be shown.

        The raw type is never published (CAD types are free-ish text and can
        name a victim or an address); only the operator's category names are.
        """
        normalized = normalize_type(incident_type)
        category = self.categories.get(normalized)
        if category is None:
            if any(keyword in normalized for keyword in self.suppress_keywords):
                return None
            category = self.unknown_category
        if category is None or category in self.suppressed:
            return None
        return category


def _check_projected_epsg(epsg: object) -> None:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if type(epsg) is not int or epsg <= 0:
        raise PublicConfigError(f"epsg must be a positive integer EPSG code, got {epsg!r}")
    try:
        crs = CRS.from_epsg(epsg)
    except CRSError:
        raise PublicConfigError(f"epsg: EPSG:{epsg} is not a coordinate reference system pyproj knows") from None
    units = {axis.unit_name for axis in crs.axis_info}
    # A geographic CRS would make the grid lat/lon rounding, whose cells are not
    # square and shrink towards the poles: refuse it.
    if not crs.is_projected or units != {"metre"}:
        raise PublicConfigError(f"epsg: EPSG:{epsg} ({crs.name}) is not a projected CRS in metres")


def _check_centre(centre: object) -> None:
    if not isinstance(centre, tuple | list) or len(centre) != 2:
        raise PublicConfigError(f"centre must be [lat, lon], got {centre!r}")
    for name, value, limit in (("lat", centre[0], 84.0), ("lon", centre[1], 180.0)):
        if type(value) not in (int, float) or not math.isfinite(value) or abs(value) > limit:
            raise PublicConfigError(f"centre: {name} must be a number within +-{limit:g}, got {value!r}")


def _checked_table(table: object) -> Mapping[str, str]:
    if not isinstance(table, Mapping):
        raise PublicConfigError(f"categories must be a table of incident type = category, got {table!r}")
    checked: dict[str, str] = {}
    for incident_type, category in table.items():
        if not isinstance(incident_type, str) or not normalize_type(incident_type):
            raise PublicConfigError(f"categories: incident type must be a non-empty name, got {incident_type!r}")
        checked[normalize_type(incident_type)] = _check_category(f"categories.{incident_type}", category)
    return MappingProxyType(checked)


def _checked_names(key: str, names: object) -> frozenset[str]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise PublicConfigError(f"{key} must be a list of categories, got {names!r}")
    return frozenset(_check_category(key, name) for name in names)


def _checked_keywords(keywords: object) -> tuple[str, ...]:
    if isinstance(keywords, str) or not isinstance(keywords, Iterable):
        raise PublicConfigError(f"suppress_keywords must be a list of words, got {keywords!r}")
    checked = []
    for word in keywords:
        if not isinstance(word, str) or not normalize_type(word):
            raise PublicConfigError(f"suppress_keywords: each must be a non-empty word, got {word!r}")
        checked.append(normalize_type(word))
    return tuple(checked)
