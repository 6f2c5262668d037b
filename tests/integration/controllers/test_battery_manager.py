"""The battery manager entry in Home Assistant: flow, entities, outputs, restarts."""

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.input_boolean import DOMAIN as INPUT_BOOLEAN
from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.components.input_select import DOMAIN as INPUT_SELECT
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.battery_manager.settings import (
    default_options,
)
from custom_components.energy_orchestrator.const import (
    CONF_CONNECTION,
    CONF_KIND,
    DOMAIN,
    EVENT_BATTERY_TRANSITION,
)
from custom_components.energy_orchestrator.lib.control.battery_model import (
    Chemistry,
    cell_ocv,
)
from custom_components.energy_orchestrator.lib.control.battery_states import (
    SOC_MARGIN_SIGMAS,
)
from tests.integration.texts import errors_shown
from tests.lib.control.test_soc_estimator import V1_COUNTER

VOLTAGE = "sensor.bms_voltage"
CURRENT = "sensor.bms_current"
BMS_SOC = "sensor.bms_soc"
SOC = "sensor.house_battery_estimated_state_of_charge"
STATE = "sensor.house_battery"
MODE = "select.house_battery_mode"
CHARGE_IN = "sensor.house_battery_charge_in"
LEARNED_CAPACITY = "sensor.house_battery_learned_capacity"
FLOOR = "number.house_battery_state_of_charge_floor"


def pack_voltage(soc: float) -> float:
    return round(cell_ocv(Chemistry.LFP, soc) * 16, 3)


def set_battery(
    hass: HomeAssistant, voltage: float, current: float, soc: float | None = 50
) -> None:
    """Report the battery's sensors as a BMS integration would."""
    hass.states.async_set(
        VOLTAGE, str(voltage), {"unit_of_measurement": "V"}, force_update=True
    )
    hass.states.async_set(
        CURRENT, str(current), {"unit_of_measurement": "A"}, force_update=True
    )
    if soc is not None:
        hass.states.async_set(BMS_SOC, str(soc), {"unit_of_measurement": "%"})


@pytest.fixture
async def inverter(hass: HomeAssistant) -> None:
    """An inverter mode select and a grid-charge switch of another integration."""
    assert await async_setup_component(
        hass,
        INPUT_SELECT,
        {INPUT_SELECT: {"inverter_mode": {"options": ["Standby", "Charge", "Sell"]}}},
    )
    assert await async_setup_component(
        hass, INPUT_BOOLEAN, {INPUT_BOOLEAN: {"grid_charge": {}}}
    )


def entry_data() -> dict[str, Any]:
    return {
        CONF_KIND: "battery_manager",
        "voltage_entity": VOLTAGE,
        "current_entity": CURRENT,
        "bms_soc_entity": BMS_SOC,
        "mode_select_entity": "input_select.inverter_mode",
        "option_charge": "Charge",
        "option_rest": "Standby",
        "option_sell": "Sell",
        "charge_switch_entity": "input_boolean.grid_charge",
    }


def manager_entry(**changes: Any) -> MockConfigEntry:
    """Return a battery manager on a 16-cell LFP battery of 100 Ah, no minimum rest."""
    options = default_options(Chemistry.LFP, 16, 100)
    options["min_rest_minutes"] = 0
    options.update(changes)
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="House battery",
        data=entry_data(),
        options=options,
    )


@pytest.fixture
def entry() -> MockConfigEntry:
    return manager_entry()


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def step(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    seconds: float,
) -> None:
    """Let time pass and the manager take a step."""
    freezer.tick(timedelta(seconds=seconds))
    set_battery(
        hass,
        float(hass.states.get(VOLTAGE).state),
        float(hass.states.get(CURRENT).state),
        None,
    )
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


@pytest.mark.usefixtures("inverter")
async def test_counts_charge_and_drives_the_inverter(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    events: list[Event] = []
    hass.bus.async_listen(EVENT_BATTERY_TRANSITION, events.append)
    set_battery(hass, 53.0, 0.0, soc=50)
    await setup(hass, entry)
    # No saved state: the BMS's SOC starts the count; from the middle, charge.
    assert hass.states.get(SOC).state == "50.0"
    assert hass.states.get(SOC).attributes["estimate_source"] == "bms"
    assert hass.states.get(STATE).state == "charge"
    assert hass.states.get(STATE).attributes["reason"] == "rest_over"
    assert hass.states.get("input_select.inverter_mode").state == "Charge"
    assert hass.states.get("input_boolean.grid_charge").state == "on"
    assert [e.data["to_state"] for e in events] == ["charge"]

    # 50 A into 100 Ah: the ceiling (80 %) is reached where the SOC may be
    # there. Counted from the BMS's SOC, that is two sigmas early.
    set_battery(hass, 54.0, 50.0, soc=None)
    for _ in range(3 * 60):
        await step(hass, entry, freezer, 60)
        if hass.states.get(STATE).state != "charge":
            break
    assert hass.states.get(STATE).state == "rest"
    assert hass.states.get(STATE).attributes["reason"] == "soc_ceiling"
    soc = float(hass.states.get(SOC).state)
    sigma = hass.states.get(SOC).attributes["uncertainty"]
    assert 5 < sigma < 15
    assert soc + SOC_MARGIN_SIGMAS * sigma == pytest.approx(80, abs=1)
    assert hass.states.get("input_select.inverter_mode").state == "Standby"
    assert hass.states.get("input_boolean.grid_charge").state == "off"
    assert float(hass.states.get(CHARGE_IN).state) == pytest.approx(
        (soc - 50) / 0.99, abs=1
    )
    assert events[-1].data["reason"] == "soc_ceiling"
    assert f"{soc:.1f} % ± {sigma:.1f} reached the ceiling" in events[-1].data["detail"]


@pytest.mark.usefixtures("inverter")
async def test_a_restart_resumes_the_count_not_the_voltage(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    set_battery(hass, 53.0, 20.0, soc=50)
    await setup(hass, entry)
    for _ in range(30):
        await step(hass, entry, freezer, 60)
    counted = float(hass.states.get(SOC).state)
    assert counted == pytest.approx(59.9, abs=0.2)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    saved = hass_storage[f"{DOMAIN}.battery_manager.{entry.entry_id}"]["data"]
    assert saved["counter"]["soc"] == pytest.approx(counted / 100, abs=1e-3)
    # Unloading leaves the inverter at rest.
    assert hass.states.get("input_select.inverter_mode").state == "Standby"
    # Back with a BMS that says 10 % and a voltage of 8 %: the count stays.
    set_battery(hass, pack_voltage(0.08), 0.0, soc=10)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert float(hass.states.get(SOC).state) == pytest.approx(counted, abs=0.1)
    assert hass.states.get(SOC).attributes["estimate_source"] == "bms"


@pytest.mark.usefixtures("inverter")
async def test_a_count_saved_by_an_older_version_resumes(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """The first layout of the saved state is migrated, not thrown away."""
    # Five seconds after the last count, at rest.
    freezer.move_to("2026-06-01T00:00:00+00:00")
    key = f"{DOMAIN}.battery_manager.{entry.entry_id}"
    hass_storage[key] = {
        "version": 1,
        "key": key,
        "data": {
            "version": 1,
            "counter": {**V1_COUNTER, "last_current": 0.0},
            "machine": {
                "state": "rest",
                "since": "2026-05-31T22:00:00+00:00",
                "reason": "soc_floor",
                "detail": "State of charge 20.0 % reached the floor 20 %.",
                "last_limit": "empty",
            },
        },
    }
    set_battery(hass, 53.0, 0.0, soc=90)
    await setup(hass, entry)
    assert hass.states.get(SOC).state == "42.0"
    assert hass.states.get(SOC).attributes["uncertainty"] == 3.0
    assert hass.states.get(SOC).attributes["estimate_source"] == "rest"
    assert float(hass.states.get(LEARNED_CAPACITY).state) == 93.0
    assert hass.states.get(LEARNED_CAPACITY).attributes["uncertainty"] == 6.0
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass_storage[key]["data"]["version"] == 2


@pytest.mark.usefixtures("inverter")
async def test_a_deleted_manager_takes_its_count_along(
    hass: HomeAssistant, entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    """Added again, a battery is not credited with a deleted manager's count."""
    set_battery(hass, 53.0, 0.0, soc=50)
    await setup(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    key = f"{DOMAIN}.battery_manager.{entry.entry_id}"
    assert key in hass_storage
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage
    assert f"{key}.previous" not in hass_storage


@pytest.mark.usefixtures("inverter")
async def test_a_damaged_saved_state_starts_anew_and_says_so(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass_storage[f"{DOMAIN}.battery_manager.{entry.entry_id}"] = {
        "version": 1,
        "key": f"{DOMAIN}.battery_manager.{entry.entry_id}",
        "data": {"version": 1, "counter": {"soc": 3.5}, "machine": {}},
    }
    set_battery(hass, 53.0, 0.0, soc=64)
    await setup(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert "saved state cannot be used" in caplog.text
    assert hass.states.get(SOC).state == "64.0"
    # No good copy to fall back to: the user is told what was lost.
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"{entry.entry_id}_saved_state_lost"
    )
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["title"] == entry.title


@pytest.mark.usefixtures("inverter")
async def test_a_damaged_saved_state_falls_back_to_the_good_copy(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """The file damaged after a clean stop: the count resumes from the copy."""
    set_battery(hass, 53.0, 20.0, soc=50)
    await setup(hass, entry)
    for _ in range(30):
        await step(hass, entry, freezer, 60)
    counted = float(hass.states.get(SOC).state)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    key = f"{DOMAIN}.battery_manager.{entry.entry_id}"
    hass_storage[key]["data"] = {"version": 1, "counter": "garbage", "machine": 7}
    set_battery(hass, pack_voltage(0.08), 0.0, soc=10)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert float(hass.states.get(SOC).state) == pytest.approx(counted, abs=0.1)
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"{entry.entry_id}_saved_state_from_previous"
    )
    assert issue is not None


@pytest.mark.usefixtures("inverter")
async def test_inputs_unavailable_rest_the_battery(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    set_battery(hass, 53.0, 10.0, soc=50)
    await setup(hass, entry)
    assert hass.states.get(STATE).state == "charge"
    hass.states.async_set(VOLTAGE, "unavailable")
    freezer.tick(timedelta(seconds=30))
    await entry.runtime_data.coordinator.async_refresh()
    assert hass.states.get(STATE).state == "charge"
    # A minute after the voltage was first seen missing, the battery rests.
    freezer.tick(timedelta(seconds=60))
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(STATE).state == "rest"
    assert hass.states.get(STATE).attributes["reason"] == "inputs_unavailable"
    assert hass.states.get("input_select.inverter_mode").state == "Standby"


@pytest.mark.usefixtures("inverter")
async def test_actions(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    set_battery(hass, 53.0, 0.0, soc=50)
    await setup(hass, entry)
    await hass.services.async_call(
        DOMAIN,
        "set_battery_mode",
        {
            "config_entry_id": entry.entry_id,
            "mode": "sell",
            "duration": {"minutes": 30},
        },
        blocking=True,
    )
    await hass.async_block_till_done()
    assert hass.states.get(STATE).state == "sell"
    assert hass.states.get(MODE).state == "sell"
    assert hass.states.get("input_select.inverter_mode").state == "Sell"
    await step(hass, entry, freezer, 31 * 60)
    assert hass.states.get(MODE).state == "auto"

    await hass.services.async_call(
        DOMAIN,
        "calibrate_soc",
        {"config_entry_id": entry.entry_id, "soc": 33},
        blocking=True,
    )
    assert hass.states.get(SOC).state == "33.0"

    await hass.services.async_call(
        DOMAIN,
        "set_battery_thresholds",
        {"config_entry_id": entry.entry_id, "soc_floor": 25, "soc_ceiling": 70},
        blocking=True,
    )
    assert entry.options["soc_floor"] == 25
    assert hass.states.get(FLOOR).state == "25.0"

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "set_battery_thresholds",
            {"config_entry_id": entry.entry_id, "soc_floor": 90},
            blocking=True,
        )
    assert err.value.translation_key == "invalid_settings"
    assert "floor (90 %)" in str(err.value)
    assert entry.options["soc_floor"] == 25

    device_entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Meter",
        data={CONF_KIND: "device", CONF_CONNECTION: "tcp"},
    )
    device_entry.add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "calibrate_soc",
            {"config_entry_id": device_entry.entry_id, "soc": 50},
            blocking=True,
        )
    # Not loaded: Home Assistant's own check answers first.
    assert err.value.translation_key == "service_config_entry_not_loaded"


@pytest.mark.usefixtures("inverter")
async def test_a_hold_of_a_billion_days_is_a_validation_error(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """999,999,999 days runs past the last date: refused, not a 500."""
    set_battery(hass, 53.0, 0.0, soc=50)
    await setup(hass, entry)
    with pytest.raises(probatio.Invalid):
        await hass.services.async_call(
            DOMAIN,
            "set_battery_mode",
            {
                "config_entry_id": entry.entry_id,
                "mode": "sell",
                "duration": {"days": 999_999_999},
            },
            blocking=True,
        )
    assert hass.states.get(MODE).state == "auto"


@pytest.mark.usefixtures("inverter")
async def test_threshold_number_and_mode_select(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    set_battery(hass, 53.0, 0.0, soc=50)
    await setup(hass, entry)
    await hass.services.async_call(
        "number", "set_value", {"entity_id": FLOOR, "value": 30}, blocking=True
    )
    assert entry.options["soc_floor"] == 30
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "number", "set_value", {"entity_id": FLOOR, "value": 79}, blocking=True
        )
    await hass.services.async_call(
        "select", "select_option", {"entity_id": MODE, "option": "rest"}, blocking=True
    )
    await hass.async_block_till_done()
    assert hass.states.get(STATE).state == "rest"
    assert hass.states.get(STATE).attributes["reason"] == "requested"


async def test_config_flow(hass: HomeAssistant, inverter: None) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    assert "battery_manager" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "battery_manager"}
    )
    assert result["type"] is FlowResultType.FORM
    base = {
        "name": "House battery",
        "chemistry": "lfp",
        "cells_in_series": 16,
        "capacity_ah": 280,
        "voltage_entity": VOLTAGE,
        "outputs": {},
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], base)
    assert result["errors"] == {"base": "current_or_power_required"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            **base,
            "current_entity": CURRENT,
            "outputs": {
                "mode_select_entity": "input_select.inverter_mode",
                "option_charge": "Charge",
                "option_rest": "Off",
                "option_sell": "Sell",
            },
        },
    )
    assert result["errors"] == {"outputs": "option_not_offered"}
    assert "Standby" in result["description_placeholders"]["error"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            **base,
            "current_entity": CURRENT,
            "outputs": {
                "mode_select_entity": "input_select.inverter_mode",
                "option_charge": "Charge",
                "option_rest": "Standby",
                "option_sell": "Sell",
            },
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "House battery"
    assert result["data"]["kind"] == "battery_manager"
    assert result["options"]["capacity_ah"] == 280
    assert result["options"]["tail_current_a"] == 5.6
    assert result["options"]["soc_ceiling"] == 80


async def test_config_flow_checks_the_outputs_against_their_entities(
    hass: HomeAssistant, inverter: None
) -> None:
    """Every state needs its value, and the entity must take it."""
    assert await async_setup_component(
        hass,
        INPUT_NUMBER,
        {INPUT_NUMBER: {"battery_power": {"min": -3000, "max": 3000, "step": 1}}},
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "battery_manager"}
    )
    flow_id = result["flow_id"]
    base = {
        "name": "House battery",
        "chemistry": "lfp",
        "cells_in_series": 16,
        "capacity_ah": 280,
        "voltage_entity": VOLTAGE,
        "power_entity": "sensor.battery_power",
    }
    select = {
        "mode_select_entity": "input_select.inverter_mode",
        "option_charge": "Charge",
        "option_rest": "Standby",
    }
    setpoint = {
        "setpoint_entity": "input_number.battery_power",
        "setpoint_charge": 3000,
        "setpoint_rest": 0,
    }
    refused = [
        (select, "mode_options_required", ""),
        (setpoint, "setpoints_required", ""),
        (
            {**setpoint, "setpoint_sell": -5000},
            "setpoint_out_of_range",
            "input_number.battery_power takes -3000 to 3000; not -5000",
        ),
    ]
    for outputs, error, detail in refused:
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**base, "outputs": outputs}
        )
        assert result["errors"] == {"outputs": error}, outputs
        assert result["description_placeholders"]["error"] == detail
        assert errors_shown(result)["outputs"]
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            **base,
            "outputs": {
                **select,
                "option_sell": "Sell",
                **setpoint,
                "setpoint_sell": -3000,
            },
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == "input_select.inverter_mode"
    assert result["data"]["setpoint_sell"] == -3000
    assert result["data"]["power_entity"] == "sensor.battery_power"
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(result["result"].entry_id)


@pytest.mark.usefixtures("inverter")
async def test_options_flow_refuses_a_floor_above_the_ceiling(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    set_battery(hass, 53.0, 0.0, soc=50)
    await setup(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    options = {**entry.options, "soc_floor": 85.0, "soc_ceiling": 80.0}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options
    )
    assert result["errors"] == {"soc_floor": "floor_above_ceiling"}
    options = {**options, "soc_floor": 10.0, "charge_window_start": "10:00:00"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options
    )
    assert result["errors"] == {"charge_window_start": "window_incomplete"}
    options = {**options, "charge_window_end": "16:00:00"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options["soc_floor"] == 10.0
    assert entry.state is ConfigEntryState.LOADED
    manager = entry.runtime_data.coordinator.manager
    assert manager.settings.charge_window is not None


@pytest.mark.usefixtures("inverter")
async def test_diagnostics_and_logbook(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    from homeassistant.components.logbook.const import (
        LOGBOOK_ENTRY_MESSAGE,
        LOGBOOK_ENTRY_NAME,
    )

    from custom_components.energy_orchestrator.diagnostics import (
        async_get_config_entry_diagnostics,
    )
    from custom_components.energy_orchestrator.logbook import async_describe_events

    set_battery(hass, 53.0, 0.0, soc=50)
    await setup(hass, entry)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["saved_state"]["counter"]["soc"] == 0.5
    assert diagnostics["status"]["state"] == "charge"
    # Values as JSON keeps them, not their Python reprs: None stays None.
    assert diagnostics["status"]["mode_until"] is None
    assert diagnostics["status"]["transition"]["to_state"] == "charge"

    described: dict[str, Any] = {}

    def describe(domain: str, event_type: str, describer: Any) -> None:
        described[event_type] = describer

    async_describe_events(hass, describe)
    event = Event(
        EVENT_BATTERY_TRANSITION,
        {
            "name": "House battery",
            "from_state": "charge",
            "to_state": "rest",
            "detail": "State of charge 80.1 % reached the ceiling 80 %.",
        },
    )
    text = described[EVENT_BATTERY_TRANSITION](event)
    assert text[LOGBOOK_ENTRY_NAME] == "House battery"
    assert text[LOGBOOK_ENTRY_MESSAGE] == (
        "went from charge to rest: State of charge 80.1 % reached the ceiling 80 %."
    )
