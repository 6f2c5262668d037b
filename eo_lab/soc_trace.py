"""``eo soc``: run the SOC estimator over a recorded trace.

The trace is a CSV file with a header: ``time`` (seconds, or ISO 8601; a
time without a zone is UTC), ``voltage`` (V), ``current`` (A, > 0
charging) and optionally ``temperature`` (°C). An empty cell is a missing
reading, which the estimator handles as it does live; a cell that is not a
number is an error naming its line. The estimator runs exactly as in Home
Assistant, without the state machine: a trace does not say when the
inverter was told to rest, so no sensor offset is learned from it.
"""

from collections.abc import Iterable, Iterator
import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import math

from custom_components.energy_orchestrator.lib.control.battery_model import Chemistry
from custom_components.energy_orchestrator.lib.control.battery_settings import (
    BatteryManagerSettings,
)
from custom_components.energy_orchestrator.lib.control.soc_estimator import (
    BatterySample,
    SocEstimator,
)

REQUIRED_COLUMNS = ("time", "voltage", "current")
# Times given as seconds count from here; only differences matter.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TraceError(ValueError):
    """A trace that cannot be read; the message names the line."""


@dataclass(frozen=True)
class TraceRow:
    """One row of a trace: the time as written, and its sample."""

    time_text: str
    time: datetime
    sample: BatterySample


def parse_time(text: str) -> datetime:
    """Return a time given as seconds or ISO 8601 (UTC when it has no zone)."""
    if not text:
        raise ValueError("time is empty")
    try:
        seconds = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not math.isfinite(seconds):
        raise ValueError(f"{text!r} is not a time")
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is not a time (out of range)") from None


def _number(text: str | None, column: str) -> float | None:
    """Return a cell's number, None when empty."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{column} {text!r} is not a number")
    return value


def read_trace(lines: Iterable[str]) -> Iterator[TraceRow]:
    """Yield the rows of a trace; raise TraceError naming the bad line."""
    reader = csv.DictReader(lines)
    columns = [name.strip() for name in reader.fieldnames or ()]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise TraceError(
            f"line 1: missing column(s) {', '.join(missing)};"
            f" a trace needs {', '.join(REQUIRED_COLUMNS)}"
        )
    reader.fieldnames = columns
    for row in reader:
        line = reader.line_num
        try:
            time_text = (row["time"] or "").strip()
            yield TraceRow(
                time_text,
                parse_time(time_text),
                BatterySample(
                    voltage_v=_number(row["voltage"], "voltage"),
                    current_a=_number(row["current"], "current"),
                    temperature_c=_number(row.get("temperature"), "temperature"),
                ),
            )
        except ValueError as err:
            raise TraceError(f"line {line}: {err}") from None


def estimate_trace(
    rows: Iterable[TraceRow],
    settings: BatteryManagerSettings,
    initial_soc: float | None = None,
) -> Iterator[tuple[str, float | None]]:
    """Yield (time as written, SOC in % or None) for every row."""
    estimator = SocEstimator(settings)
    if initial_soc is not None:
        estimator.counter.calibrate(initial_soc / 100)
    for row in rows:
        estimator.update(row.time, row.sample, idle=False)
        soc = estimator.counter.soc
        yield row.time_text, soc * 100 if soc is not None else None


def trace_settings(
    capacity_ah: float, chemistry: str, cells: int
) -> BatteryManagerSettings:
    """Return the settings for a trace; raise ValueError for impossible ones."""
    settings = BatteryManagerSettings.defaults(Chemistry(chemistry), cells, capacity_ah)
    settings.validate()
    return settings
