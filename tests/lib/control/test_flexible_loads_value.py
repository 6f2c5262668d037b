"""The flexible loads' battery worth and billed peak in real time (issues 23 and 24)."""

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    BatteryNow,
    BatteryOrder,
    BatterySpec,
    FixedPrice,
    FlexibleLoad,
    FlexibleLoadsController,
    LoadControl,
    LoadReason,
    Measurement,
    PlanRequest,
    Tariff,
    plan,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.netting import (
    LoadLive,
    decide,
    project,
)
from tests.lib.control.spain_tariff import spain_20td

START = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
EFFICIENCY = 0.95
# Spain's 2.0TD periods (UTC here): the night cheap, the evening dear.
TWO_PERIODS = spain_20td()


def test_the_plan_values_stored_energy_at_what_refilling_it_costs() -> None:
    """At night a stored kWh is worth the valley's price through the charge loss."""
    result = plan(
        PlanRequest(
            START,
            [500.0] * 96,
            TWO_PERIODS,
            [],
            BatteryNow(10000.0, 5000.0, 2000.0, reserve_wh=1000.0),
        )
    )
    assert len(result.stored_value) == 96
    # The plan buys the evening's energy at 0.13 a kWh, 95 % of it stored.
    assert result.stored_value[0] == pytest.approx(0.131 / EFFICIENCY, abs=2e-3)


def test_the_battery_order_covers_a_miss_only_where_told() -> None:
    """Held at the plan's power unless it may follow the target; never past the ceiling."""
    order = BatteryOrder(0.0, -1000.0, cover_import=False, take_surplus=True)
    # 3 kW of site load: the plan's 1 kW discharge, the rest from the grid.
    assert order.battery_w(3000.0) == -1000.0
    # A surplus the plan did not see is stored.
    assert order.battery_w(-2000.0) == 2000.0
    covering = BatteryOrder(0.0, -1000.0, cover_import=True, take_surplus=False)
    assert covering.battery_w(3000.0) == -3000.0
    assert covering.battery_w(-2000.0) == -1000.0
    capped = BatteryOrder(0.0, -1000.0, cover_import=False, ceiling_w=1500.0)
    assert capped.battery_w(3000.0) == -1500.0


def _run_battery_day(
    controller: FlexibleLoadsController,
    site_w: list[float],
    energy_wh: float,
) -> list[float]:
    """Run minute by minute on ``site_w`` (per minute); return the energy each minute."""
    spec = controller.battery
    assert spec is not None
    grid_w = battery_w = 0.0
    energies: list[float] = []
    for minute, site in enumerate(site_w):
        now = START + minute * MINUTE
        result = controller.run(now, Measurement(grid_w, {}, battery_w, energy_wh))
        assert result.battery is not None
        wanted = result.battery.battery_w(site)
        hours = 1 / 60
        if wanted >= 0:
            room = (spec.capacity_wh - energy_wh) / EFFICIENCY / hours
            battery_w = min(wanted, spec.power_w, room)
            energy_wh += battery_w * hours * EFFICIENCY
        else:
            left = (energy_wh - spec.reserve_wh) * EFFICIENCY / hours
            battery_w = -min(-wanted, spec.power_w, left)
            energy_wh += battery_w * hours / EFFICIENCY
        grid_w = site + battery_w
        energies.append(energy_wh)
    return energies


def test_a_night_miss_does_not_empty_the_battery_before_the_dear_evening() -> None:
    """A 3.5 kW load the forecast did not see runs 00:00-01:30 at 0.13: the grid
    takes it, the battery keeps its energy for the 0.28 evening and covers a
    miss there."""
    controller = FlexibleLoadsController(
        TWO_PERIODS,
        [],
        lambda start, steps: [400.0] * steps,
        BatterySpec(10000.0, 5000.0, reserve_wh=1000.0, efficiency=EFFICIENCY),
    )
    site = [400.0] * (24 * 60)
    for minute in range(90):
        site[minute] += 3500.0
    # And one the forecast did not see at 19:00-19:30, in the dear evening.
    for minute in range(19 * 60, 19 * 60 + 30):
        site[minute] += 2000.0
    energies = _run_battery_day(controller, site, 5000.0)
    # Covering the night's miss would have taken 5.25 kWh / 0.95 from it.
    assert energies[90] > 4000.0
    # In the evening the miss is the battery's: 1 kWh out within the half hour.
    assert energies[19 * 60] - energies[19 * 60 + 30] > 1000.0


def _soaking_load(
    name: str, power_w: float, priority: int, **changes: object
) -> FlexibleLoad:
    """Return a load needing enough to soak the whole sunny day."""
    values: dict[str, object] = {
        "name": name,
        "power_w": power_w,
        "energy_wh_per_day": power_w * 4,
        "priority": priority,
        "min_on": timedelta(minutes=30),
        "min_off": timedelta(minutes=10),
    }
    values.update(changes)
    return FlexibleLoad(**values)  # type: ignore[arg-type]  # test factory


def test_a_cloud_under_three_soaking_loads_does_not_raise_the_billed_peak() -> None:
    """Three loads soak a 7 kW surplus; a cloud takes it 10:20-10:50, while the
    heater and the pump are in their minimum on time: they are shed and the
    month's billed peak stays near the night's."""
    tariff = Tariff(FixedPrice(0.20), FixedPrice(0.05), 60, demand_charge_per_kw=10)
    loads = [
        _soaking_load("heater", 2000.0, 2),
        _soaking_load("pump", 1000.0, 1),
        _soaking_load(
            "router", 3000.0, 0, control=LoadControl.ADJUSTABLE, min_on=timedelta(0)
        ),
    ]

    def base(minute: int) -> float:
        """Return 500 W of house load, less a 7 kW surplus from 10:00 to 16:00."""
        return -7000.0 if 600 <= minute < 960 else 500.0

    controller = FlexibleLoadsController(
        tariff,
        loads,
        lambda start, steps: [
            base(int((start - START) / MINUTE) + 15 * index) for index in range(steps)
        ],
    )
    grid_w, powers = 0.0, {load.name: 0.0 for load in loads}
    shed: set[str] = set()
    for minute in range(16 * 60):
        now = START + minute * MINUTE
        result = controller.run(now, Measurement(grid_w, dict(powers)))
        powers = {d.name: d.power_w for d in result.decisions}
        if 620 <= minute < 650:
            shed |= {
                d.name for d in result.decisions if d.reason is LoadReason.PEAK_LIMIT
            }
        cloud = 620 <= minute < 650
        grid_w = (7500.0 if cloud else 0.0) + base(minute) + sum(powers.values())
    # The soaking was real: the loads drew most of their needs in the sun.
    assert controller.books["heater"].delivered_wh > 4000.0
    assert shed >= {"heater", "pump"}
    # One minute at the loads' power before they are shed: well under 1.5 kW
    # averaged over the quarter-hour, not the 6 kW of three loads left on.
    assert controller.billed_peak_w(now) < 1500.0


def test_the_loads_start_one_a_tick_and_are_shed_past_the_peak() -> None:
    """Under a billed peak the real-time layer starts one load a tick and sheds
    the lowest priority first when the import is past the peak."""
    now = START + timedelta(minutes=30)
    tick = MINUTE
    export = project(now, START + HOUR, -4000.0, -6000.0)
    held = timedelta(minutes=30)
    heater = FlexibleLoad("heater", 2000, 4000, priority=2, min_on=held)
    pump = FlexibleLoad("pump", 1000, 4000, priority=1, min_on=held)
    lives = [
        LoadLive(heater, 0.0, None, 4000.0, START + 10 * HOUR),
        LoadLive(pump, 0.0, None, 4000.0, START + 10 * HOUR),
    ]
    decisions = decide(now, export, lives, None, tick, headroom_w=9000.0)
    assert [(d.name, d.reason) for d in decisions] == [
        ("heater", LoadReason.SOAKING_SURPLUS),
        ("pump", LoadReason.PEAK_LIMIT),
    ]
    # Both on in their minimum on time, the import 1.5 kW past the peak.
    on = [
        LoadLive(heater, 2000.0, now - tick, 4000.0, START + 10 * HOUR),
        LoadLive(pump, 1000.0, now - tick, 4000.0, START + 10 * HOUR),
    ]
    importing = project(now, START + HOUR, 500.0, 1000.0)
    decisions = decide(now, importing, on, None, tick, headroom_w=-1500.0)
    assert [(d.name, d.power_w, d.reason) for d in decisions] == [
        ("heater", 0.0, LoadReason.PEAK_LIMIT),
        ("pump", 0.0, LoadReason.PEAK_LIMIT),
    ]
    # 1 kW past it: the pump (the lower priority) alone is shed.
    decisions = decide(now, importing, on, None, tick, headroom_w=-1000.0)
    assert [(d.name, d.reason) for d in decisions] == [
        ("heater", LoadReason.MIN_ON_TIME),
        ("pump", LoadReason.PEAK_LIMIT),
    ]
