"""The orchestrator on the causal bound's branches, judged as the bound judges."""

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.energy_orchestrator.lib.control.energy_planner import (
    BatteryLimits,
)
from custom_components.energy_orchestrator.lib.control.peak_shaving import planner
from eo_lab.backtest.battery import battery_limits
from eo_lab.backtest.bound import (
    CausalBound,
    causal_bound,
)
from eo_lab.backtest.branches import (
    OrchestratorShares,
    orchestrator_on_branches,
)
from eo_lab.backtest.profile import Series
from eo_lab.backtest.strategies import run_backtest

START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
HOUR = timedelta(hours=1)
PER_HOUR = 12
# Branch points through the first scored evening and night.
EVENING = (timedelta(days=1, hours=12), timedelta(days=2, hours=6))


def evenings(heavy_hours: list[int]) -> Series:
    """Days at 200 W, but at 1.2 kW from 19:00 for ``heavy_hours[day]`` hours."""
    load: list[float] = []
    for hours in heavy_hours:
        evening = range(19, 19 + hours)
        load += [
            1200.0 if hour in evening else 200.0
            for hour in range(24)
            for _ in range(PER_HOUR)
        ]
    return Series(START, STEP, load, [0.0] * len(load))


def branch(series: Series, at: datetime) -> Series:
    """Return ``series`` up to ``at``, then the 24 hours before ``at`` repeated."""
    point = int((at - series.start) / STEP)
    day = 24 * PER_HOUR
    before = series.load_w[point - day : point]
    rest = len(series.load_w) - point
    load = series.load_w[:point] + [before[index % day] for index in range(rest)]
    return Series(series.start, STEP, load, [0.0] * len(load))


def orchestrator_peak(series: Series) -> float:
    """Return ``eo backtest``'s orchestrator peak on a profile (hourly billing)."""
    result = run_backtest(series, battery_kwh=1, battery_kw=1, interval=HOUR)
    peak: float = result["strategies"]["orchestrator"]["peak_import_w"]
    return peak


def judged(
    series: Series,
    battery: BatteryLimits,
    branch_points: tuple[timedelta, timedelta],
    measured_share: float | None = None,
) -> tuple[CausalBound, OrchestratorShares]:
    """Return the bound over hourly branch points (offsets from the start) and the orchestrator's shares."""
    first, last = branch_points
    bound = causal_bound(
        series,
        battery,
        interval=HOUR,
        branch_from=START + first,
        branch_to=START + last,
        measured_share=measured_share,
    )
    return bound, orchestrator_on_branches(series, battery, bound, interval=HOUR)


def test_each_branch_is_judged_as_a_fresh_run_of_that_branch_would_be() -> None:
    """Running each branch from a copy of the orchestrator at its branch point changes nothing.

    Three days at 200 W and a heavy evening, the scored first evening two
    hours long where the day of history had one: the measured profile and
    the branches at 19:00, 20:00 and 21:00 of that evening, each against a
    whole ``eo backtest`` of the branch as a profile of its own.
    """
    series = evenings([1, 2, 1])
    at = (timedelta(days=1, hours=19), timedelta(days=1, hours=21))
    bound, shares = judged(series, battery_limits(1, 1), at)
    assert shares.measured_share == pytest.approx(
        bound.measured.share(orchestrator_peak(series)), abs=1e-3
    )
    assert len(shares.branch_shares) == 3
    for each, share in zip(bound.branches, shares.branch_shares, strict=True):
        alone = orchestrator_peak(branch(series, each.at))
        assert share == pytest.approx(each.reduction.share(alone), abs=1e-3)
    # The branches differ: from 21:00 the second heavy hour is in the past
    # that repeats, from 19:00 it is not.
    assert len(set(shares.branch_shares)) > 1
    assert shares.worst_share == min(shares.measured_share, *shares.branch_shares)


@pytest.mark.slow
def test_the_orchestrator_never_beats_the_bound() -> None:
    """It is one controller that sees only the past: its worst is at most the bound.

    A 3 kWh battery; the scored first evening runs three hours at 1.2 kW
    where the day of history ran one. The orchestrator trusts its forecast
    that each heavy hour is the last, runs empty at 20:35 (before the
    stretch has run the two hours its insurance waits for) and bills the
    whole 1.2 kW: none of the optimum's reduction, where a controller seeing
    only the past can be sure of 93 %.
    """
    bound, shares = judged(evenings([1, 3, 1, 1]), battery_limits(3, 1), EVENING)
    # The optimum's rounding (the planner's bisection) is under 1 W here.
    assert shares.worst_share <= bound.share + 0.002
    assert bound.share > 0.9
    assert shares.measured_share == 0


def test_a_long_first_evening_is_insured_and_the_battery_lasts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five hours at 1.2 kW where the day of history had one, a 5 kWh battery.

    Trusting the forecast that each heavy hour is the last, the battery
    runs empty and the whole 1.2 kW is billed. Insuring the stretch from
    its second hour on keeps the battery for the rest of it.
    """
    series = evenings([1, 5, 1, 1])
    result = run_backtest(series, battery_kwh=5, battery_kw=1, interval=HOUR)
    insured = result["strategies"]["orchestrator"]["peak_import_w"]
    monkeypatch.setattr(planner, "HEAVY_STRETCH_MIN", timedelta(days=1))
    result = run_backtest(series, battery_kwh=5, battery_kw=1, interval=HOUR)
    assert result["strategies"]["orchestrator"]["peak_import_w"] == pytest.approx(1200)
    assert insured < 1150


@pytest.mark.slow
def test_the_bound_of_what_the_orchestrator_reached_limits_its_worst_branch() -> None:
    """Among controllers reaching its share on the measured profile, none is worse off.

    A two-hour first evening: the orchestrator reaches 62 % of the optimum
    there, and its worst branch is at most what the bound allows at 60 %.
    """
    series = evenings([1, 2, 1, 1])
    bound, shares = judged(series, battery_limits(3, 1), EVENING, measured_share=0.6)
    assert shares.measured_share >= 0.6
    assert shares.worst_branch_share <= bound.share + 0.002
