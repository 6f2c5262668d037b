"""SITE.json and PRICES.csv for ``eo backtest-site``: the tariff, the loads, the battery.

SITE.json::

    {"timezone": "Europe/Madrid",
     "tariff": {"import_price": 0.20, "export_price": 0.05, "netting_minutes": 60,
                "demand_charge_per_kw": 10, "billing_minutes": 15},
     "loads": [{"name": "water_heater", "power_w": 2000, "energy_kwh_per_day": 4,
                "window": ["00:00", "24:00"], "min_on_minutes": 10,
                "min_off_minutes": 10, "priority": 1,
                "adjustable": false, "interruptible": true}],
     "battery": {"capacity_kwh": 10, "power_kw": 5, "cycle_cost_per_kwh": 0.02},
     "car": {"arrive": "17:00", "depart": "07:30", "need_kwh": 10,
             "max_current_a": 16, "phases": [1, 3]},
     "grid": {"import_limit_w": 12000}}

A price is a number or a time-of-use schedule, ``[["00:00", 0.10],
["08:00", 0.15], ...]`` (from each time of day on, in the site's time
zone). PRICES.csv (``time``, ``import``, ``export``) replaces both. The
demand charge (per kW, 0 when absent) bills the highest average import over
a billing interval (``billing_minutes``, 15 when absent) in each month. The
car and the grid are read by ``eo_lab.backtest.site_car``. A site may
have a battery and no loads: its ``orchestrator`` is the battery's price
plan (``site_battery``), whose cycle cost (wear per kWh, 0 when absent)
is ``cycle_cost_per_kwh``.
"""

from collections.abc import Iterable
import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
import json
import math
import reprlib
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    BatterySpec,
    FixedPrice,
    FlexibleLoad,
    LoadControl,
    LoadError,
    PriceSeries,
    Tariff,
    TariffError,
    parse_minutes,
    time_of_use,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.tariff import (
    PriceSource,
)
from eo_lab.backtest.profile import parse_time
from eo_lab.backtest.site_car import CarError, CarSpec, GridSpec, read_car, read_grid

# The backtest's battery, like ``eo backtest``'s: 10 % reserve, 95 % each way.
RESERVE_SHARE = 0.1
EFFICIENCY = 0.95


class SiteError(ValueError):
    """A site or price file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Site:
    """The site's tariff, loads, battery and time zone."""

    tariff: Tariff
    loads: tuple[FlexibleLoad, ...]
    battery: BatterySpec | None
    timezone: ZoneInfo
    car: CarSpec | None = None
    grid: GridSpec | None = None
    # Wear per kWh through the battery, for its price plan (battery-only sites).
    battery_cycle_cost_per_kwh: float = 0.0

    @cached_property
    def car_load(self) -> FlexibleLoad | None:
        """Return the car as a load (see ``site_car``), one object throughout."""
        return None if self.car is None else self.car.as_load()

    @property
    def all_loads(self) -> tuple[FlexibleLoad, ...]:
        """Return the loads and the car as a load."""
        car = self.car_load
        return self.loads if car is None else (*self.loads, car)


def read_site(text: str, prices: Iterable[str] | None = None) -> Site:
    """Return the site described by SITE.json (prices from PRICES.csv where given)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SiteError(f"SITE.json: {err}") from None
    if not isinstance(data, dict):
        raise SiteError("SITE.json holds an object")
    try:
        timezone = ZoneInfo(str(data.get("timezone", "UTC")))
    except ZoneInfoNotFoundError, ValueError, OSError:
        # OSError: a name longer than a file name can be.
        raise SiteError(
            f"SITE.json: unknown time zone {reprlib.repr(data.get('timezone'))}"
        ) from None
    try:
        tariff = _tariff(data.get("tariff", {}), timezone, prices)
        loads = tuple(_load(entry) for entry in data.get("loads", []))
        battery = _battery(data.get("battery"))
        car = read_car(data.get("car"))
        grid = read_grid(data.get("grid"))
        cycle_cost = _cycle_cost(data.get("battery"))
    except CarError as err:
        raise SiteError(f"SITE.json: {err}") from None
    except (
        TariffError,
        LoadError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
    ) as err:
        raise SiteError(f"SITE.json: {err}") from None
    except OverflowError:
        raise SiteError("SITE.json: a number is out of range") from None
    if not loads and battery is None:
        # A battery alone is planned against the prices (``site_battery``).
        raise SiteError("SITE.json: no loads and no battery")
    if len({load.name for load in loads}) != len(loads):
        raise SiteError("SITE.json: two loads have one name")
    if car is not None and any(load.name == "car" for load in loads):
        raise SiteError("SITE.json: a load named car and a car")
    return Site(tariff, loads, battery, timezone, car, grid, cycle_cost)


def _price(value: Any, timezone: ZoneInfo) -> PriceSource:
    """Return a fixed price or a time-of-use schedule."""
    if isinstance(value, int | float):
        return FixedPrice(float(value))
    if isinstance(value, list):
        return time_of_use([(str(at), float(price)) for at, price in value], timezone)
    raise TypeError(f"a price is a number or [[HH:MM, price], ...], not {value!r}")


def _tariff(
    data: dict[str, Any], timezone: ZoneInfo, prices: Iterable[str] | None
) -> Tariff:
    """Return the tariff; PRICES.csv replaces its prices."""
    netting = int(data.get("netting_minutes", 60))
    demand = float(data.get("demand_charge_per_kw", 0.0))
    billing = int(data.get("billing_minutes", 15))
    if prices is not None:
        imports, exports = read_prices(prices)
        return Tariff(imports, exports, netting, demand, billing)
    return Tariff(
        _price(data["import_price"], timezone),
        _price(data["export_price"], timezone),
        netting,
        demand,
        billing,
    )


def _load(data: dict[str, Any]) -> FlexibleLoad:
    """Return one load."""
    window = data.get("window", ["00:00", "24:00"])
    if not isinstance(window, list) or len(window) != 2:
        raise TypeError(f"a load's window is [start, end] as HH:MM, not {window!r}")
    return FlexibleLoad(
        name=str(data["name"]),
        power_w=float(data["power_w"]),
        energy_wh_per_day=float(data["energy_kwh_per_day"]) * 1000,
        window_start_min=parse_minutes(window[0]) % 1440,
        window_end_min=parse_minutes(window[1]) or 1440,
        min_on=timedelta(minutes=float(data.get("min_on_minutes", 0))),
        min_off=timedelta(minutes=float(data.get("min_off_minutes", 0))),
        priority=int(data.get("priority", 0)),
        control=LoadControl.ADJUSTABLE
        if data.get("adjustable")
        else LoadControl.SWITCH,
        interruptible=bool(data.get("interruptible", True)),
    )


def _battery(data: dict[str, Any] | None) -> BatterySpec | None:
    """Return the battery, None without one."""
    if data is None:
        return None
    capacity = float(data["capacity_kwh"]) * 1000
    power = float(data["power_kw"]) * 1000
    if capacity <= 0 or power <= 0:
        raise ValueError("the battery's capacity and power must be above 0")
    return BatterySpec(capacity, power, capacity * RESERVE_SHARE, EFFICIENCY)


def _cycle_cost(data: dict[str, Any] | None) -> float:
    """Return the battery's wear per kWh through it (0 when absent)."""
    cost = float((data or {}).get("cycle_cost_per_kwh", 0.0))
    if not (math.isfinite(cost) and cost >= 0):
        raise ValueError("the battery's cycle_cost_per_kwh must be 0 or more")
    return cost


def read_prices(lines: Iterable[str]) -> tuple[PriceSeries, PriceSeries]:
    """Return import and export price series from PRICES.csv."""
    reader = csv.DictReader(lines)
    columns = [name.strip() for name in reader.fieldnames or ()]
    if not {"time", "import", "export"} <= set(columns):
        raise SiteError("PRICES.csv needs the columns time, import and export")
    reader.fieldnames = columns
    rows: list[tuple[datetime, float, float]] = []
    for row in reader:
        try:
            at = datetime.fromtimestamp(parse_time(row["time"].strip()), UTC)
            prices = (float(row["import"]), float(row["export"]))
        # TypeError: a short row, whose missing fields csv gives as None.
        except ValueError, TypeError, AttributeError, OverflowError, OSError:
            prices = (math.nan, math.nan)
        if not all(math.isfinite(price) for price in prices):
            raise SiteError(
                f"PRICES.csv line {reader.line_num}: not a time and two prices"
            )
        rows.append((at, *prices))
    if not rows:
        raise SiteError("PRICES.csv has no prices")
    rows.sort()
    starts = tuple(at for at, _, _ in rows)
    lasts = starts[-1] - starts[-2] if len(starts) > 1 else timedelta(hours=1)
    return (
        PriceSeries(starts, tuple(r[1] for r in rows), lasts),
        PriceSeries(starts, tuple(r[2] for r in rows), lasts),
    )
