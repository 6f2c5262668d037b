"""Measured profiles for the backtests: read onto a regular grid, split off the warm-up.

A profile is a CSV: ``time`` as ISO 8601 or epoch seconds, ``load`` in W,
optional ``pv`` in W. Between two rows the power runs in a straight line
from one to the next, however far apart they are (irregular timestamps);
the last row holds for one of the profile's own sample intervals (the
median spacing), so a file of whole days makes whole days. A missing load
is interpolated from its neighbours; PV missing for more than two hours is
night, 0 W, and a shorter PV gap is interpolated; a negative power counts
as 0 W (``eo_lab.sim.profiles``).

Each step of the grid gets the mean of that line over the step: its exact
integral divided by the step, so every row counts, however fine the
profile. A one-minute profile sampled at five-minute points would miss the
four minutes between them, and its energy with them.

The first ``WARMUP`` of a profile is history, not test: a controller in
Home Assistant starts with the recorder's past days, so the controllers are
given them, and every strategy is scored on the rest.
"""

from collections.abc import Iterable, Sequence
import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import math

from eo_lab.sim.profiles import Profile

STEP = timedelta(minutes=5)
WARMUP = timedelta(days=1)
# Longer than any measured profile; past it a grid of steps is a hang.
MAX_SPAN = timedelta(days=366 * 20)


class ProfileError(ValueError):
    """A profile that cannot be read; the message names the line."""


@dataclass(frozen=True)
class Series:
    """Load and PV on a regular grid."""

    start: datetime
    step: timedelta
    load_w: list[float]
    pv_w: list[float]

    @property
    def end(self) -> datetime:
        """Return the end of the last step."""
        return self.start + len(self.load_w) * self.step

    @property
    def net_w(self) -> list[float]:
        """Return load minus PV per step."""
        return [load - pv for load, pv in zip(self.load_w, self.pv_w, strict=True)]


def parse_time(text: str) -> float:
    """Return epoch seconds from ISO 8601 (UTC without a zone) or seconds."""
    try:
        value = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a time")
    return value


def _power(text: str | None, column: str) -> float | None:
    """Return a power cell, None when empty."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} {text!r} is not a number") from None
    if not math.isfinite(value):
        return None
    return value


def read_profile(lines: Iterable[str], step: timedelta = STEP) -> Series:
    """Read a profile CSV onto a grid of ``step``; raise ProfileError with the line."""
    reader = csv.DictReader(lines)
    columns = [name.strip() for name in reader.fieldnames or ()]
    if "time" not in columns or "load" not in columns:
        raise ProfileError(
            "line 1: a profile needs the columns time and load (pv optional)"
        )
    reader.fieldnames = columns
    samples: dict[float, tuple[float | None, float | None]] = {}
    for row in reader:
        try:
            moment = parse_time((row["time"] or "").strip())
            samples[moment] = (_power(row["load"], "load"), _power(row.get("pv"), "pv"))
        except ValueError as err:
            raise ProfileError(f"line {reader.line_num}: {err}") from None
    if len(samples) < 2:
        raise ProfileError("a profile needs at least two rows")
    times = sorted(samples)
    if all(samples[t][0] is None for t in times):
        raise ProfileError("the profile has no load values")
    if times[-1] - times[0] > MAX_SPAN.total_seconds():
        raise ProfileError(
            f"the profile spans {(times[-1] - times[0]) / 86400 / 365.25:.0f} years;"
            f" a backtest takes at most {MAX_SPAN.days // 366}"
        )
    try:
        start = datetime.fromtimestamp(times[0], UTC)
        datetime.fromtimestamp(times[-1], UTC) + 2 * MAX_SPAN
    except OverflowError, OSError, ValueError:
        raise ProfileError("a time of the profile is out of range") from None
    profile = Profile.from_samples(
        times, [samples[t][0] for t in times], [samples[t][1] for t in times]
    )
    step_s = step.total_seconds()
    # The profile's last sample stands for one of its own intervals.
    count = int(profile.period // step_s)
    load = step_means(profile.times, profile.load, profile.period, step_s, count)
    pv = step_means(profile.times, profile.pv, profile.period, step_s, count)
    return Series(start, step, load, pv)


def step_means(
    times: Sequence[float],
    values: Sequence[float],
    end: float,
    step_s: float,
    count: int,
) -> list[float]:
    """Return the mean over each of ``count`` steps from ``times[0]``.

    The values run in a straight line from one sample to the next and hold
    the last one up to ``end``; each mean is the exact integral of that
    line over its step, divided by the step.
    """
    knots = [*times, end]
    levels = [*values, values[-1]]
    last = len(knots) - 2
    means: list[float] = []
    segment = 0
    for index in range(count):
        left = knots[0] + index * step_s
        right = left + step_s
        area = 0.0
        while True:
            # The segment the stretch from ``left`` starts in.
            while segment < last and knots[segment + 1] <= left:
                segment += 1
            upto = min(right, knots[segment + 1]) if segment < last else right
            area += (
                (upto - left)
                * (
                    _on_line(knots, levels, segment, left)
                    + _on_line(knots, levels, segment, upto)
                )
                / 2
            )
            if upto >= right:
                break
            left = upto
        means.append(area / step_s)
    return means


def _on_line(
    knots: Sequence[float], levels: Sequence[float], segment: int, moment: float
) -> float:
    """Return the value at ``moment`` on the line of ``segment``."""
    start, stop = knots[segment], knots[segment + 1]
    share = (moment - start) / (stop - start)
    return levels[segment] + (levels[segment + 1] - levels[segment]) * share


def scored_window(series: Series) -> dict[str, str]:
    """Return the stretch a backtest scored, as JSON values (ISO 8601)."""
    return {
        "scored_from": series.start.isoformat(),
        "scored_to": series.end.isoformat(),
    }


def interval_averages(series: Series, per: int) -> list[float]:
    """Return the net load's average per billing interval of ``per`` steps (whole ones)."""
    net = series.net_w
    count = len(net) // per * per
    return [sum(net[i : i + per]) / per for i in range(0, count, per)]


def split_warmup(series: Series, interval: timedelta) -> tuple[Series, Series]:
    """Split off the warm-up (whole intervals); raise when nothing is left."""
    count = int(WARMUP / series.step)
    count -= count % int(interval / series.step)
    if len(series.load_w) - count < int(timedelta(days=1) / series.step):
        raise ValueError(
            "the profile is too short: it needs a day of history and at least a day to score"
        )
    history = Series(
        series.start, series.step, series.load_w[:count], series.pv_w[:count]
    )
    scored = Series(
        series.start + count * series.step,
        series.step,
        series.load_w[count:],
        series.pv_w[count:],
    )
    return history, scored
