"""A PV forecast service's periods onto the plan's grid."""

from datetime import UTC, datetime, timedelta
import math

import pytest

from custom_components.energy_orchestrator.control.forecast import (
    energy_periods_to_power,
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
