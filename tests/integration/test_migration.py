"""Entries written before 1.2 (one ``type`` field) are migrated as they were left.

The data below is what the flows of 1.1 wrote: ``type`` was a device's
connection or a controller's kind, and controllers had no unique id.
"""

from collections.abc import Iterable
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.battery_manager.settings import (
    default_options,
)
from custom_components.energy_orchestrator.const import DOMAIN
from custom_components.energy_orchestrator.lib.control.battery_model import Chemistry

SETPOINT = "input_number.battery_setpoint"
GARAGE_SETPOINT = "input_number.garage_setpoint"


def legacy(
    data: dict[str, Any],
    *,
    title: str = "Entry",
    unique_id: str | None = None,
    options: dict[str, Any] | None = None,
    subentries: Iterable[ConfigSubentryData] = (),
) -> MockConfigEntry:
    """Return an entry as 1.1 stored it."""
    return MockConfigEntry(
        domain=DOMAIN,
        version=1,
        minor_version=1,
        title=title,
        unique_id=unique_id,
        data=data,
        options=options or {},
        subentries_data=list(subentries),
    )


async def migrate(hass: HomeAssistant, *entries: MockConfigEntry) -> None:
    """Let Home Assistant start with the entries, which migrates them first."""
    for entry in entries:
        entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    for entry in entries:
        assert entry.state is not ConfigEntryState.MIGRATION_ERROR, entry.title


def peak_shaving(title: str = "Peak shaving") -> MockConfigEntry:
    """Return peak shaving of 1.1 with a further battery."""
    return legacy(
        {
            "type": "peak_shaving",
            "grid_power_entity": "sensor.grid_power",
            "battery_power_entity": "sensor.battery_power",
            "battery_soc_entity": "sensor.battery_soc",
            "battery_setpoint_entity": SETPOINT,
            "invert_setpoint": False,
        },
        title=title,
        options={
            "battery_capacity_kwh": 10.0,
            "battery_max_kw": 5.0,
            "battery_soc_min": 10.0,
            "battery_soc_max": 100.0,
            "billing_interval_minutes": "15",
        },
        subentries=[
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


def battery_manager(title: str = "House battery", **outputs: Any) -> MockConfigEntry:
    """Return a battery manager of 1.1 with the given outputs."""
    return legacy(
        {
            "type": "battery_manager",
            "voltage_entity": "sensor.bms_voltage",
            "current_entity": "sensor.bms_current",
            **outputs,
        },
        title=title,
        options=default_options(Chemistry.LFP, 16, 280),
    )


async def test_devices_keep_their_unique_id_and_name_their_connection(
    hass: HomeAssistant, closed_port: int
) -> None:
    tcp = legacy(
        {
            "type": "tcp",
            "family": "sdm630",
            "host": "127.0.0.1",
            "port": closed_port,
            "unit_id": 1,
            "framing": "tcp",
        },
        unique_id="63000001",
    )
    serial = legacy(
        {
            "type": "serial",
            "family": "sdm120",
            "device": f"socket://127.0.0.1:{closed_port}",
            "baudrate": 9600,
            "unit_id": 2,
        },
        unique_id="12000002",
    )
    await migrate(hass, tcp, serial)
    assert (tcp.version, tcp.minor_version, tcp.unique_id) == (1, 2, "63000001")
    assert tcp.data == {
        "kind": "device",
        "connection": "tcp",
        "family": "sdm630",
        "host": "127.0.0.1",
        "port": closed_port,
        "unit_id": 1,
        "framing": "tcp",
    }
    assert (serial.minor_version, serial.unique_id) == (2, "12000002")
    assert serial.data == {
        "kind": "device",
        "connection": "serial",
        "family": "sdm120",
        "device": f"socket://127.0.0.1:{closed_port}",
        "baudrate": 9600,
        "unit_id": 2,
    }
    # Migrated, the devices are set up as ever (here: nobody answers).
    assert tcp.state is ConfigEntryState.SETUP_RETRY


async def test_controllers_are_named_by_their_first_output(
    hass: HomeAssistant, closed_port: int
) -> None:
    """A device added before them drives nothing; they share no output."""
    meter = legacy(
        {
            "type": "tcp",
            "family": "sdm630",
            "host": "127.0.0.1",
            "port": closed_port,
            "unit_id": 1,
            "framing": "tcp",
        },
        unique_id="63000001",
    )
    shaving = peak_shaving()
    manager = battery_manager(
        mode_select_entity="select.inverter_mode",
        option_charge="Charge",
        option_rest="Standby",
        option_sell="Sell",
        charge_switch_entity="switch.grid_charge",
    )
    wallbox = legacy(
        {
            "type": "wallbox_manager",
            "grid_power_entity": "sensor.grid_power",
            "ev_power_entity": "sensor.car_power",
            "charger_current_entity": "number.wallbox_current",
            "charger_enable_entity": "switch.wallbox_charging",
        },
        title="Wallbox",
        options={
            "min_current_a": 6.0,
            "max_current_a": 16.0,
            "min_phase_switch_minutes": 10.0,
            "charge_now_mode": "solar",
        },
    )
    await migrate(hass, meter, shaving, manager, wallbox)
    assert (shaving.minor_version, shaving.unique_id) == (2, SETPOINT)
    assert shaving.data["kind"] == "peak_shaving"
    assert "type" not in shaving.data
    (garage,) = shaving.subentries.values()
    assert garage.data["battery_setpoint_entity"] == GARAGE_SETPOINT
    assert (manager.unique_id, manager.data["kind"]) == (
        "select.inverter_mode",
        "battery_manager",
    )
    assert manager.data["charge_switch_entity"] == "switch.grid_charge"
    assert (wallbox.unique_id, wallbox.data["kind"]) == (
        "number.wallbox_current",
        "wallbox_manager",
    )
    assert "connection" not in wallbox.data


async def test_a_controller_without_outputs_gets_no_unique_id(
    hass: HomeAssistant,
) -> None:
    """A battery manager that only counts the charge drives nothing."""
    watcher = battery_manager()
    await migrate(hass, watcher)
    assert (watcher.minor_version, watcher.unique_id) == (2, None)
    assert watcher.data == {
        "kind": "battery_manager",
        "voltage_entity": "sensor.bms_voltage",
        "current_entity": "sensor.bms_current",
    }


@pytest.mark.parametrize("later_first", [False, True])
async def test_of_two_controllers_on_one_output_the_first_added_keeps_it(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, later_first: bool
) -> None:
    """The battery manager added later drives peak shaving's further battery.

    Whichever is migrated first, peak shaving (added first) gets the unique
    id, the battery manager none, and the user one warning; a meter added
    before both, not migrated yet, drives nothing.
    """
    meter = legacy(
        {"type": "serial", "family": "sdm120", "device": "/dev/ttyUSB0"},
        unique_id="12000002",
    )
    meter.add_to_hass(hass)
    shaving = peak_shaving()
    manager = battery_manager(
        setpoint_entity=GARAGE_SETPOINT,
        setpoint_charge=3000,
        setpoint_rest=0,
        setpoint_sell=-3000,
    )
    shaving.add_to_hass(hass)
    manager.add_to_hass(hass)
    for entry in (manager, shaving) if later_first else (shaving, manager):
        assert await entry.async_migrate(hass)
    assert (shaving.minor_version, shaving.unique_id) == (2, SETPOINT)
    assert (manager.minor_version, manager.unique_id) == (2, None)
    assert meter.minor_version == 1
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "both drive" in record.getMessage()
    ]
    assert warnings == [
        "Peak shaving and House battery both drive "
        f"{GARAGE_SETPOINT}; only one of them should (delete one)"
    ]


async def test_a_controller_sharing_only_a_later_output_keeps_its_first(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Its first output is its own: it is named by it, and warned about the other."""
    shaving = peak_shaving()
    manager = battery_manager(
        mode_select_entity="select.inverter_mode",
        option_charge="Charge",
        option_rest="Standby",
        option_sell="Sell",
        setpoint_entity=SETPOINT,
        setpoint_charge=3000,
        setpoint_rest=0,
        setpoint_sell=-3000,
    )
    await migrate(hass, shaving, manager)
    assert shaving.unique_id == SETPOINT
    assert manager.unique_id == "select.inverter_mode"
    assert [
        record.getMessage()
        for record in caplog.records
        if "both drive" in record.getMessage()
    ] == [
        f"Peak shaving and House battery both drive {SETPOINT};"
        " only one of them should (delete one)"
    ]


async def test_an_entry_of_a_newer_minor_version_is_read_as_it_is(
    hass: HomeAssistant, closed_port: int
) -> None:
    """A newer minor version only adds: this version reads it (after a downgrade)."""
    data = {
        "kind": "device",
        "connection": "tcp",
        "family": "sdm630",
        "host": "127.0.0.1",
        "port": closed_port,
        "unit_id": 1,
        "framing": "tcp",
    }
    newer = MockConfigEntry(
        domain=DOMAIN, version=1, minor_version=3, unique_id="63000001", data=data
    )
    await migrate(hass, newer)
    assert (newer.minor_version, newer.data) == (3, data)
    assert newer.state is ConfigEntryState.SETUP_RETRY
