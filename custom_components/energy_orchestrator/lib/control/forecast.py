"""Forecasts of the site's net load from its own history.

The planner needs load and PV ahead; a household's best cheap predictor is
itself: the same time of day on the days before. Each slot of the forecast
takes the same slot of the last ``days`` days, ``upper_share`` of the way
from their mean to their maximum: an under-forecast peak is a peak the
battery was not saved for, an over-forecast one raises the billed peak for
nothing. The default is the maximum; peak shaving learns the share each
site needs from its own days (``forecast_caution``), and scales the load
down while the day so far has run lighter than forecast
(``measured_share``); how long the load has run above its forecast says
how long a stretch the plan insures against (``heavy_stretch``). A PV
forecast from a service (Solcast, Forecast.Solar), when the user has one,
replaces the PV history.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
import math

DEFAULT_DAYS = 7
DEFAULT_UPPER_SHARE = 1.0


class SlotHistory:
    """Past values averaged per slot of a fixed grid (slot = epoch // step)."""

    def __init__(self, step: timedelta) -> None:
        """Start an empty history on a grid of ``step``."""
        self.step_s = step.total_seconds()
        self._sums: dict[int, float] = {}
        self._counts: dict[int, int] = {}

    def slot_of(self, moment: datetime) -> int:
        """Return the slot a moment falls in."""
        return math.floor(moment.timestamp() / self.step_s)

    def add(self, moment: datetime, value: float | None) -> None:
        """Add one sample; an unknown or non-finite value is left out."""
        if value is None or not math.isfinite(value):
            return
        slot = self.slot_of(moment)
        self._sums[slot] = self._sums.get(slot, 0.0) + value
        self._counts[slot] = self._counts.get(slot, 0) + 1

    def extend(self, samples: Iterable[tuple[datetime, float | None]]) -> None:
        """Add many samples (a recorder's history)."""
        for moment, value in samples:
            self.add(moment, value)

    def mean(self, slot: int) -> float | None:
        """Return a slot's mean, None when nothing was seen in it."""
        count = self._counts.get(slot)
        return self._sums[slot] / count if count else None

    def forget_before(self, slot: int) -> None:
        """Drop slots older than ``slot`` (history is only needed for days)."""
        for old in [s for s in self._sums if s < slot]:
            del self._sums[old]
            del self._counts[old]

    def __len__(self) -> int:
        """Return how many slots hold data."""
        return len(self._counts)


def forecast(
    history: SlotHistory,
    start: datetime,
    steps: int,
    *,
    days: int = DEFAULT_DAYS,
    upper_share: float = DEFAULT_UPPER_SHARE,
    later_upper_share: float | None = None,
    override: Mapping[int, float] | None = None,
) -> list[float] | None:
    """Return ``steps`` values from ``start`` on, or None without a day of history.

    Slots a day or more after ``start`` take ``later_upper_share`` instead
    of ``upper_share`` where it is given. A slot none of the past days saw
    takes the nearest earlier forecast value (or the next one at the very
    start).
    """
    per_day = round(86400 / history.step_s)
    if len(history) < 0.9 * per_day:
        # A few hours repeated would be a flat guess, not a forecast.
        return None
    first = history.slot_of(start)
    values: list[float | None] = []
    for slot in range(first, first + steps):
        share = upper_share
        if later_upper_share is not None and slot - first >= per_day:
            share = later_upper_share
        if override is not None and slot in override:
            values.append(override[slot])
            continue
        seen = [
            value
            for back in range(1, days + 1)
            if (value := history.mean(slot - back * per_day)) is not None
        ]
        if not seen:
            values.append(None)
            continue
        mean = sum(seen) / len(seen)
        values.append(mean + share * (max(seen) - mean))
    known = [v for v in values if v is not None]
    if not known:
        return None
    filled: list[float] = []
    last = known[0]
    for value in values:
        last = value if value is not None else last
        filled.append(last)
    return filled


def net_forecast(
    load: SlotHistory,
    pv: SlotHistory,
    start: datetime,
    steps: int,
    *,
    caution: float,
    later_caution: float | None = None,
    pv_override: Mapping[int, float] | None = None,
    load_scale: float = 1.0,
) -> list[float] | None:
    """Return load minus PV per step, None without a day of load history.

    The load ``caution`` of the way from the past days' mean to their
    maximum (``later_caution`` from a day after ``start`` on, where given),
    times ``load_scale``; the PV at their mean (or the service's forecast
    where given).
    """
    demand = forecast(
        load, start, steps, upper_share=caution, later_upper_share=later_caution
    )
    if demand is None:
        return None
    supply = forecast(pv, start, steps, upper_share=0.0, override=pv_override)
    return [
        load_scale * value - power
        for value, power in zip(demand, supply or [0.0] * steps, strict=True)
    ]


def hindcast(
    history: SlotHistory,
    end: datetime,
    steps: int,
    *,
    upper_share: float,
) -> list[tuple[int, float]] | None:
    """Return the ``steps`` slots before ``end`` with what was forecast for each.

    Each slot is forecast as it would have been, from the days before it at
    ``upper_share``; None without a forecast. This is how the day so far is
    judged against the forecast.
    """
    step = timedelta(seconds=history.step_s)
    start = end - steps * step
    expected = forecast(history, start, steps, upper_share=upper_share)
    if expected is None:
        return None
    first = history.slot_of(start)
    return [(first + offset, value) for offset, value in enumerate(expected)]


def measured_share(
    history: SlotHistory,
    end: datetime,
    steps: int,
    *,
    upper_share: float,
) -> float | None:
    """Return what the ``steps`` slots before ``end`` measured over their forecast.

    Each slot is forecast as it would have been (from the days before it,
    at ``upper_share``), so the share says how far the forecast has run
    above (< 1) or below (> 1) the site lately. None when fewer than eight
    in ten of the slots were measured, or their forecast is not positive.
    """
    looked_back = hindcast(history, end, steps, upper_share=upper_share)
    if looked_back is None:
        return None
    measured = 0.0
    forecast_sum = 0.0
    seen = 0
    for slot, value in looked_back:
        actual = history.mean(slot)
        if actual is None:
            continue
        measured += actual
        forecast_sum += value
        seen += 1
    if seen < 0.8 * steps or forecast_sum <= 0:
        return None
    return measured / forecast_sum


def heavy_stretch(
    load: SlotHistory,
    pv: SlotHistory,
    end: datetime,
    steps: int,
    *,
    upper_share: float,
    load_scale: float = 1.0,
) -> tuple[int, float] | None:
    """Return how long the load has run above its forecast just before ``end``.

    Looks back at most ``steps`` slots; each is forecast as it would have
    been (from the days before it, at ``upper_share``, times
    ``load_scale``). Returns the stretch's length in slots and its mean net
    load (load - PV); None when the slot before ``end`` was not above its
    forecast, was not measured, or there is no forecast.
    """
    looked_back = hindcast(load, end, steps, upper_share=upper_share)
    if looked_back is None:
        return None
    length = 0
    net_sum = 0.0
    for slot, expected in reversed(looked_back):
        actual = load.mean(slot)
        if actual is None or actual <= load_scale * expected:
            break
        length += 1
        net_sum += actual - (pv.mean(slot) or 0.0)
    if length == 0:
        return None
    return length, net_sum / length


# A forecast service's value holds until its next one, but no longer than
# this: services give hourly or half-hourly periods, and a longer gap is
# missing data (the night), not one long period.
MAX_PERIOD = timedelta(hours=1)


def _period_ends(moments: Sequence[datetime]) -> list[datetime]:
    """Return where each period of a sorted series ends (next start, at most MAX_PERIOD)."""
    ends: list[datetime] = []
    for index, moment in enumerate(moments):
        if index + 1 < len(moments):
            span = moments[index + 1] - moment
        else:
            # The last period: as long as the one before it.
            span = moment - moments[index - 1] if index else MAX_PERIOD
        ends.append(moment + min(span, MAX_PERIOD))
    return ends


def energy_periods_to_power(
    periods: Sequence[tuple[datetime, float]],
) -> list[tuple[datetime, float]]:
    """Return a service's energy per period (Wh, keyed by the period's start) as W.

    Home Assistant's solar forecast platforms (Forecast.Solar, Solcast,
    Open-Meteo) give ``wh_hours``: the energy of the period starting at each
    timestamp, up to the next (often an hour, shorter at sunrise and sunset).
    """
    ordered = sorted(
        (moment, energy) for moment, energy in periods if math.isfinite(energy)
    )
    moments = [moment for moment, _ in ordered]
    return [
        (moment, energy * 3600 / (end - moment).total_seconds())
        for (moment, energy), end in zip(ordered, _period_ends(moments), strict=True)
    ]


def pv_override(
    start: datetime, step: timedelta, series: Sequence[tuple[datetime, float]]
) -> dict[int, float]:
    """Return a PV forecast service's values (W) by slot of the plan's grid.

    Each value is the mean power of the period from its moment to the next
    (at most ``MAX_PERIOD``). A slot takes the time-weighted mean of the
    periods that cover it, so half-hourly periods fill every slot of a
    15-minute grid, and 15-minute periods are averaged into an hourly one.
    """
    step_s = step.total_seconds()
    ordered = sorted(
        (moment, watts) for moment, watts in series if math.isfinite(watts)
    )
    moments = [moment for moment, _ in ordered]
    energy: dict[int, float] = {}
    covered: dict[int, float] = {}
    for (moment, watts), end in zip(ordered, _period_ends(moments), strict=True):
        if end <= start:
            continue
        here = moment
        while here < end:
            slot = math.floor(here.timestamp() / step_s)
            slot_end = datetime.fromtimestamp((slot + 1) * step_s, UTC)
            until = min(end, slot_end)
            seconds = (until - here).total_seconds()
            energy[slot] = energy.get(slot, 0.0) + watts * seconds
            covered[slot] = covered.get(slot, 0.0) + seconds
            here = until
    return {slot: energy[slot] / covered[slot] for slot in energy if covered[slot]}


def day_scenarios(
    history: SlotHistory,
    start: datetime,
    steps: int,
    *,
    days: int = DEFAULT_DAYS,
) -> list[list[float]]:
    """Return one forecast per past day: that day, repeated over the horizon.

    A plan that holds its peak under every one of them holds it whichever
    of the recent days tomorrow resembles; a pointwise maximum over the days
    would instead invent a day with every day's peaks at once. Days with
    less than nine tenths of their slots seen are left out.
    """
    per_day = round(86400 / history.step_s)
    first = history.slot_of(start)
    scenarios: list[list[float]] = []
    for back in range(1, days + 1):
        day = [
            history.mean(first - back * per_day + offset) for offset in range(per_day)
        ]
        known = [value for value in day if value is not None]
        if len(known) < 0.9 * per_day:
            continue
        filled: list[float] = []
        last = known[0]
        for value in day:
            last = value if value is not None else last
            filled.append(last)
        scenarios.append([filled[index % per_day] for index in range(steps)])
    return scenarios
