"""Several batteries as one: the sum the planner sees, the split, the voltage limits."""

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.energy_orchestrator.lib.control.battery_bank import (
    BatteryBank,
    BatteryReading,
    split_setpoint,
)
from custom_components.energy_orchestrator.lib.control.energy_planner import (
    BatteryLimits,
)
from custom_components.energy_orchestrator.lib.control.peak_shaving import (
    PeakShaver,
    PeakShavingSettings,
    ShavingState,
)
from custom_components.energy_orchestrator.lib.control.setpoint_limits import (
    VoltageGuard,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)
STEP = timedelta(seconds=5)
STEP_H = STEP.total_seconds() / 3600


def battery(
    wh: float, kw: float, soc_min: float = 10, soc_max: float = 100
) -> BatteryLimits:
    return BatteryLimits(
        capacity_wh=wh,
        max_charge_w=kw * 1000,
        max_discharge_w=kw * 1000,
        soc_min=soc_min,
        soc_max=soc_max,
        charge_efficiency=1.0,
        discharge_efficiency=1.0,
    )


def test_split_over_batteries_by_what_each_can_do() -> None:
    assert split_setpoint(-3000, [(1000, 2000), (1000, 1000)]) == [-2000, -1000]
    assert split_setpoint(500, [(1000, 0), (0, 5000)]) == [500, 0]
    assert split_setpoint(-9000, [(0, 2000), (0, 1000)]) == [-2000, -1000]
    assert split_setpoint(100, [(0, 0)]) == [0.0]


def test_the_planner_sees_the_bank_as_one_battery() -> None:
    bank = BatteryBank([battery(10000, 5), battery(5000, 2.5, soc_min=20, soc_max=90)])
    limits = bank.limits
    assert (limits.capacity_wh, limits.max_discharge_w) == (15000, 7500)
    # The floors and ceilings add up: 1 + 1 kWh, 10 + 4.5 kWh.
    assert limits.energy_min_wh == pytest.approx(2000)
    assert limits.energy_max_wh == pytest.approx(14500)


def test_a_battery_at_its_floor_leaves_the_load_to_the_other() -> None:
    """2 kW over a 3 kW limit; the first battery sits at its 10 % floor."""
    bank = BatteryBank([battery(10000, 5), battery(10000, 5)])
    shaver = PeakShaver(PeakShavingSettings(import_limit_w=3000), bank.limits, now=T0)
    setpoints = [0.0, 0.0]
    for index in range(12):
        state = bank.read(
            [BatteryReading(setpoints[0], 10.0), BatteryReading(setpoints[1], 60.0)],
            STEP_H,
        )
        assert state is not None
        status = shaver.update(
            T0 + index * STEP,
            grid_w=5000 + sum(setpoints),
            battery_power_w=state.power_w,
            energy_wh=state.energy_wh,
            step=STEP,
            batteries=state,
        )
        setpoints = bank.split(status.battery_setpoint_w, state)
    assert setpoints[0] == 0.0
    assert setpoints[1] == pytest.approx(-2025, abs=20)
    assert status.state is ShavingState.SHAVING


def test_more_than_one_battery_can_give_is_shared_by_what_each_can() -> None:
    bank = BatteryBank([battery(10000, 3), battery(10000, 1)])
    state = bank.read([BatteryReading(0, 50.0), BatteryReading(0, 50.0)], STEP_H)
    assert state is not None
    assert state.power_range_w == (-4000, 4000)
    assert bank.split(-2000, state) == [-1500, -500]
    assert bank.split(-9000, state) == [-3000, -1000]


def guarded_bank(count: int = 1) -> BatteryBank:
    return BatteryBank(
        [battery(10000, 5)] * count, [VoltageGuard(46.0, 56.0) for _ in range(count)]
    )


def step_voltages(
    bank: BatteryBank, voltages: list[tuple[float, ...]], net_w: float = 4000
) -> list[tuple[list[float], str]]:
    """Run 3 kW peak shaving over a net load with the batteries at these voltages."""
    shaver = PeakShaver(PeakShavingSettings(import_limit_w=3000), bank.limits, now=T0)
    setpoints = [0.0] * len(bank.batteries)
    seen: list[tuple[list[float], str]] = []
    for index, volts in enumerate(voltages):
        state = bank.read(
            [
                BatteryReading(power, 50.0, voltage)
                for power, voltage in zip(setpoints, volts, strict=True)
            ],
            STEP_H,
        )
        assert state is not None
        status = shaver.update(
            T0 + index * STEP,
            grid_w=net_w + sum(setpoints),
            battery_power_w=state.power_w,
            energy_wh=state.energy_wh,
            step=STEP,
            batteries=state,
        )
        setpoints = bank.split(status.battery_setpoint_w, state)
        seen.append(([round(power) for power in setpoints], status.reason))
    return seen


def test_the_lowest_voltage_stops_discharging_until_it_recovers_by_the_band() -> None:
    """4 kW against 3 kW: the battery would discharge, but its voltage says empty."""
    seen = step_voltages(guarded_bank(), [(47.0,), (46.0,), (46.5,), (46.9,), (47.0,)])
    assert seen == [
        ([-1025], "above_limit"),
        ([0], "battery_voltage_low"),
        ([0], "battery_voltage_low"),  # recovered, but less than the band (0.92 V)
        ([0], "battery_voltage_low"),
        # Back, and a little more: the interval's 15 s over the limit are
        # taken back in what is left of it.
        ([-1042], "above_limit"),
    ]


def test_a_battery_at_its_lowest_voltage_leaves_the_load_to_the_other() -> None:
    seen = step_voltages(guarded_bank(2), [(48.0, 48.0), (45.9, 48.0), (45.9, 48.0)])
    assert seen[0] == ([-512, -512], "above_limit")
    assert seen[2] == ([0, -1025], "above_limit")


def test_the_highest_voltage_stops_charging() -> None:
    seen = step_voltages(guarded_bank(), [(56.1,)], net_w=1000)
    assert seen == [([0], "battery_voltage_high")]


def test_a_guarded_battery_without_a_voltage_is_not_steered() -> None:
    assert guarded_bank().read([BatteryReading(0, 50.0, None)], STEP_H) is None
    assert BatteryBank([battery(1, 1)]).read([BatteryReading(0, None)], STEP_H) is None


def test_banks_that_cannot_work() -> None:
    with pytest.raises(ValueError, match="at least one battery"):
        BatteryBank([])
    with pytest.raises(ValueError, match="lowest < highest"):
        BatteryBank([battery(1, 1)], [VoltageGuard(56.0, 46.0)])
    with pytest.raises(ValueError, match="one voltage guard"):
        BatteryBank([battery(1, 1)], [None, None])
