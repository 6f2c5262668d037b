"""Load and PV power profiles that drive the simulated site.

A profile is a table of measured power samples (W) at known times. The site
asks for the power at any moment: the profile interpolates linearly between
samples and loops over its length, so ten measured days run forever.
"""

from bisect import bisect_right
from collections.abc import Sequence
import csv
from dataclasses import dataclass
from datetime import UTC, datetime
import functools
from importlib import resources
import itertools
import math
from pathlib import Path
import statistics

BUNDLED_PROFILE = "household_load_pv_30min.csv"
_BUNDLED_TIME_COLUMN = "timestamp_utc"
_BUNDLED_LOAD_COLUMN = "sensor.power_load_no_var_loads"
_BUNDLED_PV_COLUMN = "sensor.power_photovoltaics"

# A PV logger that records nothing for hours is not failing: it stops
# writing at night and below a few tens of watts (the bundled data shows both).
# Interpolating across such a gap would invent sunshine at midnight, so a PV
# gap longer than this is filled with 0 W; a shorter one is a dropped sample
# and is interpolated.
PV_MAX_INTERPOLATED_GAP_S = 2 * 3600.0


@dataclass(frozen=True, slots=True)
class Profile:
    """Load and PV power over time, looping over its length.

    ``times`` are seconds since the first sample (the first is 0), strictly
    increasing; ``period`` is the length of one loop, one sample interval
    past the last sample so the last sample interpolates back to the first.
    ``start_epoch`` is the wall-clock time of the first sample, when known.
    """

    times: tuple[float, ...]
    load: tuple[float, ...]
    pv: tuple[float, ...]
    period: float
    start_epoch: float | None = None

    def __post_init__(self) -> None:
        """Check the table is usable, so lookups never fail later."""
        if not self.times:
            raise ValueError("a profile needs at least one sample")
        if not len(self.times) == len(self.load) == len(self.pv):
            raise ValueError("times, load and pv must have the same length")
        if any(b <= a for a, b in zip(self.times, self.times[1:], strict=False)):
            raise ValueError("profile times must be strictly increasing")
        if self.period <= self.times[-1] - self.times[0]:
            raise ValueError("the period must extend past the last sample")

    @classmethod
    def from_samples(
        cls,
        times: Sequence[float],
        load: Sequence[float | None],
        pv: Sequence[float | None],
        *,
        start_epoch: float | None = None,
    ) -> Profile:
        """Build a profile from raw samples; None marks a missing sample.

        Missing load samples are interpolated from their neighbours. Missing
        PV samples too, unless the gap is long (see
        ``PV_MAX_INTERPOLATED_GAP_S``), which is night: 0 W. Negative PV
        (inverter standby draw, sensor offset) is clamped to 0.
        """
        if not times:
            raise ValueError("a profile needs at least one sample")
        origin = times[0]
        rel = [t - origin for t in times]
        step = (
            statistics.median(b - a for a, b in itertools.pairwise(rel))
            if len(rel) > 1
            else 1.0
        )
        period = rel[-1] + step
        # Clamp before filling, so a gap next to a negative sample
        # interpolates from 0 W, not from a power that never was.
        load_filled = _fill_gaps(rel, _clamped(load), period, max_gap=math.inf)
        pv_filled = _fill_gaps(
            rel, _clamped(pv), period, max_gap=PV_MAX_INTERPOLATED_GAP_S
        )
        return cls(
            times=tuple(rel),
            load=tuple(load_filled),
            pv=tuple(pv_filled),
            period=period,
            start_epoch=start_epoch,
        )

    @classmethod
    def from_csv(
        cls,
        path: Path | str,
        *,
        time_column: str,
        load_column: str,
        pv_column: str,
    ) -> Profile:
        """Read a profile from a CSV file with a time column and W columns.

        Times are ISO 8601 (a time without zone is taken as UTC) or plain
        numbers of seconds. Empty or unparsable power cells are missing.
        """
        with Path(path).open(newline="", encoding="utf-8") as file:
            return cls._from_rows(
                csv.DictReader(file),
                time_column=time_column,
                load_column=load_column,
                pv_column=pv_column,
            )

    @classmethod
    def _from_rows(
        cls,
        rows: csv.DictReader[str],
        *,
        time_column: str,
        load_column: str,
        pv_column: str,
    ) -> Profile:
        """Build a profile from CSV rows."""
        missing = {time_column, load_column, pv_column} - set(rows.fieldnames or ())
        if missing:
            raise ValueError(f"profile CSV lacks the columns {sorted(missing)}")
        epochs: list[float] = []
        load: list[float | None] = []
        pv: list[float | None] = []
        for row in rows:
            epochs.append(_parse_time(row[time_column]))
            load.append(_parse_power(row[load_column]))
            pv.append(_parse_power(row[pv_column]))
        if not epochs:
            raise ValueError("profile CSV has no rows")
        return cls.from_samples(epochs, load, pv, start_epoch=epochs[0])

    def load_w(self, t: float) -> float:
        """Return the load power (W) ``t`` seconds after the profile start."""
        return _interpolate(self.times, self.load, self.period, t)

    def pv_w(self, t: float) -> float:
        """Return the PV power (W) ``t`` seconds after the profile start."""
        return _interpolate(self.times, self.pv, self.period, t)


@functools.cache
def bundled_profile() -> Profile:
    """Return the household load and PV profile shipped with the package.

    Read once, when the module is imported: a profile is immutable, a
    benchmark builds many sites, and a site built in an event loop (Home
    Assistant's, in the tests) must not read files there.
    """
    data = resources.files(__package__).joinpath("data", BUNDLED_PROFILE)
    return Profile._from_rows(
        csv.DictReader(data.read_text(encoding="utf-8").splitlines()),
        time_column=_BUNDLED_TIME_COLUMN,
        load_column=_BUNDLED_LOAD_COLUMN,
        pv_column=_BUNDLED_PV_COLUMN,
    )


def _parse_time(text: str) -> float:
    """Return epoch seconds from an ISO 8601 time or a number of seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _parse_power(text: str | None) -> float | None:
    """Return a power cell as a float, or None when missing or not a number."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _clamped(values: Sequence[float | None]) -> list[float | None]:
    """Return the samples with negative powers raised to 0 (missing kept)."""
    return [None if v is None else max(v, 0.0) for v in values]


def _fill_gaps(
    times: Sequence[float],
    values: Sequence[float | None],
    period: float,
    *,
    max_gap: float,
) -> list[float]:
    """Fill missing samples from their known neighbours, wrapping around.

    A gap whose known neighbours lie further apart than ``max_gap`` seconds
    is filled with 0 instead of a line between them.
    """
    known = [i for i, v in enumerate(values) if v is not None]
    if not known:
        return [0.0] * len(values)
    filled = [0.0 if v is None else v for v in values]
    count = len(values)
    for position, left in enumerate(known):
        # The profile loops, so the gap after the last known sample ends at
        # the first known sample of the next loop.
        right = known[(position + 1) % len(known)]
        left_time = times[left]
        right_time = times[right] + (period if right <= left else 0.0)
        span = right_time - left_time
        left_value = filled[left]
        right_value = filled[right]
        index = (left + 1) % count
        while index != right:
            if span > max_gap:
                filled[index] = 0.0
            else:
                t = times[index] + (period if index < left else 0.0)
                share = (t - left_time) / span
                filled[index] = left_value + (right_value - left_value) * share
            index = (index + 1) % count
    return filled


def _interpolate(
    times: Sequence[float], values: Sequence[float], period: float, t: float
) -> float:
    """Return the value at ``t``, linear between samples, looping over period."""
    t %= period
    index = bisect_right(times, t) - 1
    if index < 0:  # only when the first sample is not at 0; loop back
        index = len(times) - 1
        t += period
    left_time = times[index]
    left_value = values[index]
    if index + 1 < len(times):
        right_time = times[index + 1]
        right_value = values[index + 1]
    else:
        right_time = times[0] + period
        right_value = values[0]
    share = (t - left_time) / (right_time - left_time)
    return left_value + (right_value - left_value) * share


# Read now, at import, not when a site is first built in an event loop.
bundled_profile()
