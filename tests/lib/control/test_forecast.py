"""A PV forecast service's periods onto the plan's grid; the forecast against the day so far."""

from datetime import UTC, datetime, timedelta
import math

import pytest

from custom_components.energy_orchestrator.lib.control.forecast import (
    SlotHistory,
    energy_periods_to_power,
    forecast,
    heavy_stretch,
    measured_share,
    net_forecast,
    pv_override,
)

T0 = datetime(2026, 6, 1, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


def slot(moment: datetime, step: timedelta) -> int:
    return math.floor(moment.timestamp() / step.total_seconds())


def test_half_hourly_periods_fill_every_quarter_hour() -> None:
    """Solcast's 30-minute periods on a 15-minute plan: no slot falls back to history."""
    series = [
        (T0 + index * timedelta(minutes=30), 1000.0 * index) for index in range(4)
    ]
    values = pv_override(T0, QUARTER, series)
    assert [values[slot(T0 + index * QUARTER, QUARTER)] for index in range(8)] == [
        0,
        0,
        1000,
        1000,
        2000,
        2000,
        3000,
        3000,
    ]


def test_quarter_hour_periods_are_averaged_into_an_hourly_plan() -> None:
    hour = timedelta(hours=1)
    series = [(T0 + index * QUARTER, 1000.0 * index) for index in range(8)]
    values = pv_override(T0, hour, series)
    assert values == {slot(T0, hour): 1500.0, slot(T0 + hour, hour): 5500.0}


def test_a_night_without_periods_is_not_one_long_period() -> None:
    evening = T0 + timedelta(hours=19)
    morning = T0 + timedelta(hours=29)
    values = pv_override(T0, QUARTER, [(evening, 200.0), (morning, 300.0)])
    assert values[slot(evening, QUARTER)] == 200
    assert slot(evening + timedelta(hours=2), QUARTER) not in values
    assert values[slot(morning, QUARTER)] == 300


def test_energy_per_period_becomes_power_over_the_period() -> None:
    """Forecast.Solar's Wh per period: sunrise at 07:32, hourly, sunset at 17:45."""
    sunrise = T0 + timedelta(hours=7, minutes=32)
    periods = [
        (sunrise, 14.0),  # 28 minutes to 08:00
        (T0 + timedelta(hours=8), 600.0),
        (T0 + timedelta(hours=17), 300.0),  # 45 minutes to sunset
        (T0 + timedelta(hours=17, minutes=45), 0.0),
    ]
    power = energy_periods_to_power(periods)
    assert [round(watts) for _, watts in power] == [30, 600, 400, 0]
    assert pv_override(T0, QUARTER, power)[
        slot(T0 + timedelta(hours=8, minutes=30), QUARTER)
    ] == pytest.approx(600)


def days_then_today(today_w: float, hours: int = 6) -> SlotHistory:
    """Three days of 1 kW, then ``hours`` of today at ``today_w``."""
    history = SlotHistory(QUARTER)
    for index in range(3 * 96 + hours * 4):
        moment = T0 + index * QUARTER
        history.add(moment, 1000.0 if index < 3 * 96 else today_w)
    return history


def test_the_measured_share_is_the_last_hours_against_their_forecast() -> None:
    six = T0 + timedelta(days=3, hours=6)
    assert measured_share(days_then_today(800), six, 24, upper_share=1.0) == (
        pytest.approx(0.8)
    )
    assert measured_share(days_then_today(1300), six, 24, upper_share=0.0) == (
        pytest.approx(1.3)
    )


def test_no_measured_share_from_too_few_slots_or_a_forecast_of_nothing() -> None:
    six = T0 + timedelta(days=3, hours=6)
    # Four of six hours measured: less than eight in ten of the slots.
    assert measured_share(days_then_today(800, hours=4), six, 24, upper_share=1) is None
    assert measured_share(days_then_today(800), six, 24, upper_share=1) is not None
    idle = SlotHistory(QUARTER)
    for index in range(3 * 96 + 24):
        idle.add(T0 + index * QUARTER, 0.0)
    assert measured_share(idle, six, 24, upper_share=1.0) is None
    assert measured_share(SlotHistory(QUARTER), six, 24, upper_share=1.0) is None


def test_the_load_scale_scales_the_load_and_not_the_pv() -> None:
    load, pv = SlotHistory(QUARTER), SlotHistory(QUARTER)
    for index in range(96):
        load.add(T0 + index * QUARTER, 1000.0)
        pv.add(T0 + index * QUARTER, 400.0)
    tomorrow = T0 + timedelta(days=1)
    assert (
        net_forecast(load, pv, tomorrow, 4, caution=1.0, load_scale=0.9)
        == [pytest.approx(500.0)] * 4
    )


def test_a_day_ahead_on_the_forecast_takes_the_later_share() -> None:
    """Two past days at 1 and 2 kW: the slot maximum for a day, then the mean."""
    load = SlotHistory(QUARTER)
    for index in range(2 * 96):
        load.add(T0 + index * QUARTER, 1000.0 if index < 96 else 2000.0)
    ahead = forecast(
        load, T0 + timedelta(days=2), 2 * 96, upper_share=1.0, later_upper_share=0.0
    )
    assert ahead == [2000.0] * 96 + [1500.0] * 96
    # Without a later share, every slot takes the one share.
    assert forecast(load, T0 + timedelta(days=2), 2 * 96, upper_share=1.0) == (
        [2000.0] * 2 * 96
    )


def test_a_heavy_stretch_is_how_long_the_load_has_run_above_its_forecast() -> None:
    """Three days of 1 kW; today 1 kW until 03:00, then 1.5 kW with 600 W of PV.

    At 06:00 the load has run above its forecast for three hours (twelve
    quarter hours) at a mean net load of 900 W; an hour looked back at
    sees only that hour of it.
    """
    load, pv = days_then_today(1000, hours=3), SlotHistory(QUARTER)
    three = T0 + timedelta(days=3, hours=3)
    for index in range(12):
        load.add(three + index * QUARTER, 1500.0)
        pv.add(three + index * QUARTER, 600.0)
    six = three + timedelta(hours=3)
    assert heavy_stretch(load, pv, six, 24, upper_share=1.0) == (
        12,
        pytest.approx(900.0),
    )
    assert heavy_stretch(load, pv, six, 4, upper_share=1.0) == (4, pytest.approx(900))
    # A forecast scaled up past the load: nothing above it.
    assert heavy_stretch(load, pv, six, 24, upper_share=1.0, load_scale=1.5) is None


def test_no_heavy_stretch_when_the_last_slot_is_not_above_or_unseen() -> None:
    six = T0 + timedelta(days=3, hours=6)
    pv = SlotHistory(QUARTER)
    # A day as forecast: at its forecast is not above it.
    assert heavy_stretch(days_then_today(1000), pv, six, 24, upper_share=1.0) is None
    # Heavy until 05:00, not measured since: the stretch is not known to go on.
    assert (
        heavy_stretch(days_then_today(1500, hours=5), pv, six, 24, upper_share=1.0)
        is None
    )
    assert heavy_stretch(SlotHistory(QUARTER), pv, six, 24, upper_share=1.0) is None
