"""Measured profiles for the backtests: read onto a regular grid, split off the warm-up.

A profile is a CSV: ``time`` as ISO 8601 or epoch seconds, ``load`` in W,
optional ``pv`` in W. It is resampled onto a grid of ``STEP`` (irregular
timestamps are interpolated; a missing load is interpolated, PV missing
for hours is night).

The first ``WARMUP`` of a profile is history, not test: a controller in
Home Assistant starts with the recorder's past days, so the controllers are
given them, and every strategy is scored on the rest.
"""

from collections.abc import Iterable
import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import math

from eo_lab.sim.profiles import Profile

STEP = timedelta(minutes=5)
WARMUP = timedelta(days=1)


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
    profile = Profile.from_samples(
        times, [samples[t][0] for t in times], [samples[t][1] for t in times]
    )
    step_s = step.total_seconds()
    # The profile's last sample stands for one of its own intervals.
    count = int(profile.period // step_s)
    load: list[float] = []
    pv: list[float] = []
    for index in range(count):
        # The mean over the step, from three points of the interpolation.
        points = [index * step_s + share * step_s for share in (0.0, 0.5, 1.0)]
        load.append(
            (
                profile.load_w(points[0])
                + 2 * profile.load_w(points[1])
                + profile.load_w(min(points[2], profile.period - 1))
            )
            / 4
        )
        pv.append(
            (
                profile.pv_w(points[0])
                + 2 * profile.pv_w(points[1])
                + profile.pv_w(min(points[2], profile.period - 1))
            )
            / 4
        )
    return Series(datetime.fromtimestamp(times[0], UTC), step, load, pv)


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
