"""What every controller's flow shares: one output, one controller; no reconfigure.

A controller's unique id is the first output it drives, and no two
controllers drive one output, a further battery's setpoint included.
"""

from collections.abc import Callable
from typing import Any

from homeassistant.config_entries import SOURCE_IGNORE, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, UnknownHandler
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import (
    CONF_CONNECTION,
    CONF_KIND,
    DOMAIN,
)
from tests.integration.texts import abort_shown, errors_shown

# Peak shaving's own battery's setpoint, and its further battery's.
SETPOINT = "number.house_battery_setpoint"
GARAGE_SETPOINT = "number.garage_battery_setpoint"
# What nobody drives yet.
FREE = "number.free_setpoint"


def battery_manager_form(output: str) -> dict[str, Any]:
    """Return a battery manager's form that sets ``output`` per state."""
    return {
        "name": "House battery",
        "chemistry": "lfp",
        "cells_in_series": 16,
        "capacity_ah": 280,
        "voltage_entity": "sensor.bms_voltage",
        "current_entity": "sensor.bms_current",
        "outputs": {
            "setpoint_entity": output,
            "setpoint_charge": 3000,
            "setpoint_rest": 0,
            "setpoint_sell": -3000,
        },
    }


def peak_shaving_form(output: str) -> dict[str, Any]:
    """Return peak shaving's form whose battery is set through ``output``."""
    return {
        "name": "Second peak shaving",
        "grid_power_entity": "sensor.grid_power",
        "battery_power_entity": "sensor.battery_power",
        "battery_soc_entity": "sensor.battery_soc",
        "battery_setpoint_entity": output,
        "invert_setpoint": False,
        "battery_capacity_kwh": 10,
        "battery_max_kw": 5,
        "billing_interval_minutes": "15",
    }


def wallbox_manager_form(output: str) -> dict[str, Any]:
    """Return a wallbox manager's form whose charging current is ``output``."""
    return {
        "name": "Wallbox",
        "grid_power_entity": "sensor.grid_power",
        "ev_power_entity": "sensor.car_power",
        "charger_current_entity": output,
        "charger_enable_entity": "switch.wallbox_charging",
        "min_current_a": 6,
        "max_current_a": 16,
        "min_phase_switch_minutes": 10,
        "charge_now_mode": "solar",
    }


FORMS: dict[str, Callable[[str], dict[str, Any]]] = {
    "battery_manager": battery_manager_form,
    "peak_shaving": peak_shaving_form,
    "wallbox_manager": wallbox_manager_form,
}


@pytest.fixture
def peak_shaving(hass: HomeAssistant) -> MockConfigEntry:
    """Peak shaving with a further battery, both setpoints driven by it."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Peak shaving",
        unique_id=SETPOINT,
        data={
            CONF_KIND: "peak_shaving",
            "grid_power_entity": "sensor.grid_power",
            "battery_power_entity": "sensor.battery_power",
            "battery_soc_entity": "sensor.battery_soc",
            "battery_setpoint_entity": SETPOINT,
            "invert_setpoint": False,
        },
        options={
            "battery_capacity_kwh": 10.0,
            "battery_max_kw": 5.0,
            "battery_soc_min": 10.0,
            "battery_soc_max": 100.0,
            "billing_interval_minutes": "15",
        },
        subentries_data=[
            ConfigSubentryData(
                data={
                    "battery_power_entity": "sensor.garage_power",
                    "battery_soc_entity": "sensor.garage_soc",
                    "battery_setpoint_entity": GARAGE_SETPOINT,
                    "invert_setpoint": False,
                    "battery_capacity_kwh": 5.0,
                    "battery_max_kw": 2.5,
                    "battery_soc_min": 10.0,
                    "battery_soc_max": 100.0,
                },
                subentry_type="battery",
                title="Garage battery",
                unique_id=None,
            )
        ],
    )
    entry.add_to_hass(hass)
    return entry


async def start(hass: HomeAssistant, kind: str) -> str:
    """Open the add form of a controller; return the flow's id."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": kind}
    )
    assert result["step_id"] == kind
    return str(result["flow_id"])


@pytest.mark.usefixtures("peak_shaving")
@pytest.mark.parametrize("kind", FORMS)
async def test_an_output_another_controller_drives_is_refused(
    hass: HomeAssistant, kind: str
) -> None:
    flow_id = await start(hass, kind)
    result = await hass.config_entries.flow.async_configure(
        flow_id, FORMS[kind](GARAGE_SETPOINT)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "output_in_use"}
    assert errors_shown(result) == {
        "base": "Another controller already drives this output:"
        f" {GARAGE_SETPOINT} (Peak shaving). An output takes orders from one"
        " controller only."
    }

    # The same form on an output nobody drives is added, named by it.
    result = await hass.config_entries.flow.async_configure(flow_id, FORMS[kind](FREE))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_KIND] == kind
    assert "name" not in result["data"]
    assert result["result"].unique_id == FREE
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_the_first_output_names_the_controller(hass: HomeAssistant) -> None:
    """A battery manager's select comes before its setpoint and switches."""
    flow_id = await start(hass, "battery_manager")
    form = battery_manager_form(FREE)
    form["outputs"] |= {
        "mode_select_entity": "select.inverter_mode",
        "option_charge": "Charge",
        "option_rest": "Standby",
        "option_sell": "Sell",
        "sell_switch_entity": "switch.export",
    }
    result = await hass.config_entries.flow.async_configure(flow_id, form)
    assert result["result"].unique_id == "select.inverter_mode"
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_battery_managers_driving_nothing_have_no_unique_id(
    hass: HomeAssistant,
) -> None:
    """Two managers only counting charge (one per BMS, say) clash over nothing."""
    for name in ("Left battery", "Right battery"):
        flow_id = await start(hass, "battery_manager")
        form = battery_manager_form(FREE) | {"name": name, "outputs": {}}
        result = await hass.config_entries.flow.async_configure(flow_id, form)
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        assert result["result"].unique_id is None
        await hass.async_block_till_done()
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)


async def test_entries_this_version_cannot_read_claim_nothing(
    hass: HomeAssistant,
) -> None:
    """An ignored entry has no data; one a newer version wrote, no known kind."""
    MockConfigEntry(domain=DOMAIN, source=SOURCE_IGNORE, data={}).add_to_hass(hass)
    MockConfigEntry(
        domain=DOMAIN,
        version=2,
        data={"kind": "heat_pump_manager", "setpoint_entity": FREE},
    ).add_to_hass(hass)
    flow_id = await start(hass, "wallbox_manager")
    result = await hass.config_entries.flow.async_configure(
        flow_id, wallbox_manager_form(FREE)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_only_controllers_have_settings(
    hass: HomeAssistant, peak_shaving: MockConfigEntry
) -> None:
    device = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        unique_id="63000001",
        data={CONF_KIND: "device", CONF_CONNECTION: "tcp"},
    )
    device.add_to_hass(hass)
    assert peak_shaving.supports_options
    assert not device.supports_options
    with pytest.raises(UnknownHandler):
        await hass.config_entries.options.async_init(device.entry_id)


async def test_a_controller_is_not_reconfigured(
    hass: HomeAssistant, peak_shaving: MockConfigEntry
) -> None:
    """Home Assistant offers to reconfigure every entry; a controller says why not."""
    result = await peak_shaving.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "controller_not_reconfigurable"
    assert abort_shown(result).startswith("A controller's entities are chosen")
    assert peak_shaving.data["battery_setpoint_entity"] == SETPOINT
