"""A car's charging session in the flexible loads' plan (issue 24).

The plan places the session (its need by its departure) to plan the battery
and the billed peak with it; the car's charger still drives the car.
"""

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.energy_orchestrator.lib.control.ev_charging import (
    ChargeMode,
    EvChargingManager,
    PhaseChoice,
    WallboxLimits,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    BatteryNow,
    BatterySpec,
    FixedPrice,
    FlexibleLoadsController,
    Measurement,
    PlanRequest,
    Session,
    Tariff,
    plan,
)
from tests.lib.control.spain_tariff import spain_20td

START = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
DEPARTS = START + timedelta(hours=7, minutes=30)
# Spain's 2.0TD periods (UTC here) with a demand charge on 15-minute import.
TARIFF = spain_20td(demand_charge_per_kw=10, billing_minutes=15)
# 500 W all day, 2 kW in the dear evening (18:00-22:00).
BASE = [2000.0 if 72 <= index < 88 else 500.0 for index in range(96)]
BATTERY = BatteryNow(10000.0, 5000.0, 1000.0, reserve_wh=1000.0)
CAR = Session("car", 6000.0, DEPARTS, 11040.0)


def test_the_plan_places_the_session_by_its_departure() -> None:
    """The need is placed before the departure, nothing after, and in the grid."""
    flat = [500.0] * 96
    result = plan(PlanRequest(START, flat, TARIFF, [], sessions=[CAR]))
    power = result.sessions["car"]
    departs = result.at(DEPARTS)
    assert departs == 30
    assert sum(power[:departs]) / 4 == pytest.approx(6000.0, abs=1.0)
    assert max(power[departs:]) == 0.0
    # Spread flat under the demand charge: 6 kWh over 7.5 hours.
    assert max(power) == pytest.approx(800.0, abs=1.0)
    assert result.grid_w[0] == pytest.approx(500.0 + power[0])
    assert result.session_w(START) == pytest.approx(power[0])
    assert result.session_w(START + timedelta(days=2)) == 0.0


def test_the_battery_and_the_car_share_the_night_under_one_peak() -> None:
    """The battery charges where the car leaves room, not on top of it.

    Without the car the plan charges the battery for the evening all night
    (796 W billed); the car's 800 W on top would bill 1.6 kW. With the
    session the battery waits for the car to leave: 1.3 kW, the car's share.
    """
    alone = plan(PlanRequest(START, BASE, TARIFF, [], BATTERY))
    assert alone.battery_w[0] > 200.0
    shared = plan(PlanRequest(START, BASE, TARIFF, [], BATTERY, sessions=[CAR]))
    assert shared.billed_peak_w == pytest.approx(500.0 + 800.0, abs=1.0)
    assert shared.billed_peak_w < alone.billed_peak_w + 800.0 - 200.0
    car = shared.sessions["car"]
    assert all(
        battery <= 1.0
        for battery, power in zip(shared.battery_w, car, strict=True)
        if power > 0
    )
    # The evening is still covered: the battery charged after the car left.
    assert max(shared.battery_w[30:72]) > 0.0
    assert min(shared.battery_w[72:88]) < 0.0


def test_a_need_that_does_not_fit_is_short_not_refused() -> None:
    """A session needing more than its power gives by the departure plans it all."""
    short = Session("car", 20000.0, START + timedelta(hours=1), 11040.0)
    result = plan(PlanRequest(START, BASE, TARIFF, [], sessions=[short]))
    assert max(result.sessions["car"]) == pytest.approx(11040.0)
    assert sum(result.sessions["car"][4:]) == 0.0


def _controller() -> FlexibleLoadsController:
    """Return a controller with the battery, a flat forecast, no netting."""
    tariff = Tariff(FixedPrice(0.20), FixedPrice(0.05), 0, demand_charge_per_kw=10)
    return FlexibleLoadsController(
        tariff,
        [],
        lambda start, steps: [500.0] * steps,
        BatterySpec(10000.0, 5000.0, reserve_wh=1000.0),
        tick=timedelta(minutes=1),
    )


def test_the_battery_holds_the_plan_with_what_the_car_really_takes() -> None:
    """A car that waits leaves the grid its planned room, not the battery.

    The grid target is the plan's grid less the car's planned power plus
    what the car takes now; the sessions given last hold until replaced.
    """
    controller = _controller()
    waiting = Session("car", 6000.0, DEPARTS, 11040.0, charging_w=0.0)
    measured = Measurement(500.0, {}, 0.0, 5000.0)
    result = controller.run(START, measured, sessions=[waiting])
    assert controller.plan is not None
    planned_car = controller.plan.session_w(START)
    assert planned_car > 100.0
    assert result.grid_target_w == pytest.approx(
        controller.plan.grid_w[0] - planned_car, abs=1.0
    )
    charging = Session("car", 6000.0, DEPARTS, 11040.0, charging_w=2000.0)
    now = START + timedelta(minutes=1)
    result = controller.run(
        now, Measurement(2500.0, {}, 0.0, 5000.0), sessions=[charging]
    )
    target = controller.plan.grid_w[0] - planned_car + 2000.0
    # Never above the peak the plan bills.
    assert result.grid_target_w == pytest.approx(
        min(target, controller.plan.billed_peak_w), abs=1.0
    )
    kept = controller.run(now + timedelta(minutes=1), Measurement(2500.0, {}, 0.0))
    assert kept.grid_target_w == result.grid_target_w
    assert controller.sessions == (charging,)
    controller.run(now + timedelta(minutes=2), measured, sessions=[])
    assert controller.sessions == ()


def test_the_wallbox_manager_says_what_its_deadline_still_needs() -> None:
    """Deadline mode gives its need, deadline and most power; other modes none."""
    manager = EvChargingManager(
        WallboxLimits(max_current_a=16.0, can_switch_phases=True), now=START
    )
    assert manager.deadline_need(START) is None
    manager.start(START, ChargeMode.DEADLINE, 6000.0, DEPARTS)
    need = manager.deadline_need(START)
    assert need is not None
    assert need.energy_wh == 6000.0
    assert need.deadline == DEPARTS
    assert need.max_power_w == pytest.approx(3 * 230 * 16)
    assert manager.deadline_need(DEPARTS) is None
    manager.set_phases(START, PhaseChoice.ONE)
    one_phase = manager.deadline_need(START)
    assert one_phase is not None
    assert one_phase.max_power_w == pytest.approx(230 * 16)
    manager.start(START, ChargeMode.FAST)
    assert manager.deadline_need(START) is None
