"""The wallbox manager entry in Home Assistant: flow, commands, button, actions."""

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.input_boolean import DOMAIN as INPUT_BOOLEAN
from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.components.input_select import DOMAIN as INPUT_SELECT
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from tests.integration.texts import errors_shown

GRID = "sensor.meter_grid_power"
EV = "sensor.wallbox_power"
CURRENT = "input_number.wallbox_current"
ENABLE = "input_boolean.wallbox_charging"
PHASES = "input_select.wallbox_phases"
STATE = "sensor.wallbox"
MODE = "select.wallbox_charging_mode"
T0 = datetime(2026, 6, 1, 10, tzinfo=UTC)


@pytest.fixture
async def wallbox(hass: HomeAssistant) -> None:
    """A wallbox of another integration: current, switch, phase select."""
    assert await async_setup_component(
        hass, INPUT_NUMBER, {INPUT_NUMBER: {"wallbox_current": {"min": 0, "max": 32}}}
    )
    assert await async_setup_component(
        hass, INPUT_BOOLEAN, {INPUT_BOOLEAN: {"wallbox_charging": {}, "pv_bundle": {}}}
    )
    assert await async_setup_component(
        hass, INPUT_SELECT, {INPUT_SELECT: {"wallbox_phases": {"options": ["1", "3"]}}}
    )


def site(hass: HomeAssistant, export: float) -> None:
    """The meter shows the export left after the car (the car takes what is set)."""
    charging = hass.states.get(ENABLE).state == "on"
    car = 0.0
    if charging:
        car = (
            float(hass.states.get(CURRENT).state)
            * 230
            * int(hass.states.get(PHASES).state)
        )
    hass.states.async_set(EV, str(car), {"unit_of_measurement": "W"}, force_update=True)
    hass.states.async_set(
        GRID, str(car - export), {"unit_of_measurement": "W"}, force_update=True
    )


@pytest.fixture
def entry() -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Wallbox",
        data={
            CONF_KIND: "wallbox_manager",
            "grid_power_entity": GRID,
            "ev_power_entity": EV,
            "charger_current_entity": CURRENT,
            "charger_enable_entity": ENABLE,
            "charger_phases_entity": PHASES,
            "pv_routing_entity": "input_boolean.pv_bundle",
        },
        options={
            "min_current_a": 6.0,
            "max_current_a": 16.0,
            "min_phase_switch_minutes": 10.0,
            "charge_now_mode": "solar",
        },
    )


async def step(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    export: float,
) -> None:
    freezer.tick(timedelta(minutes=1))
    site(hass, export)
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


@pytest.mark.usefixtures("wallbox")
async def test_charge_now_follows_the_sun_and_switches_phases(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    freezer.move_to(T0)
    site(hass, 2500)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(MODE).state == "off"
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.wallbox_charge_now"}, blocking=True
    )
    await step(hass, entry, freezer, 2500)
    await step(hass, entry, freezer, 2500)
    assert hass.states.get(STATE).state == "charging"
    assert hass.states.get(ENABLE).state == "on"
    assert float(hass.states.get(CURRENT).state) == 10
    assert hass.states.get(PHASES).state == "1"
    # On one phase the PV is bundled onto the wallbox's phase.
    assert hass.states.get("input_boolean.pv_bundle").state == "on"
    # The sun comes out: three phases, switched with the car stopped.
    seen: list[tuple[str, str]] = []
    for _ in range(15):
        await step(hass, entry, freezer, 7000)
        seen.append((hass.states.get(ENABLE).state, hass.states.get(PHASES).state))
    assert ("off", "3") in seen
    assert ("on", "1") not in seen[seen.index(("off", "3")) :]
    assert seen[-1] == ("on", "3")
    assert hass.states.get("input_boolean.pv_bundle").state == "off"
    assert hass.states.get("sensor.wallbox_phases_in_use").state == "3"
    assert float(hass.states.get(CURRENT).state) == 10  # 7000 / 690
    # Unloading stops the car and keeps the session.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(ENABLE).state == "off"
    saved = hass_storage[f"{DOMAIN}.wallbox_manager.{entry.entry_id}"]["data"]
    assert saved["mode"] == "solar"
    assert saved["session_wh"] > 0


@pytest.mark.usefixtures("wallbox")
async def test_actions(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    site(hass, 0)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await hass.services.async_call(
        DOMAIN,
        "start_charging",
        {
            "config_entry_id": entry.entry_id,
            "mode": "deadline",
            "target_energy": 5,
            "deadline": (T0 + timedelta(hours=8)).isoformat(),
        },
        blocking=True,
    )
    assert hass.states.get(MODE).state == "deadline"
    start = hass.states.get("sensor.wallbox_deadline_charging_starts").state
    # 5 kWh on one phase (3.68 kW) takes 1 h 22 min, plus 15 min to spare.
    expected = T0 + timedelta(hours=8) - timedelta(hours=5 / 3.68, minutes=15)
    assert abs(datetime.fromisoformat(start) - expected) < timedelta(seconds=1)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "start_charging",
            {"config_entry_id": entry.entry_id, "mode": "deadline"},
            blocking=True,
        )
    assert err.value.translation_key == "invalid_request"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "select",
            "select_option",
            {"entity_id": MODE, "option": "deadline"},
            blocking=True,
        )
    assert err.value.translation_key == "deadline_needs_action"
    await hass.services.async_call(
        DOMAIN,
        "set_charger_phases",
        {"config_entry_id": entry.entry_id, "phases": "one"},
        blocking=True,
    )
    assert hass.states.get("select.wallbox_phases").state == "one"
    await hass.services.async_call(
        DOMAIN, "stop_charging", {"config_entry_id": entry.entry_id}, blocking=True
    )
    assert hass.states.get(MODE).state == "off"


async def test_config_flow_needs_a_switch(hass: HomeAssistant, wallbox: None) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "wallbox_manager"}
    )
    form = {
        "name": "Wallbox",
        "grid_power_entity": GRID,
        "ev_power_entity": EV,
        "charger_current_entity": CURRENT,
        "min_current_a": 6,
        "max_current_a": 16,
        "min_phase_switch_minutes": 10,
        "charge_now_mode": "solar_battery",
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["errors"] == {"charger_enable_entity": "enable_required"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**form, "charger_enable_entity": ENABLE, "max_current_a": 4}
    )
    assert result["errors"] == {"base": "invalid"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**form, "charger_enable_entity": ENABLE}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["kind"] == "wallbox_manager"
    assert result["options"]["charge_now_mode"] == "solar_battery"


@pytest.mark.usefixtures("wallbox")
async def test_options_flow_changes_the_limits(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    site(hass, 0)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "wallbox_manager"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**entry.options, "min_current_a": 20}
    )
    assert errors_shown(result, ("options",)) == {
        "base": "Invalid value: currents must satisfy 0 < minimum <= maximum <= 80 A"
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**entry.options, "max_current_a": 32}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options["max_current_a"] == 32
    # The entry started again with the new limit.
    assert entry.runtime_data.coordinator.manager.limits.max_current_a == 32


@pytest.mark.usefixtures("wallbox")
async def test_the_selects_start_stop_and_force_phases(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A wallbox without a phase select cannot be forced onto three phases."""
    site(hass, 0)
    entry.add_to_hass(hass)
    data = {k: v for k, v in entry.data.items() if k != "charger_phases_entity"}
    hass.config_entries.async_update_entry(entry, data=data)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    async def select(entity_id: str, option: str) -> None:
        await hass.services.async_call(
            "select",
            "select_option",
            {"entity_id": entity_id, "option": option},
            blocking=True,
        )

    await select(MODE, "fast")
    assert hass.states.get(MODE).state == "fast"
    await select(MODE, "off")
    assert hass.states.get(MODE).state == "off"
    await select("select.wallbox_phases", "one")
    assert hass.states.get("select.wallbox_phases").state == "one"
    with pytest.raises(ServiceValidationError) as err:
        await select("select.wallbox_phases", "three")
    assert err.value.translation_key == "invalid_request"
    assert err.value.translation_placeholders == {
        "error": "this wallbox cannot switch phases"
    }
    assert hass.states.get("select.wallbox_phases").state == "one"


@pytest.mark.parametrize(
    ("phases", "attributes", "error"),
    [
        ("select.phases", {"options": ["1", "2"]}, "select.phases offers 1, 2; not 3"),
        (
            "number.phases",
            {"min": 0, "max": 4, "step": 2},
            "number.phases moves in steps of 2 from 0; 1 or 3 is not one",
        ),
        (
            "number.phases",
            {"min": 1, "max": 2, "step": 1},
            "number.phases takes 1 to 2; phases are 1 and 3",
        ),
        ("number.phases", {"min": 1, "max": 3, "step": 2}, None),
        ("select.phases", {"options": ["3", "1"]}, None),
    ],
)
@pytest.mark.usefixtures("wallbox")
async def test_config_flow_checks_the_phase_control(
    hass: HomeAssistant, phases: str, attributes: dict[str, Any], error: str | None
) -> None:
    """A select must offer 1 and 3; a number must take both."""
    hass.states.async_set(phases, "1", attributes)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "wallbox_manager"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "name": "Wallbox",
            "grid_power_entity": GRID,
            "ev_power_entity": EV,
            "charger_current_entity": CURRENT,
            "charger_enable_entity": ENABLE,
            "charger_phases_entity": phases,
            "min_current_a": 6,
            "max_current_a": 16,
            "min_phase_switch_minutes": 10,
            "charge_now_mode": "solar",
        },
    )
    if error is None:
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"]["charger_phases_entity"] == phases
        return
    assert errors_shown(result) == {
        "charger_phases_entity": "The phase control cannot be set to one and to"
        f" three phases: {error}"
    }


@pytest.mark.usefixtures("wallbox")
async def test_a_manager_that_failed_to_start_stops_cleanly(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Found by the form sweep: stopping one never built raised AttributeError."""
    bad = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Wallbox",
        data=dict(entry.data),
        options={**entry.options, "pv_routing_share": float("nan")},
    )
    bad.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(bad.entry_id)
    assert bad.state is ConfigEntryState.SETUP_RETRY
    # Home Assistant's stop saves every controller's state: nothing to save here.
    await hass.async_stop(force=True)
