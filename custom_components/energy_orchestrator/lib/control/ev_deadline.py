"""A deadline session within the site's limits: when its final stretch begins.

Without site limits the wallbox manager begins a deadline's final stretch
at the latest moment that still delivers the missing energy at the
wallbox's full power. Within the site's limits the car may take only the
room they leave: under the billed peak peak shaving holds, and under the
grid connection's limit. That room changes through the night (the house,
the other loads, the battery's recharge), so the stretch is planned on it:

- the room now, and ahead of now the room a site plan forecasts (peak
  shaving's, or the flexible loads' plan), or the room now taken to last;
- in each stretch of time the car can take the room (up to its full power,
  nothing where the room is below its minimum);
- when that room, over the time left, does not hold what the session needs
  (and ``DEADLINE_SPARE`` more: forecasts run out of true), the need lifts
  the peak limit by the least power that makes it hold (``raise_w``),
  never the grid's limit (safety);
- without a forecast, the stretch begins at the latest moment from which
  the room still delivers it; where it cannot and leaves the car nothing
  now, the car waits for the room to grow until the latest moment the
  grid's limit alone allows; otherwise the peak lifts at once by the
  least that holds the rest;
  with one, the car takes the
  forecast's valleys: the room moved down (or up) by the same power in
  every stretch until it holds just the need (``fill_lift``), so a car
  charges where the house takes least and the sun gives most, whenever
  that is, and runs into the morning's rise only when it must.

The peak is lifted only by what the deadline needs: the need is the user's
request, which ranks above the peak limit.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
import math

# A stretch planned on the site's room plans this share more than it needs.
DEADLINE_SPARE = 0.1
# The room now is taken to last in stretches this long where no plan says.
ROOM_STEP = timedelta(minutes=15)
# Two days of stretches at most: a deadline further away costs no more.
MOST_STRETCHES = 192


@dataclass(frozen=True)
class RoomAhead:
    """The room the site's limits are forecast to leave the car, per step from ``start``.

    ``peak_w``: under the billed peak (the level a plan holds less its
    forecast of the site's import without the car); ``grid_w``: under the
    grid connection's limit (None: no limit). Watts, per step.
    """

    start: datetime
    step: timedelta
    peak_w: tuple[float, ...]
    grid_w: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Room:
    """One stretch of time and the room the site leaves the car in it (W)."""

    start: datetime
    hours: float
    peak_w: float
    grid_w: float


@dataclass(frozen=True)
class Stretch:
    """When a deadline's final stretch begins, and how far the need lifts the peak (W)."""

    start: datetime
    raise_w: float


def rooms(
    now: datetime,
    end: datetime,
    peak_now_w: float,
    grid_now_w: float,
    ahead: RoomAhead | None,
) -> list[Room]:
    """Return the stretches of time from ``now`` to ``end`` with their room.

    The first one has the room measured now; the next ones the forecast's
    (its steps after now), or, past it or without one, the room now.
    """
    result: list[Room] = []
    moment = now
    while moment < end:
        if len(result) >= MOST_STRETCHES:
            # A deadline days away: the rest is one stretch at the room now.
            hours = (end - moment) / timedelta(hours=1)
            result.append(Room(moment, hours, peak_now_w, grid_now_w))
            break
        peak, grid, until = peak_now_w, grid_now_w, moment + ROOM_STEP
        if ahead is not None:
            index = math.floor((moment - ahead.start) / ahead.step)
            until = ahead.start + (index + 1) * ahead.step
            if moment > now and 0 <= index < len(ahead.peak_w):
                peak = ahead.peak_w[index]
                if ahead.grid_w is not None:
                    grid = ahead.grid_w[index]
        until = min(until, end)
        result.append(Room(moment, (until - moment) / timedelta(hours=1), peak, grid))
        moment = until
    return result


def _taken(room: Room, lift_w: float, *, min_w: float, max_w: float) -> float:
    """Return what the car takes in ``room`` with the peak room moved by ``lift_w``."""
    taken = min(max_w, room.peak_w + lift_w, room.grid_w)
    return taken if taken >= min_w else 0.0


def _energy(
    stretches: Sequence[Room], lift_w: float, *, min_w: float, max_w: float
) -> float:
    """Return what the car takes over all the stretches (Wh)."""
    return sum(
        _taken(room, lift_w, min_w=min_w, max_w=max_w) * room.hours
        for room in stretches
    )


def fill_lift(
    stretches: Sequence[Room], need_wh: float, *, min_w: float, max_w: float
) -> float:
    """Return the lowest move of the peak room that still delivers ``need_wh``.

    Below 0 where the room is ample: the car then takes only the room's
    deepest valleys (and the sun); above 0 where the need lifts the peak.
    Found by bisection, to a watt.
    """
    finite = [room.peak_w for room in stretches if math.isfinite(room.peak_w)]
    if not finite:
        return 0.0
    low = min_w - max(finite) - 1.0
    high = max_w - min(finite) + 1.0
    if _energy(stretches, high, min_w=min_w, max_w=max_w) < need_wh:
        return high
    while high - low > 1.0:
        middle = (low + high) / 2
        if _energy(stretches, middle, min_w=min_w, max_w=max_w) >= need_wh:
            high = middle
        else:
            low = middle
    return high


def first_taken(
    stretches: Sequence[Room], lift_w: float, *, min_w: float, max_w: float
) -> datetime | None:
    """Return when the car first takes room with the peak room moved by ``lift_w``."""
    return next(
        (
            room.start
            for room in stretches
            if _taken(room, lift_w, min_w=min_w, max_w=max_w) > 0
        ),
        None,
    )


def plan_stretch(
    now: datetime,
    stretches: Sequence[Room],
    need_wh: float,
    *,
    min_w: float,
    max_w: float,
    begun: bool = False,
) -> Stretch:
    """Return when the stretch must begin to deliver ``need_wh`` in ``stretches``.

    The car takes ``min(max_w, peak + raise, grid)`` in each, nothing where
    that is below ``min_w`` (see the module doc). Where the room does not
    hold the need and leaves the car nothing now, a stretch not ``begun``
    waits for the room to grow until the latest moment the grid's limit
    alone allows; otherwise the peak lifts now, by the least that holds it.
    """
    sizes = {"min_w": min_w, "max_w": max_w}
    if _energy(stretches, 0.0, **sizes) >= need_wh:
        return Stretch(_latest_start(now, stretches, need_wh, 0.0, **sizes), 0.0)
    if not begun and stretches and _taken(stretches[0], 0.0, **sizes) <= 0:
        backstop = _latest_start(now, stretches, need_wh, math.inf, **sizes)
        if backstop > now:
            return Stretch(backstop, 0.0)
    return Stretch(now, max(fill_lift(stretches, need_wh, **sizes), 0.0))


def _latest_start(
    now: datetime,
    stretches: Sequence[Room],
    need_wh: float,
    lift_w: float,
    *,
    min_w: float,
    max_w: float,
) -> datetime:
    """Return the latest moment from which the room (moved by ``lift_w``) holds the need."""
    gathered = 0.0
    for room in reversed(stretches):
        taken = _taken(room, lift_w, min_w=min_w, max_w=max_w)
        if gathered + taken * room.hours >= need_wh:
            hours = (need_wh - gathered) / taken
            end = room.start + timedelta(hours=room.hours)
            return max(end - timedelta(hours=hours), now)
        gathered += taken * room.hours
    return now
