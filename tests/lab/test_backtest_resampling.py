"""The backtests resample a profile by integrating it: every row counts.

A profile of any resolution is read onto the backtests' 5-minute grid. Each
step gets the mean of the profile over it, so without a battery the grid's
import minus export is the file's own energy over the scored window: what a
reader computes from the CSV and the window the JSON states. The profiles
here put their spikes between the 5-minute points, where sampling the
profile there would miss them.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
import io
import itertools
import json
import math
from pathlib import Path
import random
import statistics

import pytest

from eo_lab.backtest.profile import read_profile
from eo_lab.cli import main

START = datetime(2025, 6, 1, tzinfo=UTC)
# Rows: seconds since START, load W, PV W (None: an empty cell).
Rows = list[tuple[float, float, float | None]]


def _pv_w(seconds: float) -> float:
    """Return a clear day's PV: 5 kW at noon, nothing from 18:00 to 06:00."""
    hour = seconds % 86400 / 3600
    return max(5000 * math.sin(math.pi * (hour - 6) / 12), 0.0)


def one_minute_rows() -> Rows:
    """Two days and ten minutes every minute: a 3 kW kettle at minute 1 of each five.

    Clouds take half the PV at minute 3 of each five. Neither is on the
    5-minute points, nor at the half-way point between them.
    """
    rows: Rows = []
    for minute in range(2 * 1440 + 11):
        load = 600.0 + (3000.0 if minute % 5 == 1 else 0.0)
        pv = _pv_w(minute * 60) * (0.5 if minute % 5 == 3 else 1.0)
        rows.append((minute * 60.0, load, pv))
    return rows


def one_second_rows() -> Rows:
    """Two days and ten minutes every second: a 20 s, 6 kW spike at 01:00 of each five minutes."""
    rows: Rows = []
    for second in range(2 * 86400 + 601):
        load = 500.0 + (6000.0 if 60 <= second % 300 < 80 else 0.0)
        rows.append((float(second), load, _pv_w(second)))
    return rows


def quarter_hour_rows() -> Rows:
    """Two days every 15 minutes, every fourth row up to 4 minutes off, load alternating.

    The rows alternate between 400 and 3400 W, so a 5-minute step across a
    row off the grid is not the mean of its ends and middle; the last row
    (4 kW) is far from the first (200 W), so the last interval is not the
    first's. Most rows are on time: the median spacing stays 15 minutes.
    """
    jitter = random.Random(21)
    rows: Rows = [(0.0, 200.0, 0.0)]
    for index in range(1, 2 * 96):
        moment = index * 900.0 + (jitter.uniform(-240, 240) if index % 4 == 2 else 0)
        rows.append((moment, 400.0 if index % 2 else 3400.0, _pv_w(moment)))
    rows.append((2 * 96 * 900.0, 4000.0, 0.0))
    return rows


def _csv(rows: Rows, epoch_seconds: bool) -> str:
    """Return the rows as a profile CSV, times as epoch seconds or ISO 8601."""

    def time(seconds: float) -> str:
        moment = START + timedelta(seconds=seconds)
        return f"{moment.timestamp():.0f}" if epoch_seconds else moment.isoformat()

    lines = ["time,load,pv"]
    lines += [f"{time(t)},{load},{'' if pv is None else pv}" for t, load, pv in rows]
    return "\n".join(lines) + "\n"


def file_energy_kwh(rows: Rows, scored_from: str, scored_to: str) -> float:
    """Return the file's net energy (load - PV) over a window, computed from its rows.

    The rows are joined by straight lines, and the last row holds for one
    of the file's own intervals (the median spacing): the reading the
    backtests document.
    """
    times = [t for t, _, _ in rows]
    net = [load - (pv or 0.0) for _, load, pv in rows]
    spacing = statistics.median(b - a for a, b in itertools.pairwise(times))
    times.append(times[-1] + spacing)
    net.append(net[-1])
    window_from = datetime.fromisoformat(scored_from) - START
    window_to = datetime.fromisoformat(scored_to) - START
    lower, upper = window_from.total_seconds(), window_to.total_seconds()
    area_ws = 0.0
    for (a, power_a), (b, power_b) in zip(
        zip(times, net, strict=True), zip(times[1:], net[1:], strict=True), strict=False
    ):
        left, right = max(a, lower), min(b, upper)
        if right <= left:
            continue
        slope = (power_b - power_a) / (b - a)
        at_left = power_a + slope * (left - a)
        at_right = power_a + slope * (right - a)
        area_ws += (right - left) * (at_left + at_right) / 2
    return area_ws / 3.6e6


def _backtest_json(
    path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> dict[str, object]:
    """Run ``eo backtest`` on a small battery; return its JSON."""
    args = ["backtest", "--input", str(path), "--battery-kwh", "5"]
    assert main([*args, "--battery-kw", "2.5", *extra, "--json"]) == 0
    loaded: dict[str, object] = json.loads(capsys.readouterr().out)
    return loaded


@pytest.mark.parametrize(
    ("make_rows", "epoch_seconds", "scored_to"),
    [
        (one_minute_rows, False, "2025-06-03T00:10:00+00:00"),
        (one_second_rows, True, "2025-06-03T00:10:00+00:00"),
        (quarter_hour_rows, False, "2025-06-03T00:15:00+00:00"),
    ],
    ids=["1 min", "1 s", "15 min"],
)
def test_no_battery_books_the_file_s_energy(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_rows: Callable[[], Rows],
    epoch_seconds: bool,
    scored_to: str,
) -> None:
    """Strategy ``none``'s import minus export is the file's energy over the window."""
    rows = make_rows()
    path = tmp_path / "profile.csv"
    path.write_text(_csv(rows, epoch_seconds))
    result = _backtest_json(path, capsys)
    assert result["scored_from"] == "2025-06-02T00:00:00+00:00"
    assert result["scored_to"] == scored_to
    strategies = result["strategies"]
    assert isinstance(strategies, dict)
    none = strategies["none"]
    booked = none["import_kwh"] - none["export_kwh"]
    expected = file_energy_kwh(rows, result["scored_from"], scored_to)
    assert none["export_kwh"] > 1
    assert booked == pytest.approx(expected, rel=1e-3)


def test_each_step_is_the_mean_of_the_line_over_it() -> None:
    """Rows 7 minutes apart: steps across a row get the exact mean, not three points."""
    profile = "time,load\n0,0\n420,4200\n840,0\n1260,0\n"
    series = read_profile(io.StringIO(profile))
    # The last row holds for 7 minutes, to 1680 s: five whole steps.
    assert len(series.load_w) == 5
    # 0-300 s: the ramp from 0 to 3000 W, mean 1500 W.
    # 300-600 s: up from 3000 W to 4200 W at 420 s, down to 2400 W at 600 s.
    # 600-900 s: 2400 W down to 0 at 840 s, then 0.
    assert series.load_w[0] == pytest.approx(1500)
    assert series.load_w[1] == pytest.approx((120 * 3600 + 180 * 3300) / 300)
    assert series.load_w[2] == pytest.approx(240 * 1200 / 300)
    assert series.load_w[3:] == pytest.approx([0, 0])


def test_gaps_are_read_as_documented() -> None:
    """A missing load is interpolated; PV missing for hours is night, for minutes a dropped sample."""
    pv_rows = {4: "400", 5: "", 6: "", 7: "", 8: "", 9: "", 10: "400"}
    pv_rows |= {17: "1000", 18: "", 19: "2000"}
    rows = ["time,load,pv"]
    for index in range(48):
        # The load rises 10 W every half hour; its 01:00 row is empty.
        load = "" if index == 2 else str(100 + 10 * index)
        rows.append(f"{index * 1800},{load},{pv_rows.get(index, '0')}")
    series = read_profile(io.StringIO("\n".join(rows) + "\n"))
    per_hour = 12
    assert series.load_w[: 47 * 6] == pytest.approx(
        [100 + 10 * (step + 0.5) / 6 for step in range(47 * 6)]
    )
    # 02:00 to 05:00: three hours without PV between two 400 W rows is night.
    night = series.pv_w[int(2.5 * per_hour) : int(4.5 * per_hour)]
    assert night == pytest.approx([0.0] * 2 * per_hour)
    # 08:30 to 09:30: 1000 W to 2000 W in a line across the empty 09:00.
    ramp = series.pv_w[int(8.5 * per_hour) : int(9.5 * per_hour)]
    assert ramp == pytest.approx(
        [1000 + 1000 * (step + 0.5) / per_hour for step in range(per_hour)]
    )


def test_every_backtest_states_its_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The three commands say what they scored, in JSON and in text, on the same resampling."""
    path = tmp_path / "profile.csv"
    path.write_text(_csv(one_minute_rows(), epoch_seconds=False))
    peak = _backtest_json(path, capsys)
    args = ["--input", str(path), "--battery-kwh", "5", "--battery-kw", "2.5"]
    assert main(["backtest", *args]) == 0
    assert capsys.readouterr().out.startswith(
        "scored from 2025-06-02T00:00:00+00:00 to 2025-06-03T00:10:00+00:00\n"
    )
    bound_args = ["backtest-bound", *args, "--from", "2025-06-02T12:00"]
    assert main([*bound_args, "--to", "2025-06-02T12:00", "--json"]) == 0
    bound = json.loads(capsys.readouterr().out)
    assert bound["scored_from"] == "2025-06-02T00:00:00+00:00"
    # The bound judges whole billing intervals: to 00:00, not 00:10.
    assert bound["scored_to"] == "2025-06-03T00:00:00+00:00"
    strategies = peak["strategies"]
    assert isinstance(strategies, dict)
    assert bound["none_peak_w"] == strategies["none"]["peak_import_w"]
    assert main([*bound_args, "--to", "2025-06-02T12:00"]) == 0
    assert (
        "scored from 2025-06-02T00:00:00+00:00 to 2025-06-03T00:00:00+00:00"
        in capsys.readouterr().out
    )
    ev_args = ["backtest-ev", "--input", str(path), "--arrive", "08:00"]
    assert main([*ev_args, "--depart", "18:00", "--need-kwh", "5", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    # The car's replay has no warm-up: it scores the whole file.
    assert ev["scored_from"] == "2025-06-01T00:00:00+00:00"
    assert ev["scored_to"] == "2025-06-03T00:10:00+00:00"
    assert main([*ev_args, "--depart", "18:00", "--need-kwh", "5"]) == 0
    assert capsys.readouterr().out.startswith(
        "scored from 2025-06-01T00:00:00+00:00 to 2025-06-03T00:10:00+00:00\n"
    )
