"""Price series from what Home Assistant's price integrations publish.

Each integration shows its prices in a shape of its own; these functions
read each shape into a ``PriceSeries`` (per kWh, in the main currency unit)
and raise ``PriceSourceError`` for anything they cannot read, never a
guess:

- ENTSO-e (custom ``entsoe``): its average-price sensor carries
  ``prices_today``, ``prices_tomorrow`` (and ``prices``), lists of
  ``{"time", "price"}``; the price in the sensor's unit (per kWh or MWh).
- Octopus Energy (custom ``octopus_energy``): its day-rates event entities
  carry ``rates``, a list of ``{"start", "end", "value_inc_vat"}`` in
  pounds per kWh.
- Spain's PVPC (core ``pvpc_hourly_pricing``): its sensors carry
  ``price_00h`` to ``price_23h`` for today and ``price_next_day_00h``...
  for tomorrow, in euros per kWh for local hours (``price_02h_d`` is the
  second 02:00 of the day clocks go back).
- Nord Pool (core ``nordpool``): the action ``nordpool.get_prices_for_date``
  answers ``{area: [{"start", "end", "price"}]}`` per MWh.
- Tibber (core ``tibber``): the action ``tibber.get_prices`` answers
  ``{"prices": {home: [{"start_time", "price"}]}}`` per kWh.

The unit a sensor states scales its prices: per MWh is a thousandth of per
kWh, and prices in cents (``c``, ``ct``, ``p``, ``öre``...) a hundredth of
the currency.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
import itertools
import math
import re
from typing import Any

from .tariff import PriceSeries, TariffError

# The attributes that hold each integration's prices.
ENTSOE_KEYS = ("prices_today", "prices_tomorrow", "prices")
OCTOPUS_KEY = "rates"
PVPC_TODAY = re.compile(r"^price_(\d\d)h(_d)?$")
PVPC_TOMORROW = re.compile(r"^price_next_day_(\d\d)h(_d)?$")

# Currency subunits: a price in one of these is a hundredth of the currency.
_SUBUNITS = frozenset({"c", "ct", "cent", "cents", "p", "pence", "öre", "øre"})
_ENERGY_SCALE = {"wh": 1000.0, "kwh": 1.0, "mwh": 0.001}


class PriceSourceError(ValueError):
    """Prices that cannot be read; the message says why."""


def per_kwh_factor(unit: str | None) -> float:
    """Return what a price in ``unit`` is multiplied by to be per kWh, in the currency.

    No unit is taken as per kWh (Octopus and PVPC state theirs in their
    documentation); a unit that is not a price per energy is refused.
    """
    if not unit:
        return 1.0
    money, _, energy = unit.replace(" ", "").rpartition("/")
    scale = _ENERGY_SCALE.get(energy.lower())
    if not money or scale is None:
        raise PriceSourceError(f"{unit!r} is not a price per energy")
    return scale * (0.01 if money.lower() in _SUBUNITS else 1.0)


def _moment(value: Any) -> datetime:
    """Return a time an integration wrote (ISO text or a datetime) as UTC."""
    moment = value if isinstance(value, datetime) else None
    if moment is None:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise PriceSourceError(f"{value!r} is not a time") from None
    if moment.tzinfo is None:
        raise PriceSourceError(f"{value!r} has no time zone")
    return moment.astimezone(UTC)


def _price(value: Any, factor: float) -> float:
    """Return a price an integration wrote, scaled to per kWh."""
    try:
        price = float(value)
    except TypeError, ValueError:
        raise PriceSourceError(f"{value!r} is not a price") from None
    if not math.isfinite(price):
        raise PriceSourceError(f"{value!r} is not a price")
    return price * factor


def series_from_points(
    points: Iterable[tuple[datetime, float]], last_lasts: timedelta | None = None
) -> PriceSeries:
    """Return a series from (start, price) points, duplicates and order aside.

    The last price lasts ``last_lasts``, or the series' shortest step (an
    hour for a single price).
    """
    by_start = dict(sorted(points))
    if not by_start:
        raise PriceSourceError("no prices")
    starts = tuple(by_start)
    if last_lasts is None:
        last_lasts = min(
            (after - before for before, after in itertools.pairwise(starts)),
            default=timedelta(hours=1),
        )
    try:
        return PriceSeries(starts, tuple(by_start.values()), last_lasts)
    except TariffError as err:
        raise PriceSourceError(str(err)) from err


def _rows(value: Any, what: str) -> Sequence[Mapping[str, Any]]:
    """Return a list of rows, refusing anything else."""
    if not isinstance(value, list | tuple) or not all(
        isinstance(row, Mapping) for row in value
    ):
        raise PriceSourceError(f"{what} is not a list of prices")
    return value


def entsoe_series(attributes: Mapping[str, Any], unit: str | None) -> PriceSeries:
    """Return the prices of an ENTSO-e sensor's attributes (see the module doc)."""
    factor = per_kwh_factor(unit)
    points: list[tuple[datetime, float]] = []
    for key in ENTSOE_KEYS:
        for row in _rows(attributes.get(key) or [], key):
            try:
                points.append((_moment(row["time"]), _price(row["price"], factor)))
            except KeyError as err:
                raise PriceSourceError(f"{key} lacks {err}") from None
    return series_from_points(points)


def octopus_series(
    attributes: Iterable[Mapping[str, Any]], unit: str | None = None
) -> PriceSeries:
    """Return the rates of Octopus Energy's day-rates entities (one or more).

    Each rate holds from its ``start`` to its ``end``; a gap between rates
    is refused (a price there would be a guess).
    """
    factor = per_kwh_factor(unit)
    spans: dict[datetime, tuple[datetime, float]] = {}
    for one in attributes:
        for row in _rows(one.get(OCTOPUS_KEY) or [], OCTOPUS_KEY):
            try:
                start, end = _moment(row["start"]), _moment(row["end"])
                spans[start] = (end, _price(row["value_inc_vat"], factor))
            except KeyError as err:
                raise PriceSourceError(f"a rate lacks {err}") from None
    starts = sorted(spans)
    for before, after in itertools.pairwise(starts):
        if spans[before][0] != after:
            raise PriceSourceError(f"the rates leave a gap at {spans[before][0]}")
    if not starts:
        raise PriceSourceError("no rates")
    last = starts[-1]
    return series_from_points(
        ((start, spans[start][1]) for start in starts), spans[last][0] - last
    )


def _pvpc_hours(
    attributes: Mapping[str, Any],
    pattern: re.Pattern[str],
    day: date,
    timezone: tzinfo,
    factor: float,
) -> list[tuple[datetime, float]]:
    """Return one day's hourly PVPC prices as UTC starts."""
    midnight = datetime.combine(day, time(0), timezone).astimezone(UTC)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), timezone)
    hours = round((next_midnight.astimezone(UTC) - midnight) / timedelta(hours=1))
    found: dict[tuple[int, bool], float] = {}
    for key, value in attributes.items():
        if (match := pattern.match(key)) is not None:
            found[int(match[1]), bool(match[2])] = _price(value, factor)
    points = []
    for index in range(hours):
        start = midnight + timedelta(hours=index)
        local = start.astimezone(timezone)
        # The second of two equal local hours is the ``_d`` one.
        repeated = (
            index > 0
            and (start - timedelta(hours=1)).astimezone(timezone).hour == local.hour
        )
        price = found.get((local.hour, repeated))
        if price is None:
            if found:
                raise PriceSourceError(f"no price for {local.hour:02d}h on {day}")
            return []
        points.append((start, price))
    return points


def pvpc_series(
    attributes: Mapping[str, Any], today: date, timezone: tzinfo, unit: str | None
) -> PriceSeries:
    """Return today's (and when published, tomorrow's) prices of a PVPC sensor.

    The hours are local in ``timezone`` (Home Assistant's): PVPC's own.
    """
    factor = per_kwh_factor(unit)
    points = _pvpc_hours(attributes, PVPC_TODAY, today, timezone, factor)
    if not points:
        raise PriceSourceError("no hourly prices")
    points += _pvpc_hours(
        attributes, PVPC_TOMORROW, today + timedelta(days=1), timezone, factor
    )
    return series_from_points(points, timedelta(hours=1))


def nordpool_series(
    responses: Iterable[Mapping[str, Any]], area: str | None = None
) -> PriceSeries:
    """Return the prices of ``nordpool.get_prices_for_date`` answers (per MWh).

    ``area`` picks one where an answer holds several; with one, it is that.
    """
    points: list[tuple[datetime, float]] = []
    last_lasts: timedelta | None = None
    for response in responses:
        areas = list(response)
        if area is None and len(areas) > 1:
            raise PriceSourceError(f"the answer holds several areas: {areas}")
        key = area or (areas[0] if areas else "")
        for row in _rows(response.get(key) or [], key or "the answer"):
            try:
                start, end = _moment(row["start"]), _moment(row["end"])
                points.append((start, _price(row["price"], 0.001)))
            except KeyError as err:
                raise PriceSourceError(f"a price lacks {err}") from None
            last_lasts = end - start
    return series_from_points(points, last_lasts)


def tibber_series(response: Mapping[str, Any], home: str | None = None) -> PriceSeries:
    """Return the prices of a ``tibber.get_prices`` answer (per kWh).

    ``home`` picks one where the account has several; with one, it is that.
    """
    homes = response.get("prices")
    if not isinstance(homes, Mapping) or not homes:
        raise PriceSourceError("the answer holds no homes")
    if home is None:
        if len(homes) > 1:
            raise PriceSourceError(f"the account has several homes: {list(homes)}")
        home = next(iter(homes))
    if home not in homes:
        raise PriceSourceError(f"the account has no home {home!r}")
    points = []
    for row in _rows(homes[home], home):
        try:
            points.append((_moment(row["start_time"]), _price(row["price"], 1.0)))
        except KeyError as err:
            raise PriceSourceError(f"a price lacks {err}") from None
    return series_from_points(points)


def attribute_series(
    attributes: Mapping[str, Any],
    unit: str | None,
    today: date,
    timezone: tzinfo,
) -> PriceSeries:
    """Return the prices an entity's attributes carry, whichever integration's.

    Raises PriceSourceError when they carry none this module knows, or
    cannot be read.
    """
    if any(key in attributes for key in ENTSOE_KEYS):
        return entsoe_series(attributes, unit)
    if OCTOPUS_KEY in attributes:
        return octopus_series([attributes], unit)
    if any(PVPC_TODAY.match(key) for key in attributes):
        return pvpc_series(attributes, today, timezone, unit)
    raise PriceSourceError("the entity carries no price forecast")
