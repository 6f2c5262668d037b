"""Peak shaving and a wallbox manager on helper entities: the entries tests share.

Peak shaving's own tests, the site's shared limits and the car's room
ahead all build the same two entries on one meter: peak shaving over a
10 kWh / 5 kW battery with a signed setpoint number, and a wallbox manager
on the wallbox test's helpers.
"""

from collections.abc import Iterable
from typing import Any

from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from tests.integration.controllers.test_wallbox_manager import (
    CURRENT,
    ENABLE,
    EV,
    GRID,
    PHASES,
)

BATTERY = "sensor.inverter_battery_power"
SOC = "sensor.bms_soc"
SETPOINT = "input_number.battery_setpoint"


async def async_setup_setpoint(hass: HomeAssistant) -> None:
    """Make the battery's setpoint number (-5 to 5 kW)."""
    assert await async_setup_component(
        hass,
        INPUT_NUMBER,
        {INPUT_NUMBER: {"battery_setpoint": {"min": -5000, "max": 5000, "step": 1}}},
    )


def peak_shaving_entry(
    import_limit_w: float | None = 3000.0,
    *,
    setpoint: str = SETPOINT,
    subentries_data: Iterable[ConfigSubentryData] = (),
    connection_limit_w: float | None = None,
    **data: Any,
) -> MockConfigEntry:
    """Return peak shaving on the meter and the battery; no limit: the plan's.

    ``setpoint``, further batteries (``subentries_data``), the grid
    connection's limit and further ``data`` for the tests that need them.
    """
    limit = {} if import_limit_w is None else {"import_limit_w": import_limit_w}
    if connection_limit_w is not None:
        limit["connection_limit_w"] = connection_limit_w
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Peak shaving",
        data={
            CONF_KIND: "peak_shaving",
            "grid_power_entity": GRID,
            "battery_power_entity": BATTERY,
            "battery_soc_entity": SOC,
            "battery_setpoint_entity": setpoint,
            "invert_setpoint": False,
            **data,
        },
        options={
            "battery_capacity_kwh": 10.0,
            "battery_max_kw": 5.0,
            "battery_soc_min": 10.0,
            "battery_soc_max": 100.0,
            **limit,
            "billing_interval_minutes": "15",
        },
        subentries_data=list(subentries_data),
    )


def wallbox_manager_entry() -> MockConfigEntry:
    """Return a wallbox manager on the same meter: 6-16 A, one or three phases."""
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
        },
        options={
            "min_current_a": 6.0,
            "max_current_a": 16.0,
            "min_phase_switch_minutes": 10.0,
            "charge_now_mode": "fast",
        },
    )


def report_meters(hass: HomeAssistant, grid_w: float, car_w: float) -> None:
    """Set the grid meter and the car's, the battery at its floor (10 %, 0 W)."""
    for entity, value, unit in (
        (GRID, grid_w, "W"),
        (EV, car_w, "W"),
        (BATTERY, 0.0, "W"),
        (SOC, 10.0, "%"),
    ):
        hass.states.async_set(
            entity, str(value), {"unit_of_measurement": unit}, force_update=True
        )
