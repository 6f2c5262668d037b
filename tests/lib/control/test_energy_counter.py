"""A battery's energy in and out, counted from its sampled power."""

import itertools
import json
import math

from hypothesis import given, strategies as st
import pytest

from custom_components.energy_orchestrator.lib.control.energy_counter import (
    MAX_GAP_S,
    BatteryEnergyCounter,
)


def _feed(
    counter: BatteryEnergyCounter, samples: list[tuple[float, float | None]]
) -> None:
    """Feed (seconds, W or None for unknown) samples."""
    for time_s, power_w in samples:
        if power_w is None:
            counter.interrupt()
        else:
            counter.add(time_s, power_w)


def test_an_hour_at_2_kw_charges_2_kwh() -> None:
    counter = BatteryEnergyCounter()
    _feed(counter, [(second, 2000.0) for second in range(0, 3601, 5)])
    assert counter.charged_wh == pytest.approx(2000.0, rel=1e-12)
    assert counter.discharged_wh == 0


def test_discharging_counts_on_its_own_side() -> None:
    counter = BatteryEnergyCounter()
    _feed(counter, [(second, -1500.0) for second in range(0, 1801, 5)])
    assert counter.discharged_wh == pytest.approx(750.0, rel=1e-12)
    assert counter.charged_wh == 0


def test_a_power_crossing_zero_is_split_where_it_crosses() -> None:
    """+1800 W to -1800 W over 10 s: 5 s of each, a triangle on each side."""
    counter = BatteryEnergyCounter()
    _feed(counter, [(0.0, 1800.0), (10.0, -1800.0)])
    assert counter.charged_wh == pytest.approx(1800 * 5 / 2 / 3600)
    assert counter.discharged_wh == pytest.approx(1800 * 5 / 2 / 3600)


def test_a_gap_longer_than_the_bound_is_not_counted() -> None:
    counter = BatteryEnergyCounter()
    _feed(counter, [(0.0, 3600.0), (5.0, 3600.0)])
    assert counter.charged_wh == pytest.approx(5.0)
    # An hour of silence, then 5 s more: only those 5 s count.
    _feed(counter, [(3605.0, 3600.0), (3610.0, 3600.0)])
    assert counter.charged_wh == pytest.approx(10.0)
    # Just within the bound is counted.
    counter.add(3610.0 + MAX_GAP_S, 3600.0)
    assert counter.charged_wh == pytest.approx(10.0 + MAX_GAP_S)


def test_an_unknown_power_is_not_counted() -> None:
    counter = BatteryEnergyCounter()
    _feed(counter, [(0.0, 3600.0), (5.0, None), (10.0, 3600.0), (15.0, 3600.0)])
    assert counter.charged_wh == pytest.approx(5.0)
    counter.add(20.0, math.nan)
    counter.add(25.0, 3600.0)
    assert counter.charged_wh == pytest.approx(5.0)


def test_time_going_backwards_or_standing_still_counts_nothing() -> None:
    counter = BatteryEnergyCounter()
    _feed(counter, [(100.0, 3600.0), (100.0, 3600.0), (50.0, 3600.0)])
    assert counter.charged_wh == 0
    counter.add(55.0, 3600.0)
    assert counter.charged_wh == pytest.approx(5.0)


def test_a_restart_keeps_the_totals_and_does_not_count_its_gap() -> None:
    counter = BatteryEnergyCounter()
    _feed(counter, [(0.0, 3600.0), (5.0, -3600.0), (10.0, -3600.0)])
    saved = json.loads(json.dumps(counter.snapshot()))
    resumed = BatteryEnergyCounter.from_snapshot(saved)
    assert (resumed.charged_wh, resumed.discharged_wh) == (
        counter.charged_wh,
        counter.discharged_wh,
    )
    # The first sample after the restart starts anew, even 5 s later.
    resumed.add(15.0, -3600.0)
    assert resumed.discharged_wh == counter.discharged_wh
    resumed.add(20.0, -3600.0)
    assert resumed.discharged_wh == pytest.approx(counter.discharged_wh + 5.0)


@pytest.mark.parametrize(
    "saved",
    [
        {"charged_wh": -1.0, "discharged_wh": 0.0},
        {"charged_wh": math.inf, "discharged_wh": 0.0},
        {"charged_wh": "many", "discharged_wh": 0.0},
    ],
)
def test_a_saved_total_that_is_no_count_is_refused(saved: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"count|convert"):
        BatteryEnergyCounter.from_snapshot(saved)


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=2 * MAX_GAP_S),
            st.one_of(st.none(), st.floats(min_value=-1e5, max_value=1e5)),
        ),
        max_size=60,
    )
)
def test_totals_only_grow_and_their_difference_is_the_net_energy(
    steps: list[tuple[float, float | None]],
) -> None:
    """Charged minus discharged is the trapezoid integral of the known stretches."""
    counter = BatteryEnergyCounter()
    times = list(itertools.accumulate(step for step, _ in steps))
    net_ws = 0.0
    last: tuple[float, float] | None = None
    totals = (0.0, 0.0)
    for time_s, (_, power_w) in zip(times, steps, strict=True):
        if power_w is None:
            counter.interrupt()
            last = None
            continue
        if last is not None and time_s == last[0]:
            continue
        if last is not None and time_s - last[0] <= MAX_GAP_S:
            net_ws += (last[1] + power_w) * (time_s - last[0]) / 2
        last = (time_s, power_w)
        counter.add(time_s, power_w)
        assert counter.charged_wh >= totals[0]
        assert counter.discharged_wh >= totals[1]
        totals = (counter.charged_wh, counter.discharged_wh)
    assert counter.charged_wh - counter.discharged_wh == pytest.approx(
        net_ws / 3600, abs=1e-6
    )
