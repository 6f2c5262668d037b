"""``eo backtest-bound``: the share any controller seeing only the past can be sure of."""

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path

import pytest

from custom_components.energy_orchestrator.lib.control.energy_planner import (
    BatteryLimits,
)
from eo_lab.backtest.battery import battery_limits
from eo_lab.backtest.bound import (
    CausalBound,
    causal_bound,
)
from eo_lab.backtest.profile import Series, read_profile
from eo_lab.cli import main

PROFILE = (
    Path(__file__).parent.parent / "fixtures" / "profiles" / "emhass_10days_30min.csv"
)
START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
HOUR = timedelta(hours=1)
# 1 kWh, 1 kW, all of it usable, no losses: the arithmetic stays exact.
SMALL = BatteryLimits(1000, 1000, 1000, 0, 100, 1.0, 1.0)


def evenings(heavy_hours: list[int]) -> Series:
    """Three days at 0 W, but at 1 kW from 19:00 for ``heavy_hours[day]`` hours."""
    load: list[float] = []
    for day in range(3):
        hours = range(19, 19 + heavy_hours[day])
        load += [
            1000.0 if hour in hours else 0.0 for hour in range(24) for _ in range(12)
        ]
    return Series(START, STEP, load, [0.0] * len(load))


def evening_bound(
    heavy_hours: list[int],
    first_hour: int,
    last_hour: int,
    *,
    measured_share: float | None = None,
    level_step_w: float = 10.0,
) -> CausalBound:
    """Return the bound of ``evenings`` on the small battery, hourly branches on day 1."""
    return causal_bound(
        evenings(heavy_hours),
        SMALL,
        interval=HOUR,
        branch_from=START + timedelta(days=1, hours=first_hour),
        branch_to=START + timedelta(days=1, hours=last_hour),
        measured_share=measured_share,
        level_step_w=level_step_w,
    )


def emhass_bound(
    branch_from: datetime, branch_to: datetime, measured_share: float | None
) -> CausalBound:
    """Return the EMHASS 10 days' bound, 10 kWh / 3 kW (a row of docs/benchmarks.md)."""
    with PROFILE.open() as lines:
        series = read_profile(lines)
    return causal_bound(
        series,
        battery_limits(10, 3),
        interval=timedelta(minutes=15),
        branch_from=branch_from,
        branch_to=branch_to,
        measured_share=measured_share,
    )


def emhass_night_of_14_march(measured_share: float | None) -> CausalBound:
    """Return the EMHASS 10 days' bound, branching hourly from 21:00 to 01:00."""
    return emhass_bound(
        datetime(2025, 3, 13, 21, tzinfo=UTC),
        datetime(2025, 3, 14, 1, tzinfo=UTC),
        measured_share,
    )


def test_a_second_heavy_hour_nothing_announced_caps_every_controller() -> None:
    """The first scored evening runs two hours at 1 kW where the day before ran one.

    At 20:00 the past is the same whether the second hour comes or not. A
    controller that has billed b by then has b Wh left: if the hour comes,
    it bills max(b, 1000 - b) where the optimum is 500 W (share b / 500);
    if the day before repeats instead, it keeps b where the optimum is
    about 40 W, what recharges the battery in the 23 quiet hours (share
    (1000 - b) / 960). The best it can be sure of is b = 342 W, 1000 / 1460.
    """
    bound = evening_bound([1, 2, 1], 20, 20)
    assert bound.measured.none_peak_w == 1000
    assert bound.measured.optimal_peak_w == pytest.approx(500, abs=1)
    (branch,) = bound.branches
    assert branch.at == START + timedelta(days=1, hours=20)
    assert branch.reduction.optimal_peak_w == pytest.approx(1000 / 24, abs=2)
    # b / 500 = (1000 - b) / (1000 - optimum); the level grid credits a
    # controller up to one step more (10 W, 2 % of the reduction here).
    best = 1000 / (1000 - branch.reduction.optimal_peak_w + 500)
    assert best - 0.001 <= bound.share < best + 0.02
    assert bound.billed_peak_w == (pytest.approx(342, abs=10),)


def test_what_reaching_the_optimum_on_the_measured_profile_costs_on_the_branch() -> (
    None
):
    """To bill the optimum's 500 W when the second hour comes, b must be 500 at 20:00.

    Where the day before repeats instead, 500 W is billed for an optimum of
    about 40 W: (1000 - 500) / 960 of the reduction.
    """
    bound = evening_bound([1, 2, 1], 20, 20, measured_share=1.0)
    (branch,) = bound.branches
    expected = 500 / (1000 - branch.reduction.optimal_peak_w)
    assert expected - 0.001 <= bound.share < expected + 0.02
    assert bound.billed_peak_w == (pytest.approx(500, abs=10),)
    assert bound.measured_share == 1.0


def test_days_that_repeat_hide_nothing() -> None:
    """Where the past's forecast is the future, following the optimum reaches it."""
    bound = evening_bound([1, 1, 1], 12, 23)
    assert bound.share == pytest.approx(1.0, abs=0.01)


def test_more_branch_points_can_only_lower_the_bound() -> None:
    """Every branch is one more future the same past must serve.

    Up to the level grid's credit: 5 W here, 1 % of the reduction.
    """
    one = evening_bound([1, 2, 1], 20, 20, level_step_w=5.0)
    several = evening_bound([1, 2, 1], 14, 22, level_step_w=5.0)
    assert several.share <= one.share + 0.01
    assert len(several.billed_peak_w) == len(several.branches) == 9


@pytest.mark.slow  # a bound over a day of branches: seconds each
def test_no_controller_is_sure_of_ninety_per_cent_over_the_emhass_ten_days_branches() -> (
    None
):
    """From 21:00 on 13 March the night runs at 2-2.7 kW; the evenings before fell back by 22:00.

    A controller seeing only the past cannot tell which comes, and on the
    worst of the measured profile and the branches stays under 90 %. (The
    wider window of docs/peak-shaving-backtests.md gives 82.5 %.)
    """
    bound = emhass_night_of_14_march(measured_share=None)
    assert bound.measured.optimal_peak_w == pytest.approx(1510, abs=1)
    assert 0.8 < bound.share < 0.9
    # The billed peak only rises along the path.
    assert list(bound.billed_peak_w) == sorted(bound.billed_peak_w)


@pytest.mark.slow  # a bound over a day of branches: seconds each
def test_ninety_per_cent_on_the_emhass_ten_days_leaves_a_branch_under_it() -> None:
    """A controller reaching 90 % on the measured profile has at most 86 % on a branch.

    That is a couple of points under the bound without it: over these
    branches the measured profile is not the worst, but reaching 90 % there
    is paid for where the night stops as the one before did.
    """
    bound = emhass_night_of_14_march(measured_share=0.9)
    assert 0.8 < bound.share < 0.86
    # By 21:00 it has billed more than the orchestrator had (1269 W), to keep
    # more of the battery for the night.
    assert bound.billed_peak_w[0] > 1269


def test_no_controller_reaches_ninety_per_cent_on_the_emhass_ten_days_and_one_branch() -> (
    None
):
    """Two profiles, the same up to 01:30 on 14 March: no controller gets 90 % on both.

    On the measured one the night runs on at 2.4 kW until 06:00; on the
    branch it stops at 01:30, as the night before did (the 24 hours before
    repeat: what the site's history forecasts). A controller seeing only the
    past has billed the same and holds the same energy at 01:30 on both.
    Whatever it did until then, either it has billed more than 90 % of the
    branch's reduction allows, or it holds too little energy to keep the
    night that comes at 90 % (1743 W). The best path that reaches 90 % on
    the measured profile has billed 1410 W by 01:30, where the branch's 90 %
    is 1336 W. So the target of 90 % on every profile can be met on the
    EMHASS 10 days only by betting on the future that came.
    """
    moment = datetime(2025, 3, 14, 1, 30, tzinfo=UTC)
    bound = emhass_bound(moment, moment, measured_share=None)
    (branch,) = bound.branches
    assert branch.at == moment
    assert 0.85 < bound.share < 0.89
    reaching = emhass_bound(moment, moment, measured_share=0.9)
    assert reaching.share < 0.88
    branch_ninety_w = branch.reduction.none_peak_w - 0.9 * (
        branch.reduction.none_peak_w - branch.reduction.optimal_peak_w
    )
    assert reaching.billed_peak_w[0] > branch_ninety_w + 50


@pytest.mark.parametrize(
    ("start", "end", "every", "message"),
    [
        (timedelta(hours=12), timedelta(days=1, hours=2), HOUR, "scored part"),
        (timedelta(days=1, hours=2), timedelta(days=3), HOUR, "scored part"),
        (timedelta(days=1, hours=4), timedelta(days=1, hours=2), HOUR, "scored part"),
        (
            timedelta(days=1, hours=2, minutes=30),
            timedelta(days=1, hours=4),
            HOUR,
            "start a billing interval",
        ),
        (
            timedelta(days=1, hours=2),
            timedelta(days=1, hours=4),
            timedelta(minutes=90),
            "whole number of billing intervals",
        ),
    ],
)
def test_branch_points_that_make_no_sense(
    start: timedelta, end: timedelta, every: timedelta, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        causal_bound(
            evenings([1, 2, 1]),
            SMALL,
            interval=HOUR,
            branch_from=START + start,
            branch_to=START + end,
            branch_every=every,
        )


@pytest.mark.slow  # a bound over a day of branches: seconds each
def test_cli_prints_the_bound_and_its_branches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["backtest-bound", "--input", str(PROFILE), "--battery-kwh", "10"]
    args += ["--battery-kw", "3", "--from", "2025-03-13T23:00", "--to"]
    assert main([*args, "2025-03-14T00:00", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {
        "scored_from",
        "scored_to",
        "share",
        "measured_share",
        "none_peak_w",
        "optimal_peak_w",
        "branches",
        "orchestrator",
    }
    # The orchestrator's shares on the same profiles, judged the same way.
    assert set(printed["orchestrator"]) == {
        "measured_share",
        "worst_share",
        "worst_branch_share",
        "branch_shares",
    }
    assert len(printed["orchestrator"]["branch_shares"]) == 2
    assert printed["orchestrator"]["worst_share"] <= printed["share"]
    assert [branch["at"] for branch in printed["branches"]] == [
        "2025-03-13T23:00:00+00:00",
        "2025-03-14T00:00:00+00:00",
    ]
    assert set(printed["branches"][0]) == {
        "at",
        "none_peak_w",
        "optimal_peak_w",
        "billed_peak_w",
    }
    assert main([*args, "2025-03-14T00:00"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("causal bound: ")
    assert lines[1] == (
        "orchestrator: 75.0 % on the measured profile (to 7 days past the last"
        " branch point), 73.4 % on the worst of it and the branches"
    )
    assert lines[3].endswith("orchestrator")


def test_cli_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["backtest-bound", "--input", str(PROFILE), "--battery-kwh", "10"]
    args += ["--battery-kw", "3", "--from", "2025-03-13T23:00"]
    assert main([*args, "--to", "tomorrow"]) == 1
    assert "--to 'tomorrow' is not a time" in capsys.readouterr().err
    assert main([*args, "--to", "2025-04-01T00:00"]) == 1
    assert "branch points must lie in the scored part" in capsys.readouterr().err
    assert main([*args, "--to", "2025-03-14T00:00", "--every", "20"]) == 1
    assert "whole number of billing intervals" in capsys.readouterr().err
    assert main([*args, "--to", "2025-03-14T00:00", "--level-step", "0"]) == 1
    assert "level step must be > 0 W" in capsys.readouterr().err
    assert main([*args, "--to", "2025-03-14T00:00", "--measured-share", "90"]) == 1
    assert "measured share must be between 0 and 1" in capsys.readouterr().err
    assert main([*args[:4], "0", *args[5:], "--to", "2025-03-14T00:00"]) == 1
    assert "must be > 0" in capsys.readouterr().err
