"""One plan of the loads and the battery: a flexible loads entry and a battery manager.

The battery manager owns the battery (its BMS sensors and the inverter's
mode select); the flexible loads entry plans that battery with its loads
under its tariff, and the manager follows the battery's part of the plan
in place of its own price plan: it charges in the cheap slot the plan
chose, discharges in the dear hours, and says whose plan it follows. When
the plan goes stale, or its entry unloads, the manager is back on its own
price plan at its next step.
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.controller.battery_plan import (
    async_loads_plan,
    async_plannable_batteries,
    async_post_battery,
    async_post_loads_plan,
)
from custom_components.energy_orchestrator.controller.site_decisions import (
    async_output_changes,
)
from tests.integration.controllers.test_battery_manager import (
    BMS_SOC,
    STATE,
    inverter,
    manager_entry,
    pack_voltage,
    set_battery,
    setup,
)
from tests.integration.controllers.test_flexible_loads import (
    COST,
    METER,
    _entry,
    _meter,
    give_a_day,
    helpers,
)

# The fixtures, shared with the battery manager's and the loads' tests.
__all__ = ["helpers", "inverter"]

PLAN = "sensor.house_battery_price_plan"
MODE_SELECT = "input_select.inverter_mode"
NOW = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
# Cheap from 02:00 to 04:00, dear from 18:00 to 21:00 (UTC, the site's zone).
CHEAP_AND_DEAR = "00:00 0.30, 02:00 0.05, 04:00 0.30, 18:00 0.50, 21:00 0.30"

pytestmark = pytest.mark.usefixtures("helpers", "inverter")


async def _refresh(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Take one step of an entry."""
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


async def _site(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, **loads_options: Any
) -> tuple[MockConfigEntry, MockConfigEntry]:
    """Set up the manager (no tariff of its own) and the loads with a day of history."""
    freezer.move_to(NOW)
    await hass.config.async_set_time_zone("UTC")
    set_battery(hass, pack_voltage(0.3), 0.0, soc=30)
    await _meter(hass, 300)
    battery = manager_entry()
    await setup(hass, battery)
    # The first step has no SOC yet: the second posts the battery.
    await _refresh(hass, battery)
    loads = _entry(time_of_use=CHEAP_AND_DEAR, **loads_options)
    loads.add_to_hass(hass)
    assert await hass.config_entries.async_setup(loads.entry_id)
    await hass.async_block_till_done()
    _seed(loads)
    await _refresh(hass, loads)
    await _refresh(hass, battery)
    return battery, loads


def _seed(loads: MockConfigEntry) -> None:
    """Give the loads' forecast yesterday's site: 300 W all day, without PV."""
    coordinator = loads.runtime_data.coordinator
    give_a_day(coordinator, NOW - timedelta(days=1), 300.0)


async def _step(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    delta: timedelta,
    *entries: MockConfigEntry,
) -> None:
    """Let time pass, then step the entries in turn (the manager first)."""
    freezer.tick(delta)
    # The meter and the BMS report again, as they do every few seconds.
    await _meter(hass, 300)
    soc = float(hass.states.get(BMS_SOC).state)
    set_battery(hass, pack_voltage(soc / 100), 0.0, soc=soc)
    for entry in entries:
        await _refresh(hass, entry)


def _slots(rows: list[dict[str, Any]], hour: int) -> set[tuple[str, str]]:
    """Return the modes and reasons the plan has in one hour (UTC)."""
    return {
        (row["mode"], row["reason"])
        for row in rows
        if datetime.fromisoformat(row["start"]).hour == hour
    }


async def test_the_manager_charges_when_the_loads_plan_says_and_says_why(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Cheap at 02:00, dear at 18:00: one plan, the manager follows it."""
    battery, loads = await _site(hass, freezer)
    assert hass.states.get(COST).attributes["planned_battery"] == "House battery"
    plan = hass.states.get(PLAN)
    assert plan.attributes["follows"] == "flexible_loads"
    assert plan.attributes["planned_by"] == "Flexible loads"
    rows = plan.attributes["plan"]
    assert len(rows) == 96
    assert ("charge", "cheap_hour") in _slots(rows, 2) | _slots(rows, 3)
    # Hourly netting: the hour's discharge in one of its slots.
    assert ("sell", "dear_hour") in _slots(rows, 19)
    # Not bought at 0.30 when 0.05 comes at 02:00.
    assert all(mode != "charge" for mode, _ in _slots(rows, 0) | _slots(rows, 1))
    # The SOC the plan reaches, within the manager's limits.
    assert max(row["soc"] for row in rows) > 30.0
    # The water heater's need goes into the cheap hours too.
    heater = hass.states.get("sensor.water_heater_state").attributes["plan"]
    assert {row["power"] for row in heater if row["start"][11:13] in {"02", "03"}} == {
        2000
    }

    # Through the cheap hours (re-planned each quarter hour): the manager is
    # in the plan's mode of each slot, and charges in some, for its reason.
    await _step(hass, freezer, timedelta(hours=2), battery, loads, battery)
    charged = []
    for _ in range(8):
        await _step(hass, freezer, timedelta(minutes=15), battery, loads, battery)
        state = hass.states.get(STATE)
        plan = hass.states.get(PLAN)
        assert plan.attributes["follows"] == "flexible_loads"
        assert state.state == plan.state
        if state.state == "charge":
            assert state.attributes["reason"] == "cheap_hour"
            assert hass.states.get(MODE_SELECT).state == "Charge"
            change = async_output_changes(hass)[MODE_SELECT]
            assert (change.value, change.reason, change.layer.name) == (
                "Charge",
                "cheap_hour",
                "SITE_PLAN",
            )
            charged.append(state.attributes["reason"])
    assert charged

    # The dear hours (the battery charged meanwhile): it discharges.
    set_battery(hass, pack_voltage(0.8), 0.0, soc=80)
    await _step(hass, freezer, timedelta(hours=16), battery, loads, battery)
    sold = []
    for _ in range(8):
        await _step(hass, freezer, timedelta(minutes=15), battery, loads, battery)
        state = hass.states.get(STATE)
        assert state.state == hass.states.get(PLAN).state
        if state.state == "sell":
            assert state.attributes["reason"] == "dear_hour"
            assert hass.states.get(MODE_SELECT).state == "Sell"
            change = async_output_changes(hass)[MODE_SELECT]
            assert (change.value, change.reason) == ("Sell", "dear_hour")
            sold.append(state.attributes["reason"])
    assert sold


async def test_a_stale_or_withdrawn_plan_hands_back_to_the_own_price_plan(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The manager's own tariff (flat: rest) takes over at its next step."""
    battery, loads = await _site(hass, freezer)
    # Its own tariff from now on: a flat price, where no cycle pays.
    hass.config_entries.async_update_entry(
        battery, options={**battery.options, "import_price": 0.25}
    )
    await hass.config_entries.async_reload(battery.entry_id)
    await hass.async_block_till_done()
    await _step(hass, freezer, timedelta(minutes=15), battery, loads, battery)
    assert hass.states.get(PLAN).attributes["follows"] == "flexible_loads"

    # The loads stop stepping: a minute on, their plan is stale.
    await _step(hass, freezer, timedelta(minutes=1), battery)
    plan = hass.states.get(PLAN)
    assert plan.attributes["follows"] == "own_prices"
    assert plan.attributes["planned_by"] == "House battery"
    assert plan.state == "rest"
    assert hass.states.get(STATE).attributes["reason"] == "holding_charge"

    # Fresh again, then the loads entry unloads: withdrawn at once.
    await _step(hass, freezer, timedelta(seconds=10), loads, battery)
    assert hass.states.get(PLAN).attributes["follows"] == "flexible_loads"
    assert await hass.config_entries.async_unload(loads.entry_id)
    await hass.async_block_till_done()
    assert async_loads_plan(hass, NOW + timedelta(minutes=16), battery.entry_id) is None
    await _step(hass, freezer, timedelta(seconds=10), battery)
    assert hass.states.get(PLAN).attributes["follows"] == "own_prices"

    # And the manager unloaded, the loads plan without a battery.
    assert await hass.config_entries.async_setup(loads.entry_id)
    await hass.async_block_till_done()
    # (The recorder, absent here, gives a restarted entry its history.)
    _seed(loads)
    await _step(hass, freezer, timedelta(seconds=10), loads)
    assert hass.states.get(COST).attributes["planned_battery"] == "House battery"
    assert await hass.config_entries.async_unload(battery.entry_id)
    await hass.async_block_till_done()
    await _step(hass, freezer, timedelta(seconds=10), loads)
    assert hass.states.get(COST).attributes["planned_battery"] is None
    assert loads.runtime_data.coordinator.controller.battery is None

    # The manager back (a restart of it): planned again, and followed, at
    # the next steps.
    assert await hass.config_entries.async_setup(battery.entry_id)
    await hass.async_block_till_done()
    await _step(hass, freezer, timedelta(seconds=10), loads, battery)
    assert hass.states.get(COST).attributes["planned_battery"] == "House battery"
    assert hass.states.get(PLAN).attributes["follows"] == "flexible_loads"


async def test_without_the_option_the_loads_plan_leaves_the_battery_alone(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Option off: no battery in the loads plan, the manager on its windows."""
    battery, loads = await _site(hass, freezer, plan_battery=False)
    assert hass.states.get(COST).attributes["planned_battery"] is None
    coordinator = loads.runtime_data.coordinator
    assert coordinator.controller.battery is None
    assert coordinator.controller.plan is not None
    assert set(coordinator.controller.plan.battery_w) == {0.0}
    assert async_loads_plan(hass, NOW, battery.entry_id) is None
    plan = hass.states.get(PLAN)
    assert plan.state == "unknown"
    assert plan.attributes["follows"] is None
    assert hass.states.get(METER) is not None


async def test_with_two_battery_managers_the_plan_covers_neither(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Which battery would be a guess: none is planned, the managers on their own."""
    battery, loads = await _site(hass, freezer)
    assert hass.states.get(COST).attributes["planned_battery"] == "House battery"
    (posted,) = async_plannable_batteries(hass, NOW)
    # A second manager's post, of another battery.
    async_post_battery(
        hass,
        "garage",
        replace(
            posted, entry_id="garage", source="Garage battery", devices=frozenset()
        ),
    )
    await _step(hass, freezer, timedelta(seconds=10), battery, loads, battery)
    assert hass.states.get(COST).attributes["planned_battery"] is None
    assert loads.runtime_data.coordinator.controller.battery is None
    assert hass.states.get(PLAN).attributes["follows"] is None
    async_post_battery(hass, "garage", None)


async def test_of_two_loads_entries_one_plans_the_battery_and_the_other_steps_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first by entry id plans it, both see that alike: no taking turns."""
    battery, loads = await _site(hass, freezer)
    own = async_loads_plan(hass, NOW, battery.entry_id)
    assert own is not None
    assert own.entry_id == loads.entry_id
    # Another loads entry, first by id, plans the same battery.
    other = replace(own, entry_id="a_first", source="Other loads")
    async_post_loads_plan(hass, "a_first", other)
    await _step(hass, freezer, timedelta(seconds=10), loads, battery)
    assert loads.runtime_data.coordinator.controller.battery is None
    assert hass.states.get(COST).attributes["planned_battery"] is None
    assert "House battery is planned by another flexible loads entry" in caplog.text
    followed = async_loads_plan(hass, NOW + timedelta(seconds=10), battery.entry_id)
    assert followed is not None
    assert followed.entry_id == "a_first"
    assert hass.states.get(PLAN).attributes["planned_by"] == "Other loads"

    # One that comes after it by id steps back instead.
    async_post_loads_plan(hass, "a_first", None)
    await _step(hass, freezer, timedelta(seconds=10), loads, battery)
    assert hass.states.get(COST).attributes["planned_battery"] == "House battery"
    mine = async_loads_plan(hass, NOW + timedelta(seconds=20), battery.entry_id)
    assert mine is not None
    async_post_loads_plan(hass, "z_later", replace(mine, entry_id="z_later"))
    await _step(hass, freezer, timedelta(seconds=10), loads, battery)
    assert hass.states.get(COST).attributes["planned_battery"] == "House battery"
    followed = async_loads_plan(hass, NOW + timedelta(seconds=30), battery.entry_id)
    assert followed is not None
    assert followed.entry_id == loads.entry_id
