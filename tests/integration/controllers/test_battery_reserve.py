"""Peak shaving and a battery manager on one battery: selling leaves the evening's energy."""

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from custom_components.energy_orchestrator.controller.site_limits import (
    async_battery_reserve,
)
from tests.integration.controllers.test_battery_manager import (
    BMS_SOC,
    CURRENT,
    STATE,
    VOLTAGE,
    manager_entry as battery_manager_entry,
    set_battery,
)

POWER = "sensor.bms_power"
SETPOINT = "input_number.battery_setpoint"
GRID = "sensor.grid_power"
# A winter Monday, 16:45 UTC (the tests' time zone is set to UTC).
BEFORE_EVENING = datetime(2026, 1, 5, 16, 45, tzinfo=UTC)


@pytest.fixture
async def bms_device(hass: HomeAssistant) -> str:
    """A BMS of another integration: its sensors on one device; return its id."""
    await hass.config.async_set_time_zone("UTC")
    other = MockConfigEntry(domain="bms")
    other.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("bms", "pack-1")}, name="Pack"
    )
    registry = er.async_get(hass)
    for entity_id in (VOLTAGE, CURRENT, BMS_SOC, POWER):
        registry.async_get_or_create(
            "sensor",
            "bms",
            entity_id,
            suggested_object_id=entity_id.removeprefix("sensor."),
            config_entry=other,
            device_id=device.id,
        )
    assert await async_setup_component(
        hass,
        INPUT_NUMBER,
        {INPUT_NUMBER: {"battery_setpoint": {"min": -5000, "max": 5000, "step": 1}}},
    )
    assert await async_setup_component(
        hass,
        "input_select",
        {"input_select": {"inverter_mode": {"options": ["Standby", "Charge", "Sell"]}}},
    )
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"grid_charge": {}}}
    )
    return device.id


def manager_entry() -> MockConfigEntry:
    """A battery manager that sells from 50 % (its ceiling is below)."""
    return battery_manager_entry(soc_ceiling=40, soc_floor=10)


def peak_entry() -> MockConfigEntry:
    """Peak shaving on the same pack: 10 kWh, 3 kW."""
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Peak shaving",
        data={
            CONF_KIND: "peak_shaving",
            "grid_power_entity": GRID,
            "battery_power_entity": POWER,
            "battery_soc_entity": BMS_SOC,
            "battery_setpoint_entity": SETPOINT,
            "invert_setpoint": False,
        },
        options={
            "battery_capacity_kwh": 10.0,
            "battery_max_kw": 3.0,
            "battery_soc_min": 10.0,
            "battery_soc_max": 100.0,
            "billing_interval_minutes": "15",
        },
    )


def meters(hass: HomeAssistant) -> None:
    """The house takes 1 kW; the pack sits at 50 %, idle."""
    for entity, value, unit in ((GRID, 1000.0, "W"), (POWER, 0.0, "W")):
        hass.states.async_set(
            entity, str(value), {"unit_of_measurement": unit}, force_update=True
        )
    set_battery(hass, 53.0, 0.0, soc=50)


async def seen_evenings(peak: MockConfigEntry) -> None:
    """Feed two days of 1 kW with 4 kW from 17:00 to 22:00, as the recorder would; plan."""
    coordinator = peak.runtime_data.coordinator
    for index in range(2 * 288):
        moment = BEFORE_EVENING.replace(hour=0, minute=0) - timedelta(days=2)
        moment += index * timedelta(minutes=5)
        coordinator.shaver.observe(
            moment, 4000.0 if 17 <= moment.hour < 22 else 1000.0, 0
        )
    await coordinator.async_replan()


async def load(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add an entry and set it up."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_selling_stops_at_the_energy_the_evening_needs(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, bms_device: str
) -> None:
    """Before a 4 kW evening, the manager rests where it would sell; then sells."""
    freezer.move_to(BEFORE_EVENING)
    meters(hass)
    peak = peak_entry()
    await load(hass, peak)
    await seen_evenings(peak)
    now = BEFORE_EVENING
    reserve = async_battery_reserve(hass, now, frozenset({bms_device}))
    assert reserve is not None
    assert reserve.source == "Peak shaving"
    # The evening needs more than the pack's half it holds: all of it is kept.
    assert reserve.soc > 50
    assert hass.states.get("sensor.peak_shaving_planned_state_of_charge").attributes[
        "reserve"
    ] == pytest.approx(reserve.soc)
    # Another battery's device is not held.
    assert async_battery_reserve(hass, now, frozenset({"another"})) is None

    manager = manager_entry()
    await load(hass, manager)
    state = hass.states.get(STATE)
    assert state.state == "rest"
    assert state.attributes["peak_reserve"] == pytest.approx(reserve.soc)

    # Peak shaving gone: its reserve with it, and the manager sells.
    assert await hass.config_entries.async_unload(peak.entry_id)
    freezer.tick(timedelta(seconds=30))
    meters(hass)
    await manager.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    state = hass.states.get(STATE)
    assert state.state == "sell"
    assert state.attributes["peak_reserve"] is None
    assert hass.states.get("input_select.inverter_mode").state == "Sell"


async def test_a_manager_on_another_battery_sells_regardless(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, bms_device: str
) -> None:
    """Peak shaving on another pack holds nothing in this one."""
    freezer.move_to(BEFORE_EVENING)
    meters(hass)
    for entity, value in (("sensor.other_soc", "90"), ("sensor.other_power", "0")):
        hass.states.async_set(
            entity, value, {"unit_of_measurement": "%" if "soc" in entity else "W"}
        )
    peak = peak_entry()
    peak.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        peak,
        data={
            **peak.data,
            "battery_soc_entity": "sensor.other_soc",
            "battery_power_entity": "sensor.other_power",
        },
    )
    assert await hass.config_entries.async_setup(peak.entry_id)
    await hass.async_block_till_done()
    await seen_evenings(peak)
    assert (
        hass.states.get("sensor.peak_shaving_planned_state_of_charge").attributes[
            "reserve"
        ]
        > 50
    )
    manager = manager_entry()
    await load(hass, manager)
    assert hass.states.get(STATE).state == "sell"
    assert hass.states.get(STATE).attributes["peak_reserve"] is None
