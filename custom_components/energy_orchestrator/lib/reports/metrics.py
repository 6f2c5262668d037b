"""The report: each hour's metrics from the statistics, summed to the resolution.

Each metric is defined, with its unit and formula, in docs/reports.md. An
hour whose statistics are missing or implausible gives no value for that
entity and is flagged; a longer row sums the hours that are known and says
how many were not. Nothing is filled in.
"""

from collections.abc import Iterable, Mapping, Sequence
import csv
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
import io
import math

from .purchases import Purchase
from .statistics import ENERGY_ROLES, HOUR, Role, SiteEntities, StatisticsRow

# An energy sum may go back by rounding; more than this is implausible.
SUM_TOLERANCE_KWH = 1e-6
SOC_RANGE = (0.0, 100.0)


class Resolution(StrEnum):
    """How long a report's rows are."""

    HOUR = "hour"
    DAY = "day"


class Problem(StrEnum):
    """Why an hour of an entity has no value."""

    MISSING = "missing"
    IMPLAUSIBLE = "implausible"


@dataclass(frozen=True)
class ReportSettings:
    """What counts as plausible and as supplied; the defaults suit most sites."""

    # More energy than this in one hour is implausible (None: no ceiling).
    max_hourly_kwh: float | None = None
    # The supply sensor reads above this while the site is supplied.
    supply_threshold: float = 0.0


type Series = Mapping[datetime, StatisticsRow]


@dataclass(frozen=True)
class HourFigures:
    """One hour of one site, before summing."""

    start: datetime
    energy: Mapping[str, float | None]
    soc: StatisticsRow | None
    supplied: bool | None
    problems: Mapping[str, Problem]


@dataclass(frozen=True)
class ReportRow:
    """The metrics of one period (an hour, a day); None where nothing is known."""

    start: datetime
    end: datetime
    hours: int
    complete_hours: int
    pv_kwh: float | None = None
    pv_kwh_by_entity: Mapping[str, float | None] = field(default_factory=dict)
    load_kwh: float | None = None
    battery_charged_kwh: float | None = None
    battery_discharged_kwh: float | None = None
    battery_round_trip_efficiency_pct: float | None = None
    grid_import_kwh: float | None = None
    grid_export_kwh: float | None = None
    generator_kwh: float | None = None
    soc_min_pct: float | None = None
    soc_max_pct: float | None = None
    soc_mean_pct: float | None = None
    supply_hours: int | None = None
    outage_hours: int | None = None
    outages: int | None = None
    purchased_kwh: float | None = None
    delivered_kwh: float | None = None
    delivered_to_purchased_pct: float | None = None
    active_customers: int | None = None
    flags: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Return whether every hour of the row was known and plausible."""
        return self.complete_hours == self.hours

    def as_dict(
        self, pv_entities: Sequence[str], tz: tzinfo = UTC
    ) -> dict[str, str | float | int | bool | None]:
        """Return the row as CSV/JSON fields, in the order of :func:`columns`.

        Its start and end are given in the site's time zone ``tz``.
        """
        values: dict[str, str | float | int | bool | None] = {
            "start": self.start.astimezone(tz).isoformat(),
            "end": self.end.astimezone(tz).isoformat(),
            "hours": self.hours,
            "complete_hours": self.complete_hours,
            "complete": self.complete,
            "pv_kwh": self.pv_kwh,
        }
        for entity_id in pv_entities:
            values[f"pv_kwh:{entity_id}"] = self.pv_kwh_by_entity.get(entity_id)
        for name in _FIGURES:
            values[name] = getattr(self, name)
        values["flags"] = "; ".join(self.flags)
        return values


_FIGURES = (
    "load_kwh",
    "battery_charged_kwh",
    "battery_discharged_kwh",
    "battery_round_trip_efficiency_pct",
    "grid_import_kwh",
    "grid_export_kwh",
    "generator_kwh",
    "soc_min_pct",
    "soc_max_pct",
    "soc_mean_pct",
    "supply_hours",
    "outage_hours",
    "outages",
    "purchased_kwh",
    "delivered_kwh",
    "delivered_to_purchased_pct",
    "active_customers",
)
_ENERGY_FIELDS: Mapping[Role, str] = {
    Role.LOAD: "load_kwh",
    Role.BATTERY_CHARGE: "battery_charged_kwh",
    Role.BATTERY_DISCHARGE: "battery_discharged_kwh",
    Role.GRID_IMPORT: "grid_import_kwh",
    Role.GRID_EXPORT: "grid_export_kwh",
    Role.GENERATOR: "generator_kwh",
}


def columns(pv_entities: Sequence[str]) -> list[str]:
    """Return a report's columns: fixed, one per PV entity after the PV total."""
    return [
        "start",
        "end",
        "hours",
        "complete_hours",
        "complete",
        "pv_kwh",
        *(f"pv_kwh:{entity_id}" for entity_id in pv_entities),
        *_FIGURES,
        "flags",
    ]


def _hour_energy(
    series: Series, hour: datetime, settings: ReportSettings
) -> tuple[float | None, Problem | None]:
    """Return an energy entity's kWh in an hour: its sum less the hour before's."""
    row, before = series.get(hour), series.get(hour - HOUR)
    if row is None or row.sum is None or before is None or before.sum is None:
        return None, Problem.MISSING
    energy = row.sum - before.sum
    if energy < -SUM_TOLERANCE_KWH or (
        settings.max_hourly_kwh is not None and energy > settings.max_hourly_kwh
    ):
        return None, Problem.IMPLAUSIBLE
    return max(energy, 0.0), None


def _hour_soc(
    series: Series, hour: datetime
) -> tuple[StatisticsRow | None, Problem | None]:
    """Return an hour's SOC statistics when they are there and make sense."""
    row = series.get(hour)
    if row is None or row.mean is None or row.min is None or row.max is None:
        return None, Problem.MISSING
    low, high = SOC_RANGE
    if not low <= row.min <= row.mean <= row.max <= high:
        return None, Problem.IMPLAUSIBLE
    return row, None


def _hour_supplied(
    series: Series, hour: datetime, settings: ReportSettings
) -> tuple[bool | None, Problem | None]:
    """Return whether the site was supplied the whole hour (its lowest reading)."""
    row = series.get(hour)
    if row is None or row.min is None:
        return None, Problem.MISSING
    return row.min > settings.supply_threshold, None


def hour_figures(
    entities: SiteEntities,
    statistics: Mapping[str, Series],
    hour: datetime,
    settings: ReportSettings,
) -> HourFigures:
    """Return one hour's figures; each entity without a value is a problem."""
    energy: dict[str, float | None] = {}
    problems: dict[str, Problem] = {}
    soc: StatisticsRow | None = None
    supplied: bool | None = None
    for role, entity_id in entities.all():
        series = statistics.get(entity_id, {})
        if role in ENERGY_ROLES:
            energy[entity_id], problem = _hour_energy(series, hour, settings)
        elif role is Role.SOC:
            soc, problem = _hour_soc(series, hour)
        else:
            supplied, problem = _hour_supplied(series, hour, settings)
        if problem is not None:
            problems[entity_id] = problem
    return HourFigures(hour, energy, soc, supplied, problems)


def _total(values: Iterable[float | None]) -> float | None:
    """Return the sum of the values known; None when none is."""
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _mean(values: Sequence[float]) -> float | None:
    """Return the mean of the values; None when there are none."""
    return sum(values) / len(values) if values else None


def _ratio_pct(part: float | None, whole: float | None) -> float | None:
    """Return part / whole in percent, when both are known and whole is not 0."""
    if part is None or whole is None or whole <= 0:
        return None
    return 100 * part / whole


def _flags(hours: Sequence[HourFigures]) -> tuple[str, ...]:
    """Return one flag per entity and problem: for one hour, or with its hours."""
    counts: dict[tuple[str, Problem], int] = {}
    for figures in hours:
        for entity_id, problem in figures.problems.items():
            counts[entity_id, problem] = counts.get((entity_id, problem), 0) + 1
    if len(hours) == 1:
        return tuple(
            f"{entity_id} {problem}" for (entity_id, problem) in sorted(counts)
        )
    return tuple(
        f"{entity_id} {problem} {count} h"
        for (entity_id, problem), count in sorted(counts.items())
    )


def _purchase_figures(
    purchases: Sequence[Purchase] | None, start: datetime, end: datetime
) -> tuple[float | None, int | None]:
    """Return the energy bought in a period and the customers active in it."""
    if purchases is None:
        return None, None
    bought = sum(p.energy_kwh for p in purchases if start <= p.time < end)
    return bought, active_customers(purchases, start, end)


def active_customers(
    purchases: Iterable[Purchase], start: datetime, end: datetime | None = None
) -> int:
    """Return how many customers hold a valid purchase during [start, end).

    Without ``end``: at the instant ``start`` (a customer active "as of" it).
    """
    if end is None:
        return len(
            {p.customer_id for p in purchases if p.time <= start < p.valid_until}
        )
    return len(
        {p.customer_id for p in purchases if p.time < end and p.valid_until > start}
    )


def _supply_figures(
    entities: SiteEntities, hours: Sequence[HourFigures], supplied_before: bool | None
) -> tuple[int | None, int | None, int | None]:
    """Return the hours supplied, the hours with an outage, the outages begun."""
    if entities.get(Role.SUPPLY) is None:
        return None, None, None
    supply_hours = sum(1 for figures in hours if figures.supplied is True)
    outage_hours = sum(1 for figures in hours if figures.supplied is False)
    outages = 0
    previous = supplied_before
    for figures in hours:
        if figures.supplied is False and previous is not False:
            outages += 1
        previous = figures.supplied
    return supply_hours, outage_hours, outages


def summarize(
    entities: SiteEntities,
    hours: Sequence[HourFigures],
    end: datetime,
    purchases: Sequence[Purchase] | None,
    supplied_before: bool | None = None,
) -> ReportRow:
    """Return the metrics of consecutive hours as one row (ending at ``end``)."""
    start = hours[0].start
    by_entity = {
        entity_id: _total(figures.energy.get(entity_id) for figures in hours)
        for entity_id in entities.pv
    }
    energy = {
        name: _total(figures.energy.get(entity_id) for figures in hours)
        if (entity_id := entities.get(role))
        else None
        for role, name in _ENERGY_FIELDS.items()
    }
    socs = [figures.soc for figures in hours if figures.soc is not None]
    supply_hours, outage_hours, outages = _supply_figures(
        entities, hours, supplied_before
    )
    purchased, active = _purchase_figures(purchases, start, end)
    delivered = energy["load_kwh"] if purchases is not None else None
    return ReportRow(
        start=start,
        end=end,
        hours=len(hours),
        complete_hours=sum(1 for figures in hours if not figures.problems),
        pv_kwh=_total(by_entity.values()),
        pv_kwh_by_entity=by_entity,
        load_kwh=energy["load_kwh"],
        battery_charged_kwh=energy["battery_charged_kwh"],
        battery_discharged_kwh=energy["battery_discharged_kwh"],
        battery_round_trip_efficiency_pct=_ratio_pct(
            energy["battery_discharged_kwh"], energy["battery_charged_kwh"]
        ),
        grid_import_kwh=energy["grid_import_kwh"],
        grid_export_kwh=energy["grid_export_kwh"],
        generator_kwh=energy["generator_kwh"],
        soc_min_pct=min((s.min for s in socs if s.min is not None), default=None),
        soc_max_pct=max((s.max for s in socs if s.max is not None), default=None),
        soc_mean_pct=_mean([s.mean for s in socs if s.mean is not None]),
        supply_hours=supply_hours,
        outage_hours=outage_hours,
        outages=outages,
        purchased_kwh=purchased,
        delivered_kwh=delivered,
        delivered_to_purchased_pct=_ratio_pct(delivered, purchased),
        active_customers=active,
        flags=_flags(hours),
    )


def period_bounds(
    first: datetime, last: datetime, resolution: Resolution, tz: tzinfo
) -> list[tuple[datetime, datetime]]:
    """Return the rows' (start, end) in UTC, from ``first`` up to ``last``.

    Days are the site's days (``tz``): 23 or 25 hours where the clock changes.
    """
    bounds: list[tuple[datetime, datetime]] = []
    if resolution is Resolution.HOUR:
        moment = first.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        end = last.astimezone(UTC)
        while moment < end:
            bounds.append((moment, moment + HOUR))
            moment += HOUR
        return bounds
    day = first.astimezone(tz).date()
    while (start := _local_midnight(day, tz)) < last:
        day += timedelta(days=1)
        bounds.append((start, _local_midnight(day, tz)))
    return bounds


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    """Return the UTC instant a local day begins."""
    local = datetime.combine(day, datetime.min.time(), tz)
    return local.astimezone(UTC)


def site_report(  # noqa: PLR0917 - the period is read in this order everywhere
    entities: SiteEntities,
    statistics: Mapping[str, Iterable[StatisticsRow]],
    first: datetime,
    last: datetime,
    resolution: Resolution,
    tz: tzinfo,
    *,
    purchases: Sequence[Purchase] | None = None,
    settings: ReportSettings | None = None,
) -> list[ReportRow]:
    """Return the site's report for [first, last) at a resolution.

    ``statistics`` holds each entity's hourly rows, in kWh for energy, from
    the hour before ``first`` (an hour's energy is its sum less the hour
    before's) up to ``last``.
    """
    settings = settings or ReportSettings()
    series: dict[str, Series] = {
        entity_id: {row.start: row for row in rows}
        for entity_id, rows in statistics.items()
    }
    rows: list[ReportRow] = []
    supplied_before = _before(entities, series, first, settings)
    for start, end in period_bounds(first, last, resolution, tz):
        hours = [
            hour_figures(entities, series, hour, settings)
            for hour in _hours(start, end)
        ]
        rows.append(summarize(entities, hours, end, purchases, supplied_before))
        supplied_before = hours[-1].supplied
    return rows


def period_row(
    entities: SiteEntities,
    statistics: Mapping[str, Iterable[StatisticsRow]],
    first: datetime,
    last: datetime,
    *,
    purchases: Sequence[Purchase] | None = None,
    settings: ReportSettings | None = None,
) -> ReportRow:
    """Return the metrics of [first, last) as one row (today so far, this month).

    ``statistics`` as for :func:`site_report`; the period is whole hours.
    """
    settings = settings or ReportSettings()
    series: dict[str, Series] = {
        entity_id: {row.start: row for row in rows}
        for entity_id, rows in statistics.items()
    }
    hours = [
        hour_figures(entities, series, hour, settings)
        for hour in _hours(first.astimezone(UTC), last.astimezone(UTC))
    ]
    if not hours:
        raise ValueError("a period of no hours has no metrics")
    supplied_before = _before(entities, series, first, settings)
    return summarize(entities, hours, last, purchases, supplied_before)


def _before(
    entities: SiteEntities,
    series: Mapping[str, Series],
    first: datetime,
    settings: ReportSettings,
) -> bool | None:
    """Return whether the site was supplied in the hour before the report."""
    if (entity_id := entities.get(Role.SUPPLY)) is None:
        return None
    before = first.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - HOUR
    return _hour_supplied(series.get(entity_id, {}), before, settings)[0]


def _hours(start: datetime, end: datetime) -> list[datetime]:
    """Return the UTC hours from start to end."""
    hours: list[datetime] = []
    while start < end:
        hours.append(start)
        start += HOUR
    return hours


def _cell(value: str | float | int | bool | None) -> str:
    """Return a CSV cell: empty for unknown, figures to 6 decimals, no noise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def report_csv(
    rows: Sequence[ReportRow], pv_entities: Sequence[str], tz: tzinfo = UTC
) -> str:
    """Return the report as CSV text: the same rows give the same bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns(pv_entities))
    for row in rows:
        writer.writerow(_cell(value) for value in row.as_dict(pv_entities, tz).values())
    return out.getvalue()


def report_json(
    rows: Sequence[ReportRow], pv_entities: Sequence[str], tz: tzinfo = UTC
) -> list[dict[str, str | float | int | bool | None]]:
    """Return the report as JSON-ready rows, figures rounded as in the CSV."""

    def round_to(
        value: str | float | int | bool | None,
    ) -> str | float | int | bool | None:
        """Round a figure as the CSV does."""
        return round(value, 6) if isinstance(value, float) else value

    return [
        {key: round_to(value) for key, value in row.as_dict(pv_entities, tz).items()}
        for row in rows
    ]
