"""A known month of a mini-grid, imported into the recorder through its API.

March 2026 in Nairobi (UTC+3 all year, so every day has 24 hours). The
figures of the month, done by hand:

- ``sensor.pv_a`` (kWh): 1.5 kWh an hour from 09:00 to 16:59, 12 kWh a day,
  372 kWh in the month.
- ``sensor.pv_b`` (Wh): 500 Wh an hour, the same hours, 4 kWh a day. Its
  rows of 10 March 10:00 to 14:59 are missing (the recorder was down; its
  sum goes on): those five hours and 15:00 (which needs 14:00's sum) are
  flagged, so 10 March counts 09:00 and 16:00 only: 1 kWh; the month 30 x
  4 + 1 = 121 kWh.
- ``sensor.load`` (kWh): 1 kWh every hour, 24 a day, 744 in the month.
- ``sensor.battery_in``/``sensor.battery_out``: 0.5 kWh an hour from 10:00
  to 13:59 (2 a day, 62), 0.45 kWh an hour from 19:00 to 22:59 (1.8 a day,
  55.8): a round trip of 90 %.
- ``sensor.soc``: the hour's mean is 40 + its local hour, its min 5 below,
  its max 5 above: each day min 35, mean 51.5, max 68.
- ``sensor.supply`` (the AC output, V): 230, except 15 March 02:00-04:59
  (0 V: three outage hours, one outage) and 20 March 18:00 (min 0: one
  outage hour, one outage): 744 - 4 = 740 supplied hours, 2 outages.
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.core import HomeAssistant

TIME_ZONE = "Africa/Nairobi"
SITE = ZoneInfo(TIME_ZONE)
FIRST_DAY, LAST_DAY = date(2026, 3, 1), date(2026, 3, 31)
ENTITIES = (
    "pv=sensor.pv_a,pv=sensor.pv_b,load=sensor.load,battery_charge=sensor.battery_in,"
    "battery_discharge=sensor.battery_out,soc=sensor.soc,supply=sensor.supply"
)
GAP = (datetime(2026, 3, 10, 10, tzinfo=SITE), datetime(2026, 3, 10, 15, tzinfo=SITE))


def _hours() -> Iterator[datetime]:
    """Return the month's local hours, from the hour before it (for its sums)."""
    moment = datetime(2026, 2, 28, 23, tzinfo=SITE)
    while moment < datetime(2026, 4, 1, tzinfo=SITE):
        yield moment
        moment += timedelta(hours=1)


def _energy(
    per_hour: Any, *, skip: tuple[datetime, datetime] | None = None
) -> list[dict[str, Any]]:
    """Return rows whose sum grows by per_hour(local hour); none in ``skip``."""
    rows: list[dict[str, Any]] = []
    total = 0.0
    for moment in _hours():
        total += per_hour(moment.hour)
        if skip is None or not skip[0] <= moment < skip[1]:
            rows.append({"start": moment, "state": total, "sum": total})
    return rows


def _supply(moment: datetime) -> tuple[float, float, float]:
    """Return the supply's (min, mean, max) volts in an hour."""
    if moment.date() == date(2026, 3, 15) and 2 <= moment.hour <= 4:
        return 0.0, 0.0, 0.0
    if moment.date() == date(2026, 3, 20) and moment.hour == 18:
        return 0.0, 115.0, 230.0
    return 230.0, 230.0, 230.0


def _measured(values: Any) -> list[dict[str, Any]]:
    """Return rows of (min, mean, max) for every hour."""
    return [
        {"start": moment, "min": low, "mean": mean, "max": high}
        for moment in _hours()
        for low, mean, high in [values(moment)]
    ]


def _metadata(entity_id: str, unit: str | None, *, energy: bool) -> Any:
    """Return the recorder's metadata of one of the month's sensors."""
    return {
        "statistic_id": entity_id,
        "source": "recorder",
        "name": None,
        "unit_of_measurement": unit,
        "unit_class": "energy" if energy else None,
        "has_sum": energy,
        "mean_type": StatisticMeanType.NONE if energy else StatisticMeanType.ARITHMETIC,
    }


def import_month(hass: HomeAssistant) -> None:
    """Queue the month's statistics into the recorder, as a backfill would."""
    sun = range(9, 17)
    imports = {
        ("sensor.pv_a", "kWh"): _energy(lambda hour: 1.5 if hour in sun else 0.0),
        ("sensor.pv_b", "Wh"): _energy(
            lambda hour: 500.0 if hour in sun else 0.0, skip=GAP
        ),
        ("sensor.load", "kWh"): _energy(lambda hour: 1.0),
        ("sensor.battery_in", "kWh"): _energy(
            lambda hour: 0.5 if 10 <= hour < 14 else 0.0
        ),
        ("sensor.battery_out", "kWh"): _energy(
            lambda hour: 0.45 if 19 <= hour < 23 else 0.0
        ),
    }
    for (entity_id, unit), rows in imports.items():
        async_import_statistics(hass, _metadata(entity_id, unit, energy=True), rows)
    async_import_statistics(
        hass,
        _metadata("sensor.soc", "%", energy=False),
        _measured(
            lambda moment: (35.0 + moment.hour, 40.0 + moment.hour, 45.0 + moment.hour)
        ),
    )
    async_import_statistics(
        hass, _metadata("sensor.supply", "V", energy=False), _measured(_supply)
    )


PURCHASES = (
    "customer_id,time,energy_wh,amount,tariff_per_kwh,valid_days\n"
    "C1,2026-03-01T08:00,50000,,,\n"
    "C1,2026-03-01T08:00,50000,,,\n"  # the same row twice: counted once
    "C2,2026-03-05T12:00,,300,1.5,10\n"  # 200 kWh, valid to 15 March
    "C3,2026-02-01T08:00,10000,,,\n"  # valid to 3 March
    "C4,2026-03-31T20:00,8000,,,\n"
)
# Bought in March: 50 + 200 + 8 = 258 kWh; delivered (the load) 744 kWh.
