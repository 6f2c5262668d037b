"""The billed quantity: billing periods, the interval meter, the import budget.

Demand is billed on the average import over each billing interval (often
15 minutes), and the peak of those averages counts for a billing period (a
month, a year). This is the meter peak shaving keeps: it books the grid
power into intervals as it comes, keeps the period's billed peak, and says
what the rest of the running interval may still import at a given limit.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum


class BillingPeriod(StrEnum):
    """How long a billed peak counts before the tariff starts a new one."""

    MONTH = "month"
    YEAR = "year"
    # Never: a connection limit, or a tariff whose peak the user resets
    # (``PeakShaver.reset_billed_peak``, the action of that name).
    NONE = "none"


def billing_period_key(moment: datetime, period: BillingPeriod, tz: tzinfo) -> str:
    """Return which billing period a moment is in, by the site's calendar."""
    local = moment.astimezone(tz)
    if period is BillingPeriod.MONTH:
        return f"{local.year:04d}-{local.month:02d}"
    if period is BillingPeriod.YEAR:
        return f"{local.year:04d}"
    return "all"


@dataclass
class IntervalMeter:
    """The billed quantity: grid energy per billing interval, and its peak.

    A reading holds from the previous one up to its own time; a span that
    crosses an interval boundary is split at it, so every interval gets its
    own energy. A gap of more than two intervals is not booked (what flowed
    then is unknown): the meter starts again at the running interval. The
    billed peak starts again with each billing period.
    """

    interval_s: float
    period: BillingPeriod = BillingPeriod.NONE
    time_zone: tzinfo = UTC
    period_key: str | None = None
    interval_start: datetime | None = None
    import_wh: float = 0.0
    export_wh: float = 0.0
    last_time: datetime | None = None
    billed_peak_w: float = 0.0

    def add(self, now: datetime, grid_w: float) -> None:
        """Book ``grid_w`` from the previous reading up to ``now``."""
        if (
            self.last_time is None
            or self.interval_start is None
            or now < self.last_time
            or (now - self.last_time).total_seconds() > 2 * self.interval_s
        ):
            self.interval_start = interval_start_of(now, self.interval_s)
            self.import_wh = self.export_wh = 0.0
            self.last_time = now
            return
        moment = self.last_time
        while moment < now:
            interval_end = self.interval_start + timedelta(seconds=self.interval_s)
            end = min(interval_end, now)
            hours = (end - moment).total_seconds() / 3600
            self.import_wh += max(grid_w, 0.0) * hours
            self.export_wh += max(-grid_w, 0.0) * hours
            moment = end
            if end >= interval_end:
                self._close_interval()
                self.interval_start = interval_end
                self.import_wh = self.export_wh = 0.0
        self.last_time = now

    def _close_interval(self) -> None:
        """Book the running interval's average into the period's billed peak."""
        assert self.interval_start is not None
        key = billing_period_key(self.interval_start, self.period, self.time_zone)
        if key != self.period_key:
            # A new billing period: last period's peak costs nothing more.
            self.billed_peak_w = 0.0
            self.period_key = key
        self.billed_peak_w = max(self.billed_peak_w, self.average_import_w())

    def average_import_w(self) -> float:
        """Return the running interval's import, averaged over the whole interval."""
        return self.import_wh * 3600 / self.interval_s

    def remaining_s(self, now: datetime) -> float:
        """Return the seconds left in the running interval."""
        start = self.interval_start or interval_start_of(now, self.interval_s)
        return max(self.interval_s - (now - start).total_seconds(), 0.0)


def interval_start_of(now: datetime, interval_s: float) -> datetime:
    """Return the start of the billing interval ``now`` is in."""
    epoch = now.timestamp()
    return now - timedelta(seconds=epoch % interval_s)


def import_budget_w(meter: IntervalMeter, now: datetime, limit_w: float) -> float:
    """Return the import power the rest of the interval may average.

    Early in an interval the budget is close to the limit; late in an
    interval that already imported much, it may be far below it, or
    negative (only an export could save the interval).
    """
    remaining = meter.remaining_s(now)
    allowed_wh = limit_w * meter.interval_s / 3600 - meter.import_wh
    if remaining < 1:
        return limit_w
    return allowed_wh * 3600 / remaining
