"""A controller setup that cannot work: refused by its form, a repair issue after.

The outputs here are entities of "another integration": states with the
attributes a number shows (its range and unit), set by the test.
"""

from typing import Any

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.battery_manager.settings import (
    default_options,
)
from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from custom_components.energy_orchestrator.lib.control.battery_manager import (
    Chemistry,
)
from tests.integration.controllers.peak_and_car import (
    peak_shaving_entry as shared_peak_shaving_entry,
)
from tests.integration.texts import errors_shown, issue_shown

GRID = "sensor.meter_grid_power"
BATTERY = "sensor.inverter_battery_power"
SOC = "sensor.bms_soc"
SETPOINT = "number.inverter_battery_setpoint"
# What many inverters offer, and what cannot set a battery both ways.
MAX_CHARGE = "number.inverter_maximum_charge_power"
GARAGE_POWER = "sensor.garage_battery_power"
GARAGE_SOC = "sensor.garage_battery_soc"
GARAGE_SETPOINT = "number.garage_battery_setpoint"
CURRENT = "number.wallbox_current"
ENABLE = "switch.wallbox_charging"


def number(
    hass: HomeAssistant,
    entity_id: str,
    lowest: float,
    highest: float,
    unit: str | None = "W",
) -> None:
    """Show a number of another integration with its range and unit."""
    attributes: dict[str, Any] = {"min": lowest, "max": highest}
    if unit:
        attributes["unit_of_measurement"] = unit
    hass.states.async_set(entity_id, "0", attributes)


def report(hass: HomeAssistant, *entities: str) -> None:
    """Show the inputs that exist, with a reading."""
    units = {GRID: "W", BATTERY: "W", SOC: "%", GARAGE_POWER: "W", GARAGE_SOC: "%"}
    for entity_id in entities:
        hass.states.async_set(
            entity_id,
            "50",
            {"unit_of_measurement": units[entity_id]},
            force_update=True,
        )


# The peak-shaving form, with its battery set through ``SETPOINT``.
PEAK_SHAVING_FORM: dict[str, Any] = {
    "name": "Peak shaving",
    "grid_power_entity": GRID,
    "battery_power_entity": BATTERY,
    "battery_soc_entity": SOC,
    "battery_setpoint_entity": SETPOINT,
    "invert_setpoint": False,
    "battery_capacity_kwh": 10,
    "battery_max_kw": 5,
    "billing_interval_minutes": "15",
    "import_limit_w": 3000,
}


def peak_shaving_entry(
    setpoint: str = SETPOINT, *, garage: bool = False, **data: Any
) -> MockConfigEntry:
    """Return a peak-shaving entry (with a further battery, the garage's)."""
    return shared_peak_shaving_entry(
        setpoint=setpoint,
        subentries_data=[
            ConfigSubentryData(
                data={
                    "battery_power_entity": GARAGE_POWER,
                    "battery_soc_entity": GARAGE_SOC,
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
        ]
        if garage
        else [],
        **data,
    )


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def start_flow(hass: HomeAssistant, kind: str) -> str:
    """Open the add form of a controller; return the flow's id."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": kind}
    )
    return str(result["flow_id"])


def issues(hass: HomeAssistant) -> dict[str, ir.IssueEntry]:
    """Return the integration's repair issues by translation key and subject."""
    return {
        f"{issue.translation_key} {issue.data['subject'] if issue.data else ''}": issue
        for (domain, _), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue.active
    }


# --- the forms ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("shown", "form", "error", "text"),
    [
        pytest.param(
            (MAX_CHARGE, 0, 5000, "W"),
            {"battery_setpoint_entity": MAX_CHARGE},
            "setpoint_one_sign",
            "This number cannot set the battery's power both ways:"
            f" {MAX_CHARGE} takes 0 to 5000 W.",
            id="a maximum charge power",
        ),
        pytest.param(
            (MAX_CHARGE, 0, 5000, "W"),
            {"battery_setpoint_entity": MAX_CHARGE, "invert_setpoint": True},
            "setpoint_one_sign",
            f"This number cannot set the battery's power both ways: {MAX_CHARGE}"
            " takes 0 to 5000 W.",
            id="turned round, it still goes one way",
        ),
        pytest.param(
            (SETPOINT, -5000, 0, None),
            {},
            "setpoint_one_sign",
            f"This number cannot set the battery's power both ways: {SETPOINT}"
            " takes -5000 to 0.",
            id="a discharge-only number",
        ),
        pytest.param(
            (SETPOINT, -3000, 3000, "W"),
            {},
            "setpoint_range_too_small",
            f"This number does not reach the battery's power: {SETPOINT} takes"
            " -3000 to 3000 W; the battery's power is 5000 W.",
            id="short of the battery's power",
        ),
        pytest.param(
            (SETPOINT, -10, 10, "kW"),
            {},
            "output_wrong_unit",
            "This output is in another unit than the controller sets:"
            f" {SETPOINT} is in kW; peak shaving sets W.",
            id="in kW",
        ),
    ],
)
async def test_peak_shaving_refuses_a_setpoint_that_cannot_set_the_battery(
    hass: HomeAssistant,
    shown: tuple[str, float, float, str | None],
    form: dict[str, Any],
    error: str,
    text: str,
) -> None:
    number(hass, *shown)
    flow_id = await start_flow(hass, "peak_shaving")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**PEAK_SHAVING_FORM, **form}
    )
    assert result["errors"] == {"battery_setpoint_entity": error}
    assert errors_shown(result)["battery_setpoint_entity"].startswith(text)

    # A number that takes the battery's power both ways, in W, is taken.
    number(hass, SETPOINT, -5000, 5000)
    result = await hass.config_entries.flow.async_configure(flow_id, PEAK_SHAVING_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_peak_shaving_refuses_a_pv_forecast_sensor_without_a_forecast(
    hass: HomeAssistant,
) -> None:
    """Only Solcast's detailed forecast is read; any other sensor would be ignored."""
    number(hass, SETPOINT, -5000, 5000)
    hass.states.async_set("sensor.energy_production_today", "12.5", {})
    flow_id = await start_flow(hass, "peak_shaving")
    form = {**PEAK_SHAVING_FORM, "pv_forecast_entity": "sensor.energy_production_today"}
    result = await hass.config_entries.flow.async_configure(flow_id, form)
    assert result["errors"] == {"pv_forecast_entity": "not_a_pv_forecast_sensor"}
    assert errors_shown(result)["pv_forecast_entity"].startswith(
        "sensor.energy_production_today carries no detailed forecast"
    )
    hass.states.async_set(
        "sensor.solcast_forecast_today", "12.5", {"detailedForecast": []}
    )
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**form, "pv_forecast_entity": "sensor.solcast_forecast_today"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_peak_shaving_settings_keep_the_power_within_the_setpoint(
    hass: HomeAssistant,
) -> None:
    """The battery's power may not pass the number's range; other settings change."""
    number(hass, SETPOINT, -6000, 6000)
    report(hass, GRID, BATTERY, SOC)
    entry = peak_shaving_entry()
    await setup(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**entry.options, "battery_max_kw": 8}
    )
    assert result["errors"] == {"battery_max_kw": "setpoint_range_too_small"}
    assert errors_shown(result, ("options",)) == {
        "battery_max_kw": "The battery's setpoint number does not reach this power:"
        f" {SETPOINT} takes -6000 to 6000 W; the battery's power is 8000 W. Give at"
        " most the power the number takes."
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**entry.options, "battery_max_kw": 6}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    # A setpoint that cannot go both ways is a repair's to say, not the settings'.
    number(hass, SETPOINT, 0, 6000)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**entry.options, "import_limit_w": 2500}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options["import_limit_w"] == 2500


async def test_a_further_battery_needs_a_setpoint_that_goes_both_ways(
    hass: HomeAssistant,
) -> None:
    number(hass, SETPOINT, -5000, 5000)
    number(hass, GARAGE_SETPOINT, 0, 2500)
    report(hass, GRID, BATTERY, SOC, GARAGE_POWER, GARAGE_SOC)
    entry = peak_shaving_entry()
    await setup(hass, entry)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "battery"), context={"source": "user"}
    )
    form = {
        "name": "Garage battery",
        "battery_power_entity": GARAGE_POWER,
        "battery_soc_entity": GARAGE_SOC,
        "battery_setpoint_entity": GARAGE_SETPOINT,
        "invert_setpoint": True,
        "battery_capacity_kwh": 5,
        "battery_max_kw": 2.5,
    }
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], form
    )
    assert result["errors"] == {"battery_setpoint_entity": "setpoint_one_sign"}
    assert errors_shown(result, ("config_subentries", "battery"))[
        "battery_setpoint_entity"
    ].startswith(
        f"This number cannot set the battery's power both ways: {GARAGE_SETPOINT}"
    )
    number(hass, GARAGE_SETPOINT, -2500, 2500)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], form
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


WALLBOX_FORM: dict[str, Any] = {
    "name": "Wallbox",
    "grid_power_entity": GRID,
    "ev_power_entity": "sensor.wallbox_power",
    "charger_current_entity": CURRENT,
    "charger_enable_entity": ENABLE,
    "min_current_a": 6,
    "max_current_a": 32,
    "min_phase_switch_minutes": 10,
    "charge_now_mode": "solar",
}


async def test_the_wallbox_manager_refuses_a_current_number_short_of_its_currents(
    hass: HomeAssistant,
) -> None:
    number(hass, CURRENT, 6, 16, "A")
    flow_id = await start_flow(hass, "wallbox_manager")
    result = await hass.config_entries.flow.async_configure(flow_id, WALLBOX_FORM)
    assert result["errors"] == {"charger_current_entity": "current_out_of_range"}
    assert errors_shown(result)["charger_current_entity"] == (
        "The charging current number does not take every current the manager"
        f" sets: {CURRENT} takes 6 to 16 A; the manager sets 6 to 32 A. Choose the"
        " minimum and maximum current within its range, or another number."
    )
    number(hass, CURRENT, 6000, 32000, "mA")
    result = await hass.config_entries.flow.async_configure(flow_id, WALLBOX_FORM)
    assert result["errors"] == {"charger_current_entity": "output_wrong_unit"}
    number(hass, CURRENT, 6, 16, "A")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**WALLBOX_FORM, "max_current_a": 16}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]

    # The settings keep the currents within the number's range too.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**entry.options, "max_current_a": 20}
    )
    assert result["errors"] == {"base": "current_out_of_range"}
    assert errors_shown(result, ("options",))["base"] == (
        "The charging current number does not take these currents:"
        f" {CURRENT} takes 6 to 16 A; the manager sets 6 to 20 A."
    )
    # What the number itself cannot do is a repair's to say.
    number(hass, CURRENT, 6000, 32000, "mA")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**entry.options, "min_current_a": 8}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


# --- the repair issues --------------------------------------------------------


@pytest.fixture
async def repairs(hass: HomeAssistant) -> None:
    """Home Assistant's repairs, which run the fix flows."""
    assert await async_setup_component(hass, "repairs", {})


async def fix(
    hass: HomeAssistant, issue: ir.IssueEntry, user_input: dict[str, Any]
) -> dict[str, Any]:
    """Open an issue's repair flow, show it, send it ``user_input``."""
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, context={"issue_id": issue.issue_id})
    assert result["type"] is FlowResultType.FORM
    result = await manager.async_configure(result["flow_id"], user_input)
    await hass.async_block_till_done()
    return dict(result)


@pytest.mark.usefixtures("repairs")
async def test_an_input_that_no_longer_exists_is_replaced_from_its_issue(
    hass: HomeAssistant,
) -> None:
    """The grid meter was renamed: the issue says so and takes the new one."""
    number(hass, SETPOINT, -5000, 5000)
    report(hass, BATTERY, SOC)
    entry = peak_shaving_entry()
    await setup(hass, entry)
    issue = issues(hass)[f"input_missing {GRID}"]
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue_shown(issue) == (
        "Peak shaving reads an entity that no longer exists",
        f"Peak shaving reads {GRID}, which no longer exists: it was removed, or"
        " its entity ID changed. Until it is replaced, Peak shaving cannot do its"
        " job. Choose the entity that replaces it; Peak shaving starts again with"
        " it.",
    )
    renamed = "sensor.grid_meter_power"
    report(hass, BATTERY, SOC)
    hass.states.async_set(renamed, "50", {"unit_of_measurement": "W"})
    result = await fix(hass, issue, {"replacement": renamed})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.data["grid_power_entity"] == renamed
    # It started again with the new meter, and has nothing more to say.
    assert entry.runtime_data.coordinator.data.reason != "inputs_unavailable"
    assert issues(hass) == {}


@pytest.mark.usefixtures("repairs")
async def test_a_further_battery_s_input_is_replaced_in_its_own_settings(
    hass: HomeAssistant,
) -> None:
    number(hass, SETPOINT, -5000, 5000)
    number(hass, GARAGE_SETPOINT, -2500, 2500)
    report(hass, GRID, BATTERY, SOC, GARAGE_POWER)
    entry = peak_shaving_entry(garage=True)
    await setup(hass, entry)
    issue = issues(hass)[f"input_missing {GARAGE_SOC}"]
    renamed = "sensor.garage_bms_soc"
    hass.states.async_set(renamed, "50", {"unit_of_measurement": "%"})
    await fix(hass, issue, {"replacement": renamed})
    (garage,) = entry.subentries.values()
    assert garage.data["battery_soc_entity"] == renamed
    assert entry.data["battery_soc_entity"] == SOC
    assert issues(hass) == {}


@pytest.mark.usefixtures("repairs")
async def test_a_controller_without_an_update_listener_starts_again_too(
    hass: HomeAssistant,
) -> None:
    """The battery manager restarts after an options flow only: the repair restarts it."""
    hass.states.async_set("sensor.bms_voltage", "52", {"unit_of_measurement": "V"})
    manager = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="House battery",
        data={
            CONF_KIND: "battery_manager",
            "voltage_entity": "sensor.bms_voltage",
            "current_entity": "sensor.bms_current",
        },
        options=default_options(Chemistry.LFP, 16, 280),
    )
    await setup(hass, manager)
    issue = issues(hass)["input_missing sensor.bms_current"]
    hass.states.async_set("sensor.shunt_current", "2", {"unit_of_measurement": "A"})
    coordinator = manager.runtime_data.coordinator
    await fix(hass, issue, {"replacement": "sensor.shunt_current"})
    assert manager.data["current_entity"] == "sensor.shunt_current"
    assert manager.runtime_data.coordinator is not coordinator
    assert issues(hass) == {}


async def test_an_issue_clears_once_its_entity_is_back(hass: HomeAssistant) -> None:
    """A sensor that only came late (no state, not registered yet) is not gone."""
    number(hass, SETPOINT, -5000, 5000)
    report(hass, GRID, BATTERY)
    entry = peak_shaving_entry()
    await setup(hass, entry)
    assert list(issues(hass)) == [f"input_missing {SOC}"]
    report(hass, GRID, BATTERY, SOC)
    await entry.runtime_data.coordinator.async_refresh()
    assert issues(hass) == {}


async def test_nothing_is_missing_while_home_assistant_starts(
    hass: HomeAssistant,
) -> None:
    """Other integrations are still adding their entities."""
    hass.set_state(CoreState.starting)
    number(hass, SETPOINT, -5000, 5000)
    entry = peak_shaving_entry()
    await setup(hass, entry)
    assert issues(hass) == {}
    hass.set_state(CoreState.running)
    await entry.runtime_data.coordinator.async_refresh()
    assert set(issues(hass)) == {
        f"input_missing {GRID}",
        f"input_missing {BATTERY}",
        f"input_missing {SOC}",
    }
    # They go with the entry.
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert issues(hass) == {}


async def test_a_missing_output_says_what_to_do(hass: HomeAssistant) -> None:
    report(hass, GRID, BATTERY, SOC)
    entry = peak_shaving_entry()
    await setup(hass, entry)
    issue = issues(hass)[f"output_missing {SETPOINT}"]
    assert not issue.is_fixable
    title, text = issue_shown(issue)
    assert title == "Peak shaving sets an entity that no longer exists"
    assert "give it its old ID back" in text


async def test_a_setpoint_that_cannot_discharge_is_an_issue_until_it_can(
    hass: HomeAssistant,
) -> None:
    """An entry added before the form checked it, or whose number changed."""
    number(hass, MAX_CHARGE, 0, 5000)
    number(hass, GARAGE_SETPOINT, -1000, 1000)
    report(hass, GRID, BATTERY, SOC, GARAGE_POWER, GARAGE_SOC)
    entry = peak_shaving_entry(MAX_CHARGE, garage=True)
    await setup(hass, entry)
    found = issues(hass)
    assert set(found) == {
        f"setpoint_one_sign {MAX_CHARGE}",
        f"setpoint_range_too_small {GARAGE_SETPOINT}",
    }
    assert issue_shown(found[f"setpoint_one_sign {MAX_CHARGE}"]) == (
        f"Peak shaving cannot discharge the battery through {MAX_CHARGE}",
        "Peak shaving sets the battery's power both ways through one number in"
        f" W, positive charging and negative discharging, but {MAX_CHARGE} takes"
        " 0 to 5000 W. A maximum charge or discharge power only caps what the"
        " inverter does and cannot do this, alone or as a pair; turning the sign"
        " round does not widen the range. Choose a number that takes the"
        " battery's power both ways: reconfigure a further battery; for the"
        " entry's own battery, delete Peak shaving and add it again.",
    )
    assert issue_shown(found[f"setpoint_range_too_small {GARAGE_SETPOINT}"])[1] == (
        "Peak shaving sets the battery from minus to plus its power, and a"
        " setting beyond the number's range fails:"
        f" {GARAGE_SETPOINT} takes -1000 to 1000 W; the battery's power is"
        " 2500 W. Lower the battery's power to what the number takes (Peak"
        " shaving, Configure; or reconfigure a further battery), or choose a"
        " number that takes it."
    )
    number(hass, MAX_CHARGE, -5000, 5000)
    number(hass, GARAGE_SETPOINT, -2500, 2500)
    report(hass, GRID, BATTERY, SOC, GARAGE_POWER, GARAGE_SOC)
    await entry.runtime_data.coordinator.async_refresh()
    assert issues(hass) == {}


async def test_a_setpoint_in_another_unit_is_an_issue(hass: HomeAssistant) -> None:
    number(hass, SETPOINT, -5, 5, "kW")
    report(hass, GRID, BATTERY, SOC)
    entry = peak_shaving_entry()
    await setup(hass, entry)
    assert issue_shown(issues(hass)[f"output_wrong_unit {SETPOINT}"]) == (
        f"{SETPOINT} is in another unit than Peak shaving sets",
        f"Peak shaving sets {SETPOINT} in another unit than it takes: {SETPOINT} is"
        " in kW; peak shaving sets W. Choose an output in the unit Peak shaving"
        " sets (delete Peak shaving and add it again; a further battery of peak"
        " shaving is reconfigured instead).",
    )


@pytest.mark.usefixtures("repairs")
async def test_a_removed_solar_forecast_service_is_replaced_or_left_to_history(
    hass: HomeAssistant,
) -> None:
    number(hass, SETPOINT, -5000, 5000)
    report(hass, GRID, BATTERY, SOC)
    entry = peak_shaving_entry(pv_forecast_entry="0123456789abcdef")
    await setup(hass, entry)
    issue = issues(hass)["pv_forecast_entry_missing 0123456789abcdef"]
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue_shown(issue)[0] == "Peak shaving lost its solar forecast service"
    # The entry of an integration without a solar forecast is refused.
    sun = MockConfigEntry(domain="sun", title="Sun")
    sun.add_to_hass(hass)
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, context={"issue_id": issue.issue_id})
    result = await manager.async_configure(
        result["flow_id"], {"pv_forecast_entry": sun.entry_id}
    )
    assert result["errors"] == {"pv_forecast_entry": "not_a_solar_forecast"}
    # Another service: its entry is enough to know it gives a solar forecast.
    roof = MockConfigEntry(domain="forecast_solar", title="Roof", version=3)
    roof.add_to_hass(hass)
    result = await manager.async_configure(
        result["flow_id"], {"pv_forecast_entry": roof.entry_id}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.data["pv_forecast_entry"] == roof.entry_id
    assert issues(hass) == {}

    # Removed too, and none chosen: PV from history.
    await hass.config_entries.async_remove(roof.entry_id)
    await entry.runtime_data.coordinator.async_refresh()
    issue = issues(hass)[f"pv_forecast_entry_missing {roof.entry_id}"]
    result = await fix(hass, issue, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "pv_forecast_entry" not in entry.data
    assert issues(hass) == {}


async def test_the_battery_manager_s_and_wallbox_manager_s_outputs_are_watched(
    hass: HomeAssistant,
) -> None:
    hass.states.async_set(
        "select.inverter_mode", "Standby", {"options": ["Charge", "Standby"]}
    )
    number(hass, "number.inverter_power", -2000, 2000)
    for entity_id, unit in (("sensor.bms_voltage", "V"), ("sensor.bms_current", "A")):
        hass.states.async_set(entity_id, "52", {"unit_of_measurement": unit})
    manager = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="House battery",
        data={
            CONF_KIND: "battery_manager",
            "voltage_entity": "sensor.bms_voltage",
            "current_entity": "sensor.bms_current",
            "mode_select_entity": "select.inverter_mode",
            "option_charge": "Charge",
            "option_rest": "Standby",
            "option_sell": "Sell",
            "setpoint_entity": "number.inverter_power",
            "setpoint_charge": 3000,
            "setpoint_rest": 0,
            "setpoint_sell": -2000,
        },
        options=default_options(Chemistry.LFP, 16, 280),
    )
    number(hass, CURRENT, 6, 16, "A")
    hass.states.async_set(ENABLE, "off")
    hass.states.async_set("sensor.wallbox_power", "0", {"unit_of_measurement": "W"})
    report(hass, GRID)
    wallbox = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Wallbox",
        data={
            CONF_KIND: "wallbox_manager",
            "grid_power_entity": GRID,
            "ev_power_entity": "sensor.wallbox_power",
            "charger_current_entity": CURRENT,
            "charger_enable_entity": ENABLE,
        },
        options={
            "min_current_a": 6.0,
            "max_current_a": 32.0,
            "min_phase_switch_minutes": 10.0,
            "charge_now_mode": "solar",
        },
    )
    await setup(hass, manager)
    await setup(hass, wallbox)
    found = issues(hass)
    assert set(found) == {
        "option_not_offered select.inverter_mode",
        "setpoint_out_of_range number.inverter_power",
        f"current_out_of_range {CURRENT}",
    }
    assert issue_shown(found["option_not_offered select.inverter_mode"]) == (
        "select.inverter_mode does not offer an option House battery sets",
        "The mode select does not offer an option the battery manager sets, so"
        " that state cannot be set: select.inverter_mode offers Charge, Standby;"
        " not Sell. Delete House battery and add it again with options the"
        " select offers.",
    )
    assert issue_shown(found["setpoint_out_of_range number.inverter_power"])[1] == (
        "The setpoint number does not take a value the battery manager sets, so"
        " that state cannot be set: number.inverter_power takes -2000 to 2000 W;"
        " not 3000. Delete House battery and add it again with setpoints within"
        " the number's range."
    )
    assert issue_shown(found[f"current_out_of_range {CURRENT}"])[1] == (
        "The charging current number does not take every current the wallbox"
        f" manager sets, and a setting beyond its range fails: {CURRENT} takes 6"
        " to 16 A; the manager sets 6 to 32 A. Set the minimum and maximum"
        " current of Wallbox within the number's range (Configure)."
    )
