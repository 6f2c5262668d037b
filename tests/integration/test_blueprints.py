"""The blueprints: loaded by Home Assistant's own loader, used against real controllers."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.helpers import async_get_blueprints
from homeassistant.components.input_boolean import DOMAIN as INPUT_BOOLEAN
from homeassistant.components.input_button import DOMAIN as INPUT_BUTTON
from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from tests.integration.controllers.peak_and_car import peak_shaving_entry

ROOT = Path(__file__).parents[2]
BLUEPRINTS = ROOT / "blueprints" / "automation" / DOMAIN
REPOSITORY = "https://github.com/energy-orchestrator/energy-orchestrator/blob/main/"
# Noon in the integration's test time zone (US/Pacific).
T0 = datetime(2026, 6, 1, 19, tzinfo=UTC)

GRID = "sensor.meter_grid_power"
BATTERY = "sensor.inverter_battery_power"
SOC = "sensor.bms_soc"
EV = "sensor.wallbox_power"
BUTTON = "input_button.beside_the_wallbox"
LOAD = "input_boolean.water_heater"
SCHEDULE = "input_boolean.billing_months"
SHAVING_STATE = "sensor.peak_shaving"
IMPORT_LIMIT = "sensor.peak_shaving_active_import_limit"


@pytest.fixture
async def blueprint_folder(hass: HomeAssistant, tmp_path: Path) -> None:
    """A configuration folder holding the repository's blueprints, as a user imports them."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / DOMAIN)


@pytest.fixture
async def site(hass: HomeAssistant) -> None:
    """The site's readings, the outputs the controllers write and the user's helpers."""
    # Always there in a running Home Assistant: homeassistant.turn_on and off.
    assert await async_setup_component(hass, "homeassistant", {})
    for entity, value in ((GRID, "500"), (BATTERY, "0"), (EV, "0"), (SOC, "60")):
        unit = "%" if entity == SOC else "W"
        hass.states.async_set(entity, value, {"unit_of_measurement": unit})
    assert await async_setup_component(
        hass,
        INPUT_NUMBER,
        {
            INPUT_NUMBER: {
                "wallbox_current": {"min": 0, "max": 32},
                "battery_setpoint": {"min": -5000, "max": 5000, "step": 1},
            }
        },
    )
    assert await async_setup_component(
        hass,
        INPUT_BOOLEAN,
        {
            INPUT_BOOLEAN: {
                "wallbox_charging": {},
                "water_heater": {},
                "billing_months": {},
            }
        },
    )
    assert await async_setup_component(
        hass, INPUT_BUTTON, {INPUT_BUTTON: {"beside_the_wallbox": {}}}
    )


async def add(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Set up a controller entry."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def wallbox_manager() -> MockConfigEntry:
    """A wallbox manager whose button mode waits for the sun."""
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Wallbox",
        data={
            CONF_KIND: "wallbox_manager",
            "grid_power_entity": GRID,
            "ev_power_entity": EV,
            "charger_current_entity": "input_number.wallbox_current",
            "charger_enable_entity": "input_boolean.wallbox_charging",
        },
        options={
            "min_current_a": 6.0,
            "max_current_a": 16.0,
            "min_phase_switch_minutes": 10.0,
            "charge_now_mode": "solar",
        },
    )


async def automate(hass: HomeAssistant, blueprint: str, inputs: dict[str, Any]) -> None:
    """Set up one automation from a blueprint; it must be valid and on."""
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": "from_blueprint",
                "alias": "From the blueprint",
                "use_blueprint": {"path": f"{DOMAIN}/{blueprint}", "input": inputs},
            }
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get("automation.from_the_blueprint").state == "on"


async def press(
    hass: HomeAssistant, *, until: Callable[[], bool] | None = None
) -> None:
    """Press the button; wait for the automation, or only ``until`` it is so.

    A boost waits out its delay: waiting for the automation to end would
    wait for ever on a frozen clock.
    """
    await hass.services.async_call(
        INPUT_BUTTON, "press", {"entity_id": BUTTON}, blocking=True
    )
    if until is None:
        await hass.async_block_till_done()
        return
    for _ in range(100):
        if until():
            return
        await asyncio.sleep(0)
    raise AssertionError("the automation did not get there")


def load_on(hass: HomeAssistant) -> Callable[[], bool]:
    """Return a check that the boosted load runs."""
    return lambda: hass.states.get(LOAD).state == "on"


@pytest.mark.usefixtures("blueprint_folder")
async def test_every_blueprint_loads_and_names_its_place(hass: HomeAssistant) -> None:
    """Home Assistant's loader takes each file; its source URL is where it lives."""
    blueprints = async_get_blueprints(hass)
    files = sorted(BLUEPRINTS.glob("*.yaml"))
    assert [path.name for path in files] == [
        "charge_now_sun_first.yaml",
        "load_boost.yaml",
        "peak_shaving_billing_month.yaml",
    ]
    for path in files:
        blueprint = await blueprints.async_get_blueprint(f"{DOMAIN}/{path.name}")
        assert blueprint.validate() is None, path.name
        assert blueprint.metadata["source_url"] == REPOSITORY + str(
            path.relative_to(ROOT)
        )


@pytest.mark.usefixtures("blueprint_folder", "site")
async def test_the_wallbox_button_charges_by_the_time_the_car_leaves(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """UC001: a press beside the wallbox, sun first, the car full by 07:30."""
    freezer.move_to(T0)
    entry = await add(hass, wallbox_manager())
    await automate(
        hass,
        "charge_now_sun_first.yaml",
        {
            "button": BUTTON,
            "wallbox_manager": entry.entry_id,
            "target_energy": 25,
            "departure": "07:30:00",
        },
    )
    assert hass.states.get("select.wallbox_charging_mode").state == "off"
    await press(hass)
    assert hass.states.get("select.wallbox_charging_mode").state == "deadline"
    memory = entry.runtime_data.coordinator.manager.memory
    assert memory.target_energy_wh == 25_000
    # It is noon: the car leaves tomorrow morning, local time.
    tomorrow = dt_util.as_local(T0).date() + timedelta(days=1)
    assert memory.deadline is not None
    leaves = dt_util.as_local(memory.deadline)
    assert (leaves.date(), leaves.hour, leaves.minute) == (tomorrow, 7, 30)


@pytest.mark.usefixtures("blueprint_folder", "site")
async def test_a_button_in_another_mode_starts_it_without_a_deadline(
    hass: HomeAssistant,
) -> None:
    entry = await add(hass, wallbox_manager())
    await automate(
        hass,
        "charge_now_sun_first.yaml",
        {"button": BUTTON, "wallbox_manager": entry.entry_id, "mode": "solar_battery"},
    )
    await press(hass)
    assert hass.states.get("select.wallbox_charging_mode").state == "solar_battery"
    assert entry.runtime_data.coordinator.manager.memory.deadline is None


@pytest.mark.usefixtures("blueprint_folder", "site")
async def test_peak_shaving_runs_while_the_schedule_is_on(hass: HomeAssistant) -> None:
    """The billing month's schedule starts and stops it; a restart follows it."""
    entry = await add(hass, peak_shaving_entry())
    await automate(
        hass,
        "peak_shaving_billing_month.yaml",
        {"schedule": SCHEDULE, "peak_shaving": entry.entry_id},
    )
    # The schedule is off: the start of Home Assistant stops peak shaving.
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    assert hass.states.get(SHAVING_STATE).state == "stopped"
    await hass.services.async_call(
        INPUT_BOOLEAN, "turn_on", {"entity_id": SCHEDULE}, blocking=True
    )
    await hass.async_block_till_done()
    assert hass.states.get(SHAVING_STATE).state != "stopped"
    await hass.services.async_call(
        INPUT_BOOLEAN, "turn_off", {"entity_id": SCHEDULE}, blocking=True
    )
    await hass.async_block_till_done()
    assert hass.states.get(SHAVING_STATE).state == "stopped"


@pytest.mark.usefixtures("blueprint_folder", "site")
async def test_a_new_billing_month_can_start_a_new_billed_peak(
    hass: HomeAssistant,
) -> None:
    entry = await add(hass, peak_shaving_entry())
    coordinator = entry.runtime_data.coordinator
    coordinator.shaver.meter.billed_peak_w = 2500.0
    await automate(
        hass,
        "peak_shaving_billing_month.yaml",
        {
            "schedule": SCHEDULE,
            "peak_shaving": entry.entry_id,
            "reset_billed_peak": True,
        },
    )
    await hass.services.async_call(
        INPUT_BOOLEAN, "turn_on", {"entity_id": SCHEDULE}, blocking=True
    )
    await hass.async_block_till_done()
    # Reset, then a step at 500 W of import.
    assert coordinator.shaver.meter.billed_peak_w < 2500


@pytest.mark.usefixtures("blueprint_folder", "site")
async def test_a_load_boost_raises_peak_shaving_s_limit_for_its_time(
    hass: HomeAssistant,
) -> None:
    """The grid carries the boost: the limit is raised by the load's power.

    The limit returns by itself when the action's duration ends (that is the
    action's own test); the load's end is the next test's.
    """
    entry = await add(hass, peak_shaving_entry())
    assert float(hass.states.get(IMPORT_LIMIT).state) == 3000
    await automate(
        hass,
        "load_boost.yaml",
        {
            "button": BUTTON,
            "load": LOAD,
            "duration": {"minutes": 30},
            "peak_shaving": entry.entry_id,
            "import_limit": IMPORT_LIMIT,
            "load_power": 2000,
        },
    )
    await press(hass, until=load_on(hass))
    assert float(hass.states.get(IMPORT_LIMIT).state) == 5000
    override = entry.runtime_data.coordinator.shaver.memory.override
    assert override is not None
    assert override.until is not None
    left = override.until - dt_util.utcnow()
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)
    # A second press while it runs changes nothing.
    await press(hass, until=load_on(hass))
    assert float(hass.states.get(IMPORT_LIMIT).state) == 5000


@pytest.mark.usefixtures("blueprint_folder", "site")
async def test_a_load_boost_without_peak_shaving_runs_the_load_for_its_time(
    hass: HomeAssistant,
) -> None:
    await automate(
        hass,
        "load_boost.yaml",
        {"button": BUTTON, "load": LOAD, "duration": {"seconds": 1}},
    )
    await press(hass, until=load_on(hass))
    # The automation ends after its delay, a second of the real clock.
    await hass.async_block_till_done()
    assert hass.states.get(LOAD).state == "off"
