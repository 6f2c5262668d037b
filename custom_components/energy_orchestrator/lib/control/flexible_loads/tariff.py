"""What energy costs: import and export prices per time, and the netting period.

A demand charge (per kW of the billed peak: the highest average import
over a billing interval, 15 minutes by default, in a billing period, a
month by default; peak shaving's meter, ``control.billing``) may be part of
it.

Prices come from fixed values, a time-of-use schedule (prices from times of
day on, in the site's time zone) or a price series (a price entity with its
forecast: each price holds from its start until the next one). Within a
netting period (none, 15 or 60 minutes, aligned to the clock), import and
export cancel before prices apply: Spain's hourly net balance is 60.
"""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
import math

from ..billing import BillingPeriod

NETTING_MINUTES = (0, 15, 60)
MINUTES_PER_DAY = 1440


class TariffError(ValueError):
    """A tariff that cannot be used; the message says why."""


@dataclass(frozen=True)
class FixedPrice:
    """One price at every time (per kWh)."""

    price: float

    def at(self, moment: datetime) -> float | None:
        """Return the price at ``moment``."""
        return self.price


@dataclass(frozen=True)
class TimeOfUse:
    """Prices from times of day on, in ``timezone``; the last wraps past midnight."""

    # (time of day, price from then on), sorted by time.
    schedule: tuple[tuple[time, float], ...]
    timezone: tzinfo = UTC

    def __post_init__(self) -> None:
        """Refuse an empty or unsorted schedule."""
        if not self.schedule:
            raise TariffError("a time-of-use schedule needs at least one price")
        times = [start for start, _ in self.schedule]
        if times != sorted(times) or len(set(times)) != len(times):
            raise TariffError("a time-of-use schedule's times must rise")

    def at(self, moment: datetime) -> float | None:
        """Return the price in force at ``moment``."""
        local = moment.astimezone(self.timezone).time()
        index = bisect.bisect_right([start for start, _ in self.schedule], local) - 1
        return self.schedule[index][1]


@dataclass(frozen=True)
class PriceSeries:
    """Prices from moments on (a price entity and its forecast); None past the end.

    A price holds from its start until the next start, the last one for
    ``last_lasts`` (the series' own interval, an hour when it cannot tell).
    """

    starts: tuple[datetime, ...]
    prices: tuple[float, ...]
    last_lasts: timedelta = timedelta(hours=1)
    _epochs: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the series and keep its epochs for lookups."""
        if len(self.starts) != len(self.prices) or not self.starts:
            raise TariffError("a price series needs as many prices as starts")
        epochs = tuple(start.timestamp() for start in self.starts)
        if list(epochs) != sorted(epochs):
            raise TariffError("a price series' starts must rise")
        object.__setattr__(self, "_epochs", epochs)

    @property
    def end(self) -> datetime:
        """Return when the series' last price stops holding."""
        return self.starts[-1] + self.last_lasts

    def at(self, moment: datetime) -> float | None:
        """Return the price at ``moment``, None outside the series."""
        epoch = moment.timestamp()
        index = bisect.bisect_right(self._epochs, epoch) - 1
        if index < 0 or moment >= self.end:
            return None
        return self.prices[index]


type PriceSource = FixedPrice | TimeOfUse | PriceSeries


@dataclass(frozen=True)
class Tariff:
    """Import and export prices, and the netting period (0: none)."""

    import_price: PriceSource
    export_price: PriceSource
    netting_minutes: int = 60
    # Where a price series ends before the plan does, the last price known
    # goes on (a plan needs a price for every slot).
    # Per kW of the billing period's billed peak (0: no demand charge).
    demand_charge_per_kw: float = 0.0
    billing_minutes: int = 15
    billing_period: BillingPeriod = BillingPeriod.MONTH

    def __post_init__(self) -> None:
        """Refuse a netting period other than none, 15 or 60 minutes, and bad billing."""
        if self.netting_minutes not in NETTING_MINUTES:
            raise TariffError("the netting period is none, 15 or 60 minutes")
        if self.demand_charge_per_kw < 0:
            raise TariffError("the demand charge cannot be negative")
        if self.billing_minutes <= 0 or MINUTES_PER_DAY % self.billing_minutes:
            raise TariffError(
                "the billing interval must divide a day into whole minutes"
            )

    @property
    def billing_interval(self) -> timedelta:
        """Return the billing interval whose average import is billed."""
        return timedelta(minutes=self.billing_minutes)

    def demand_cost(self, billed_peak_w: float) -> float:
        """Return what a billing period's billed peak costs."""
        return self.demand_charge_per_kw * max(billed_peak_w, 0.0) / 1000

    @property
    def netting(self) -> timedelta | None:
        """Return the netting period, None without netting."""
        return timedelta(minutes=self.netting_minutes) if self.netting_minutes else None

    def period_start(self, moment: datetime) -> datetime:
        """Return the start of the netting period ``moment`` falls in (itself without)."""
        if not self.netting_minutes:
            return moment
        seconds = self.netting_minutes * 60
        epoch = math.floor(moment.timestamp() / seconds) * seconds
        return datetime.fromtimestamp(epoch, moment.tzinfo or UTC)

    def prices(
        self, start: datetime, step: timedelta, steps: int
    ) -> tuple[list[float], list[float]]:
        """Return import and export prices for each step from ``start`` on.

        A step takes the price at its start; past the end of a series the
        last price known goes on, and a series with nothing known before
        ``start`` raises TariffError. Export never pays more than import in
        the same step (else buying to sell would pay without end).
        """
        imports = _filled(self.import_price, start, step, steps, "import")
        exports = _filled(self.export_price, start, step, steps, "export")
        return imports, [min(e, i) for e, i in zip(exports, imports, strict=True)]


def _filled(
    source: PriceSource, start: datetime, step: timedelta, steps: int, what: str
) -> list[float]:
    """Return a price per step, the last known one carried past the series' end."""
    values: list[float] = []
    last: float | None = None
    for index in range(steps):
        price = source.at(start + index * step)
        if price is None:
            if last is None and isinstance(source, PriceSeries):
                # Before the series starts: its first price stands in.
                price = source.prices[0] if start < source.starts[0] else None
            price = last if price is None else price
        if price is None:
            raise TariffError(f"no {what} price at {start + index * step}")
        values.append(price)
        last = price
    return values


def time_of_use(
    schedule: Sequence[tuple[str, float]], timezone: tzinfo = UTC
) -> TimeOfUse:
    """Return a time-of-use schedule from ``("HH:MM", price)`` pairs.

    The schedule starts at midnight with its last price when its first time
    is later (the last price wraps past midnight).
    """
    entries = sorted(
        (time.fromisoformat(text), float(price)) for text, price in schedule
    )
    if entries and entries[0][0] != time(0):
        entries.insert(0, (time(0), entries[-1][1]))
    return TimeOfUse(tuple(entries), timezone)
