"""The battery's part of a flexible loads plan, as the battery manager follows it."""

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    BatteryNow,
    FixedPrice,
    PlanRequest,
    Tariff,
    plan,
    time_of_use,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.battery_part import (
    battery_part,
)

START = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
# Cheap 02:00-04:00, dear 18:00-21:00; no netting, so each slot stands alone.
PRICES = time_of_use(
    [
        ("00:00", 0.30),
        ("02:00", 0.05),
        ("04:00", 0.30),
        ("18:00", 0.50),
        ("21:00", 0.30),
    ]
)
TARIFF = Tariff(PRICES, FixedPrice(0.05), 0)


def _part(base: list[float], battery: BatteryNow) -> list[tuple[str, str, float]]:
    """Plan the battery alone on ``base``; return each slot's mode, reason, SOC."""
    made = plan(PlanRequest(START, base, TARIFF, [], battery))
    imports, _ = TARIFF.prices(made.start, made.step, len(base))
    part = battery_part(
        made,
        imports,
        battery.energy_wh,
        10000.0,
        efficiency=battery.efficiency,
        made_at=START,
    )
    assert part.saving is None
    assert [slot.start for slot in part.slots] == [
        START + index * timedelta(minutes=15) for index in range(len(base))
    ]
    return [(slot.mode.value, slot.reason.value, slot.soc) for slot in part.slots]


def test_cheap_slots_charge_and_dear_ones_discharge() -> None:
    """500 W all day: bought at 0.05 from the grid, spent at 0.50 and 0.30."""
    slots = _part([500.0] * 96, BatteryNow(10000, 3000, 2000, reserve_wh=1000))
    cheap = {(mode, reason) for mode, reason, _ in slots[8:16]}
    assert ("charge", "cheap_hour") in cheap
    assert {(mode, reason) for mode, reason, _ in slots[72:84]} == {
        ("sell", "dear_hour")
    }
    # The SOC rises through the cheap hours and falls through the dear ones.
    assert slots[15][2] > slots[7][2]
    assert slots[83][2] < slots[71][2]
    assert all(10.0 - 1e-6 <= soc <= 100.0 for _, _, soc in slots)


def test_a_surplus_stored_is_soaked_at_rest_not_bought() -> None:
    """A midday surplus the battery takes is ``soaking_surplus``, mode rest."""
    base = [-2000.0 if 40 <= index < 56 else 500.0 for index in range(96)]
    slots = _part(base, BatteryNow(10000, 3000, 1000, reserve_wh=1000))
    midday = {(mode, reason) for mode, reason, _ in slots[40:56]}
    assert ("rest", "soaking_surplus") in midday
    assert all(mode != "charge" for mode, _ in midday)


def test_the_charge_power_may_differ_from_the_discharge_power() -> None:
    """A 1 kW charger: no slot charges faster, however cheap."""
    battery = BatteryNow(10000, 3000, 1000, reserve_wh=1000, charge_w=1000)
    made = plan(PlanRequest(START, [500.0] * 96, TARIFF, [], battery))
    assert max(made.battery_w) == pytest.approx(1000.0, abs=1e-3)
    # It discharges to cover the 500 W, above the charger's 1 kW no more.
    assert min(made.battery_w) == pytest.approx(-500.0, abs=1e-3)
