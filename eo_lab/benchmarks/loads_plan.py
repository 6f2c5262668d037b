"""``eo bench loads``: how long the flexible loads' exact plan takes.

A 48-hour (``--hours``) plan on the 15-minute grid with four loads (a 2 kW water heater,
a 1 kW pool pump with 30-minute minimum times, an uninterrupted 1.8 kW
dishwasher run, a 3 kW adjustable power router) and a 10 kWh / 5 kW
battery, under Spain's 2.0TD time-of-use prices with hourly netting, on
the bundled measured household (its sunniest two days, 18-19 March).
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
import statistics
import time
from typing import Any

from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    BatteryNow,
    FixedPrice,
    FlexibleLoad,
    LoadControl,
    LoadNow,
    PlanRequest,
    Tariff,
    plan,
    time_of_use,
)
from eo_lab.sim.profiles import Profile, bundled_profile

# The bundled profile starts on 12 March; the plan starts on the 18th.
OFFSET_S = 6 * 86400
START = datetime(2025, 3, 18, tzinfo=UTC)
LOADS = (
    FlexibleLoad(
        "water_heater",
        2000,
        4000,
        min_on=timedelta(minutes=10),
        min_off=timedelta(minutes=10),
        priority=3,
    ),
    FlexibleLoad(
        "pool_pump",
        1000,
        6000,
        8 * 60,
        20 * 60,
        timedelta(minutes=30),
        timedelta(minutes=30),
        priority=2,
    ),
    FlexibleLoad("dishwasher", 1800, 1800, 9 * 60, 21 * 60, interruptible=False),
    FlexibleLoad("router", 3000, 3000, control=LoadControl.ADJUSTABLE, priority=1),
)
BATTERY = BatteryNow(10000, 5000, 5000, reserve_wh=1000)
TARIFF = Tariff(
    time_of_use(
        [
            ("00:00", 0.13),
            ("08:00", 0.20),
            ("10:00", 0.28),
            ("14:00", 0.20),
            ("18:00", 0.28),
            ("22:00", 0.20),
        ]
    ),
    FixedPrice(0.06),
    60,
)


def loads_plan_benchmark(plans: int = 10, hours: int = 48) -> dict[str, Any]:
    """Time the plan over ``hours`` ``plans`` times; return wall and CPU figures."""
    profile = bundled_profile()
    base = [_base_w(profile, index) for index in range(hours * 4)]
    request = PlanRequest(
        START, base, TARIFF, [LoadNow(load) for load in LOADS], BATTERY
    )
    cold = _timed(request, plans)
    # The controller's case: the next plan, a step later, starts from this one.
    first = plan(request)
    step = request.step
    later = replace(
        request,
        start=START + step,
        base_w=[*base[1:], _base_w(profile, len(base))],
        loads=[
            LoadNow(
                load,
                first.loads[load.name].power_w[0] * step / timedelta(hours=1),
                first.loads[load.name].power_w[0] > 0,
                step,
            )
            for load in LOADS
        ],
        battery=replace(
            BATTERY,
            energy_wh=BATTERY.energy_wh
            + _stored_wh(first.battery_w[0], step / timedelta(hours=1)),
        ),
        previous=first,
    )
    warm = _timed(later, plans)
    return {
        "benchmark": "loads",
        "steps": len(base),
        "loads": len(LOADS),
        "plans": plans,
        "ms_mean": cold["ms_mean"],
        "ms_max": cold["ms_max"],
        "cpu_ms_mean": cold["cpu_ms_mean"],
        "optimal": cold["optimal"],
        "cost": cold["cost"],
        "warm": warm,
    }


def _base_w(profile: Profile, index: int) -> float:
    """Return the bundled household's load minus PV in plan step ``index``."""
    return profile.load_w(OFFSET_S + index * 900) - profile.pv_w(OFFSET_S + index * 900)


def _stored_wh(battery_w: float, hours: float) -> float:
    """Return the energy a battery power stores in ``hours`` (through its losses)."""
    efficiency = BATTERY.efficiency
    if battery_w >= 0:
        return battery_w * hours * efficiency
    return battery_w * hours / efficiency


def _timed(request: PlanRequest, plans: int) -> dict[str, Any]:
    """Plan ``plans`` times; return wall and CPU figures, optimality and cost."""
    wall: list[float] = []
    cpu: list[float] = []
    optimal = True
    cost = 0.0
    for _ in range(plans):
        started, used = time.perf_counter(), time.process_time()
        result = plan(request)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
        optimal = optimal and result.optimal
        cost = result.cost
    return {
        "ms_mean": round(statistics.fmean(wall) * 1000, 1),
        "ms_max": round(max(wall) * 1000, 1),
        "cpu_ms_mean": round(statistics.fmean(cpu) * 1000, 1),
        "optimal": optimal,
        "cost": round(cost, 4),
    }


def format_loads_plan_figures(figures: dict[str, Any]) -> str:
    """Return the figures as lines."""
    warm = figures["warm"]
    return "\n".join(
        [
            f"{figures['steps'] // 4}-hour plan, {figures['loads']} loads and a battery,"
            f" {figures['steps']} steps: {figures['ms_mean']} ms mean,"
            f" {figures['ms_max']} ms max ({figures['cpu_ms_mean']} ms CPU)",
            f"proven optimal: {'yes' if figures['optimal'] else 'no'};"
            f" cost {figures['cost']}",
            f"the next plan, a step later, from this one: {warm['ms_mean']} ms mean,"
            f" {warm['ms_max']} ms max ({warm['cpu_ms_mean']} ms CPU), proven"
            f" optimal: {'yes' if warm['optimal'] else 'no'}",
        ]
    )
