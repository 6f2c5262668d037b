"""The inputs of a report: the site's entities by role, and their hourly statistics.

A row is the recorder's long-term statistics row for one hour: ``start`` (the
hour's beginning, UTC), ``sum`` (the energy counted since the statistic
began, for an energy sensor), ``mean``/``min``/``max`` (for a measurement
such as SOC) and ``state``.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

HOUR = timedelta(hours=1)


class ReportError(ValueError):
    """The report's inputs are wrong: an entity list, a unit, a period."""


class Role(StrEnum):
    """What an entity measures for the site."""

    PV = "pv"
    LOAD = "load"
    BATTERY_CHARGE = "battery_charge"
    BATTERY_DISCHARGE = "battery_discharge"
    GRID_IMPORT = "grid_import"
    GRID_EXPORT = "grid_export"
    GENERATOR = "generator"
    SOC = "soc"
    SUPPLY = "supply"


# Energy roles are read from the statistics' sum; the others from mean/min/max.
ENERGY_ROLES = frozenset(
    {
        Role.PV,
        Role.LOAD,
        Role.BATTERY_CHARGE,
        Role.BATTERY_DISCHARGE,
        Role.GRID_IMPORT,
        Role.GRID_EXPORT,
        Role.GENERATOR,
    }
)

# Energy units a report converts to kWh, by their factor.
KWH_PER_UNIT: Mapping[str, float] = {
    "Wh": 0.001,
    "kWh": 1.0,
    "MWh": 1000.0,
    "GWh": 1_000_000.0,
}


@dataclass(frozen=True)
class SiteEntities:
    """The site's entities by role: PV by inverter, every other role at most once."""

    pv: tuple[str, ...] = ()
    others: Mapping[Role, str] | None = None

    def get(self, role: Role) -> str | None:
        """Return the entity of a role other than PV, or None when the site has none."""
        return (self.others or {}).get(role)

    def all(self) -> list[tuple[Role, str]]:
        """Return every (role, entity) pair, PV first, in a stable order."""
        pairs = [(Role.PV, entity_id) for entity_id in self.pv]
        pairs += [
            (role, entity_id)
            for role in Role
            if role is not Role.PV and (entity_id := self.get(role))
        ]
        return pairs

    def entity_ids(self) -> list[str]:
        """Return every entity named, without repeats, in a stable order."""
        return list(dict.fromkeys(entity_id for _, entity_id in self.all()))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> SiteEntities:
        """Build from (role, entity) pairs; PV may repeat, no other role may."""
        pv: list[str] = []
        others: dict[Role, str] = {}
        for name, named in pairs:
            try:
                role = Role(name.strip())
            except ValueError:
                known = ", ".join(role.value for role in Role)
                raise ReportError(f"unknown role {name!r} (known: {known})") from None
            entity_id = named.strip()
            if not entity_id:
                raise ReportError(f"role {role} names no entity")
            if role is Role.PV:
                if entity_id not in pv:
                    pv.append(entity_id)
            elif role in others and others[role] != entity_id:
                raise ReportError(f"role {role} is given twice")
            else:
                others[role] = entity_id
        if not pv and not others:
            raise ReportError("no entities given")
        return cls(pv=tuple(pv), others=others)

    @classmethod
    def parse(cls, text: str) -> SiteEntities:
        """Parse ``pv=sensor.a,pv=sensor.b,load=sensor.c``."""
        pairs: list[tuple[str, str]] = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, entity_id = item.partition("=")
            if not sep:
                raise ReportError(f"{item!r} is not role=entity_id")
            pairs.append((name, entity_id))
        return cls.from_pairs(pairs)


@dataclass(frozen=True, slots=True)
class StatisticsRow:
    """One hour of an entity's long-term statistics, in the report's units."""

    start: datetime
    state: float | None = None
    sum: float | None = None
    mean: float | None = None
    min: float | None = None
    max: float | None = None

    @classmethod
    def from_recorder(
        cls, row: Mapping[str, Any], factor: float = 1.0
    ) -> StatisticsRow:
        """Build from a recorder row (``start`` a datetime or a UNIX timestamp).

        ``factor`` converts the entity's unit to the report's (kWh for energy).
        """
        start = row["start"]
        if not isinstance(start, datetime):
            start = datetime.fromtimestamp(float(start), UTC)

        def scaled(key: str) -> float | None:
            value = row.get(key)
            return None if value is None else float(value) * factor

        return cls(
            start=start.astimezone(UTC),
            state=scaled("state"),
            sum=scaled("sum"),
            mean=scaled("mean"),
            min=scaled("min"),
            max=scaled("max"),
        )


def kwh_factor(unit: str | None) -> float:
    """Return what converts an energy unit to kWh; refuse units that are not energy."""
    if unit is None or unit not in KWH_PER_UNIT:
        raise ReportError(f"{unit!r} is not an energy unit ({', '.join(KWH_PER_UNIT)})")
    return KWH_PER_UNIT[unit]


def hour_floor(moment: datetime) -> datetime:
    """Return the beginning of the UTC hour a moment is in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
