"""Victron VRM's hourly energy history, as the report's energy metrics.

VRM's ``stats`` endpoint (``type=kwh``) gives each energy flow of a site as a
list of ``[timestamp in ms, kWh]`` per interval, or ``false`` when the flow
has no data in the period. The flows are named by where the energy comes
from and goes to: P(V), B(attery), G(rid), g(enerator) to c(onsumers),
b(attery) or g(rid). This module turns them into the report's energy
metrics hour by hour, and cuts a period into the windows VRM serves.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .statistics import HOUR, Role

# VRM serves at most 31 days of hourly data per request.
WINDOW = timedelta(days=31)

# Each metric is the sum of VRM's flows into or out of it.
VRM_FLOWS: Mapping[Role, tuple[str, ...]] = {
    Role.PV: ("Pc", "Pb", "Pg"),
    Role.LOAD: ("Pc", "Bc", "Gc", "gc"),
    Role.BATTERY_CHARGE: ("Pb", "Gb", "gb"),
    Role.BATTERY_DISCHARGE: ("Bc", "Bg"),
    Role.GRID_IMPORT: ("Gc", "Gb"),
    Role.GRID_EXPORT: ("Pg", "Bg"),
    Role.GENERATOR: ("gc", "gb"),
}
VRM_METRICS: tuple[Role, ...] = tuple(VRM_FLOWS)
VRM_DOMAIN = "energy_orchestrator"


def statistic_id(site_id: int, metric: Role) -> str:
    """Return the external statistic a site's metric is imported under."""
    return f"{VRM_DOMAIN}:vrm_{site_id}_{metric.value}"


def vrm_sources(site_id: int) -> dict[str, Any]:
    """Return the report's energy roles naming the site's VRM statistics."""
    return {
        metric.value: [statistic_id(site_id, metric)]
        if metric is Role.PV
        else statistic_id(site_id, metric)
        for metric in VRM_METRICS
    }


def windows(first: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Return the windows, at most VRM's longest, that cover first up to end."""
    start = first
    while start < end:
        stop = min(start + WINDOW, end)
        yield start, stop
        start = stop


@dataclass(frozen=True)
class VrmHours:
    """A window's hours as VRM gives them, by metric (kWh in each hour)."""

    energy: Mapping[datetime, Mapping[Role, float]]
    # Points VRM gave that are not at the start of a UTC hour (left out).
    off_hour: int = 0


def hourly_energy(
    records: Mapping[str, Any] | Any, first: datetime, end: datetime
) -> VrmHours:
    """Return each hour's metrics from VRM's kWh records, for hours in [first, end).

    An hour VRM has no record of at all is left out (the report flags it);
    in an hour VRM has, a flow it does not list counts 0 (a site without a
    grid imports none).
    """
    flows: dict[datetime, dict[str, float]] = {}
    off_hour = 0
    if isinstance(records, Mapping):
        for code, points in records.items():
            if not isinstance(points, list):
                continue  # false (the library gives None): no data in the window
            for point in points:
                moment = datetime.fromtimestamp(point[0] / 1000, UTC)
                if moment.minute or moment.second or moment.microsecond:
                    off_hour += 1
                    continue
                if first <= moment < end and point[1] is not None:
                    hour = flows.setdefault(moment, {})
                    hour[code] = hour.get(code, 0.0) + float(point[1])
    energy = {
        moment: {
            metric: sum(values.get(code, 0.0) for code in codes)
            for metric, codes in VRM_FLOWS.items()
        }
        for moment, values in sorted(flows.items())
    }
    return VrmHours(energy=energy, off_hour=off_hour)


def next_hours(
    hours: VrmHours, metric: Role, after: datetime | None, total: float
) -> list[dict[str, Any]]:
    """Return a metric's rows after its last imported hour, their sum going on from it.

    ``after`` is the last hour imported (None: none yet) and ``total`` its
    sum; the rows are the recorder's: ``start``, and ``state`` and ``sum``
    both the kWh counted since the backfill began, as a meter would.
    """
    rows: list[dict[str, Any]] = []
    for moment, metrics in hours.energy.items():
        if after is not None and moment <= after:
            continue
        total += metrics[metric]
        rows.append({"start": moment, "state": total, "sum": total})
    return rows


def resume_from(
    last: Mapping[Role, datetime | None], history_start: datetime
) -> datetime:
    """Return the first hour to fetch: after the metric imported least far."""
    known = [moment for moment in last.values() if moment is not None]
    if not last or len(known) < len(last):
        return history_start
    return min(known) + HOUR
