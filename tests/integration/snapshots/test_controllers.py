"""Snapshots of the controllers' entities, platform by platform, and diagnostics.

Each controller drives helpers (input_number, input_select, input_boolean)
and reads sensor states set by hand, as in ``tests/integration/controllers``;
time is frozen, so what it shows after its first step is always the same.
Entries get a fixed id: the entities' unique ids are made of it.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from homeassistant.components.input_boolean import DOMAIN as INPUT_BOOLEAN
from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.components.input_select import DOMAIN as INPUT_SELECT
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.energy_orchestrator.battery_manager.settings import (
    default_options,
)
from custom_components.energy_orchestrator.const import (
    CONF_KIND,
    DOMAIN,
    KIND_DEVICE,
    KIND_REMOTE_NODE,
    KIND_SITE_REPORT,
)
from custom_components.energy_orchestrator.kinds import KINDS
from custom_components.energy_orchestrator.lib.control.battery_model import Chemistry

from .conftest import OnlyPlatform

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)

# Frozen before any fixture runs: the HTTP client's access token is made at NOW.
pytestmark = pytest.mark.freeze_time(NOW)


def _sensor(hass: HomeAssistant, entity_id: str, value: float, unit: str) -> None:
    """Report a sensor of another integration (a BMS, a meter, an inverter)."""
    hass.states.async_set(entity_id, str(value), {"unit_of_measurement": unit})


async def battery_manager(hass: HomeAssistant) -> MockConfigEntry:
    """Return a battery manager on a 16-cell LFP battery of 100 Ah, resting at 50 %."""
    assert await async_setup_component(
        hass,
        INPUT_SELECT,
        {INPUT_SELECT: {"inverter_mode": {"options": ["Standby", "Charge", "Sell"]}}},
    )
    assert await async_setup_component(
        hass, INPUT_BOOLEAN, {INPUT_BOOLEAN: {"grid_charge": {}}}
    )
    _sensor(hass, "sensor.bms_voltage", 53.0, "V")
    _sensor(hass, "sensor.bms_current", 0.0, "A")
    _sensor(hass, "sensor.bms_soc", 50, "%")
    options = default_options(Chemistry.LFP, 16, 100)
    options["min_rest_minutes"] = 0
    return MockConfigEntry(
        domain=DOMAIN,
        title="House battery",
        entry_id="battery_manager",
        minor_version=2,
        data={
            CONF_KIND: "battery_manager",
            "voltage_entity": "sensor.bms_voltage",
            "current_entity": "sensor.bms_current",
            "bms_soc_entity": "sensor.bms_soc",
            "mode_select_entity": "input_select.inverter_mode",
            "option_charge": "Charge",
            "option_rest": "Standby",
            "option_sell": "Sell",
            "charge_switch_entity": "input_boolean.grid_charge",
        },
        options=options,
    )


async def peak_shaving(hass: HomeAssistant) -> MockConfigEntry:
    """Return peak shaving with 5 kW drawn against a 3 kW limit."""
    assert await async_setup_component(
        hass,
        INPUT_NUMBER,
        {INPUT_NUMBER: {"battery_setpoint": {"min": -5000, "max": 5000, "step": 1}}},
    )
    _sensor(hass, "sensor.meter_grid_power", 5000, "W")
    _sensor(hass, "sensor.inverter_battery_power", 0, "W")
    _sensor(hass, "sensor.bms_soc", 60, "%")
    return MockConfigEntry(
        domain=DOMAIN,
        title="Peak shaving",
        entry_id="peak_shaving",
        minor_version=2,
        data={
            CONF_KIND: "peak_shaving",
            "grid_power_entity": "sensor.meter_grid_power",
            "battery_power_entity": "sensor.inverter_battery_power",
            "battery_soc_entity": "sensor.bms_soc",
            "battery_setpoint_entity": "input_number.battery_setpoint",
            "invert_setpoint": False,
        },
        options={
            "battery_capacity_kwh": 10.0,
            "battery_max_kw": 5.0,
            "battery_soc_min": 10.0,
            "battery_soc_max": 100.0,
            "import_limit_w": 3000.0,
            "billing_interval_minutes": "15",
        },
    )


async def wallbox_manager(hass: HomeAssistant) -> MockConfigEntry:
    """Return a wallbox manager with 2.5 kW exported and the car not charging."""
    assert await async_setup_component(
        hass, INPUT_NUMBER, {INPUT_NUMBER: {"wallbox_current": {"min": 0, "max": 32}}}
    )
    assert await async_setup_component(
        hass, INPUT_BOOLEAN, {INPUT_BOOLEAN: {"wallbox_charging": {}, "pv_bundle": {}}}
    )
    assert await async_setup_component(
        hass, INPUT_SELECT, {INPUT_SELECT: {"wallbox_phases": {"options": ["1", "3"]}}}
    )
    _sensor(hass, "sensor.wallbox_power", 0, "W")
    _sensor(hass, "sensor.meter_grid_power", -2500, "W")
    return MockConfigEntry(
        domain=DOMAIN,
        title="Wallbox",
        entry_id="wallbox_manager",
        minor_version=2,
        data={
            CONF_KIND: "wallbox_manager",
            "grid_power_entity": "sensor.meter_grid_power",
            "ev_power_entity": "sensor.wallbox_power",
            "charger_current_entity": "input_number.wallbox_current",
            "charger_enable_entity": "input_boolean.wallbox_charging",
            "charger_phases_entity": "input_select.wallbox_phases",
            "pv_routing_entity": "input_boolean.pv_bundle",
        },
        options={
            "min_current_a": 6.0,
            "max_current_a": 16.0,
            "min_phase_switch_minutes": 10.0,
            "charge_now_mode": "solar",
        },
    )


async def site(hass: HomeAssistant) -> MockConfigEntry:
    """Return the site entry, over a loaded wallbox manager."""
    wallbox = await wallbox_manager(hass)
    wallbox.add_to_hass(hass)
    assert await hass.config_entries.async_setup(wallbox.entry_id)
    await hass.async_block_till_done()
    return MockConfigEntry(
        domain=DOMAIN,
        title="Site",
        entry_id="site",
        minor_version=2,
        data={CONF_KIND: "site"},
    )


async def flexible_loads(hass: HomeAssistant) -> MockConfigEntry:
    """Return flexible loads with 2.5 kW exported: the water heater soaks it up."""
    assert await async_setup_component(
        hass, INPUT_BOOLEAN, {INPUT_BOOLEAN: {"water_heater": {}, "pool_pump": {}}}
    )
    _sensor(hass, "sensor.meter_grid_power", -2500, "W")

    def load(title: str, entity_id: str, subentry_id: str) -> ConfigSubentryData:
        return ConfigSubentryData(
            subentry_type="load",
            subentry_id=subentry_id,
            title=title,
            unique_id=None,
            data={
                "load_entity": entity_id,
                "power_w": 2000.0,
                "energy_kwh_per_day": 4.0,
                "window_start": "00:00:00",
                "window_end": "00:00:00",
                "min_on_minutes": 10.0,
                "min_off_minutes": 10.0,
                "priority": 0.0,
                "interruptible": True,
            },
        )

    return MockConfigEntry(
        domain=DOMAIN,
        title="Flexible loads",
        entry_id="flexible_loads",
        minor_version=2,
        data={
            CONF_KIND: "flexible_loads",
            "grid_power_entity": "sensor.meter_grid_power",
        },
        options={
            "import_price": 0.2,
            "export_price": 0.05,
            "netting_minutes": "60",
            "safe_state": "off",
        },
        subentries_data=[
            load("Water heater", "input_boolean.water_heater", "water_heater"),
            load("Pool pump", "input_boolean.pool_pump", "pool_pump"),
        ],
    )


type ControllerSetup = Callable[[HomeAssistant], Awaitable[MockConfigEntry]]

CONTROLLERS: dict[str, tuple[ControllerSetup, tuple[Platform, ...]]] = {
    "battery_manager": (
        battery_manager,
        (Platform.NUMBER, Platform.SELECT, Platform.SENSOR),
    ),
    "peak_shaving": (peak_shaving, (Platform.SENSOR,)),
    "site": (site, (Platform.SENSOR,)),
    "flexible_loads": (flexible_loads, (Platform.SENSOR, Platform.SWITCH)),
    "wallbox_manager": (
        wallbox_manager,
        (Platform.BUTTON, Platform.SELECT, Platform.SENSOR),
    ),
}


def test_every_controller_platform_is_snapshotted() -> None:
    """A controller kind or platform added to the integration needs snapshots too."""
    assert {kind: set(platforms) for kind, (_, platforms) in CONTROLLERS.items()} == {
        kind.key: set(kind.platforms)
        for kind in KINDS.values()
        # The site report needs the recorder: its snapshots are in
        # tests/integration/site_report/test_entry.py; a remote node's need a
        # broker and a node: tests/integration/remote_node/test_remote_node.py.
        if kind.key not in {KIND_DEVICE, KIND_SITE_REPORT, KIND_REMOTE_NODE}
    }


async def setup_controller(hass: HomeAssistant, kind: str) -> MockConfigEntry:
    """Make a controller's input entities, then set its entry up."""
    entry = await CONTROLLERS[kind][0](hass)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.mark.parametrize(
    ("kind", "platform"),
    [
        (kind, platform)
        for kind, (_, platforms) in CONTROLLERS.items()
        for platform in platforms
    ],
)
async def test_entities(
    hass: HomeAssistant,
    snapshot: SnapshotAssertion,
    only_platform: OnlyPlatform,
    kind: str,
    platform: Platform,
) -> None:
    """The controller's entities of one platform after its first step."""
    only_platform(kind, platform)
    entry = await setup_controller(hass, kind)
    await snapshot_platform(hass, er.async_get(hass), snapshot, entry.entry_id)
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("kind", list(CONTROLLERS))
async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
    kind: str,
) -> None:
    """What a support request gets from the controller's entry, as downloaded."""
    entry = await setup_controller(hass, kind)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics == snapshot
    assert await hass.config_entries.async_unload(entry.entry_id)
