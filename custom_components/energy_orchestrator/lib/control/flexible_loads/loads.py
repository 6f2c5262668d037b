"""The site's flexible loads: what each can do and what it needs each day.

A load is switched (on/off, a switch) or adjustable (a power between 0 and
its power, a number in W or A: a water heater's power router). Each needs
an energy per day within its window (earliest start, deadline; times of
day in the site's time zone, ``24:00`` the day's end; a window whose end is
before its start runs past midnight and belongs to the day it starts on).
A run that must not be interrupted (a dishwasher's) runs once per window,
as long as its need takes at its power.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

DAY = timedelta(days=1)


class LoadControl(StrEnum):
    """How a load is driven."""

    SWITCH = "switch"
    ADJUSTABLE = "adjustable"


class LoadError(ValueError):
    """A load that cannot be used; the message says why."""


@dataclass(frozen=True)
class FlexibleLoad:
    """One flexible load (see the module doc)."""

    name: str
    power_w: float
    energy_wh_per_day: float
    # Minutes after local midnight: the earliest start and the deadline.
    window_start_min: int = 0
    window_end_min: int = 1440
    min_on: timedelta = timedelta(0)
    min_off: timedelta = timedelta(0)
    # Higher runs first when there is surplus to soak, stops last.
    priority: int = 0
    control: LoadControl = LoadControl.SWITCH
    interruptible: bool = True

    def __post_init__(self) -> None:
        """Refuse values no plan can use."""
        if self.power_w <= 0:
            raise LoadError(f"{self.name}: the power must be above 0 W")
        if self.energy_wh_per_day < 0:
            raise LoadError(f"{self.name}: the daily need cannot be negative")
        if not (0 <= self.window_start_min < 1440 and 0 < self.window_end_min <= 1440):
            raise LoadError(f"{self.name}: the window's times lie in one day")
        if self.window_start_min == self.window_end_min:
            raise LoadError(f"{self.name}: the window is empty")
        if not self.interruptible and self.control is LoadControl.ADJUSTABLE:
            raise LoadError(f"{self.name}: only a switched load runs uninterrupted")
        if self.energy_wh_per_day > self.power_w * self.window_length / timedelta(
            hours=1
        ):
            raise LoadError(
                f"{self.name}: the daily need does not fit the window at its power"
            )

    @property
    def window_length(self) -> timedelta:
        """Return how long the window is open each day."""
        minutes = (self.window_end_min - self.window_start_min) % 1440
        return timedelta(minutes=minutes or 1440)

    @property
    def run_length(self) -> timedelta:
        """Return how long the daily need takes at full power."""
        return timedelta(hours=self.energy_wh_per_day / self.power_w)

    def windows(
        self, start: datetime, end: datetime, timezone: tzinfo = UTC
    ) -> list[tuple[datetime, datetime]]:
        """Return the windows that overlap ``[start, end)``, in order, as UTC moments."""
        local_day = start.astimezone(timezone).date() - DAY
        found: list[tuple[datetime, datetime]] = []
        while True:
            opens = _local(local_day, self.window_start_min, timezone)
            if opens >= end:
                return found
            closes = opens + self.window_length
            if closes > start:
                found.append((opens, closes))
            local_day += DAY

    def window_at(
        self, moment: datetime, timezone: tzinfo = UTC
    ) -> tuple[datetime, datetime] | None:
        """Return the window open at ``moment``, None when closed."""
        for opens, closes in self.windows(
            moment, moment + timedelta(seconds=1), timezone
        ):
            if opens <= moment < closes:
                return opens, closes
        return None


def _local(day: date, minutes: int, timezone: tzinfo) -> datetime:
    """Return local ``minutes`` after midnight of ``day`` as a UTC moment."""
    midnight = datetime.combine(day, time(0), timezone)
    return (midnight + timedelta(minutes=minutes)).astimezone(UTC)


def parse_minutes(text: str) -> int:
    """Return minutes after midnight from ``HH:MM`` (``24:00`` is 1440)."""
    hours, _, minutes = text.partition(":")
    try:
        value = int(hours) * 60 + int(minutes or 0)
    except ValueError:
        raise LoadError(f"{text!r} is not a time of day (HH:MM)") from None
    if not 0 <= value <= 1440:
        raise LoadError(f"{text!r} is not a time of day (HH:MM)")
    return value
