"""Three controllers on one site: Home Assistant's stop leaves it safe, a restart resumes it."""

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import DOMAIN
from tests.integration.controllers.peak_and_car import SETPOINT
from tests.integration.controllers.test_battery_manager import (
    STATE as BATTERY_STATE,
    manager_entry,
    set_battery,
)
from tests.integration.controllers.test_site_limits import (
    LIMIT_W,
    charge_fast,
    load_all,
    measure,
    site_entries,
)
from tests.integration.controllers.test_wallbox_manager import (
    ENABLE,
    MODE,
    STATE as CAR_STATE,
)

T0 = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
BILLED_PEAK = "sensor.peak_shaving_billed_peak"
SESSION = "sensor.wallbox_session_energy"
SOC = "sensor.house_battery_estimated_state_of_charge"
INVERTER = "input_select.inverter_mode"
GRID_CHARGE = "input_boolean.grid_charge"

__all__ = ["site_entries"]  # the fixture, shared


@pytest.fixture
async def wallbox(hass: HomeAssistant) -> None:
    """The site's devices of other integrations: wallbox, inverter, battery setpoint.

    One set-up per helper domain: a second one would add nothing.
    """
    for domain, config in (
        (
            "input_number",
            {
                "wallbox_current": {"min": 0, "max": 32},
                "battery_setpoint": {"min": -5000, "max": 5000, "step": 1},
            },
        ),
        (
            "input_boolean",
            {"wallbox_charging": {}, "pv_bundle": {}, "grid_charge": {}},
        ),
        (
            "input_select",
            {
                "wallbox_phases": {"options": ["1", "3"]},
                "inverter_mode": {"options": ["Standby", "Charge", "Sell"]},
            },
        ),
    ):
        assert await async_setup_component(hass, domain, {domain: config})


async def minute(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entries: list[MockConfigEntry]
) -> None:
    """Let a minute pass with the battery charging at 20 A; every controller steps."""
    freezer.tick(timedelta(minutes=1))
    measure(hass)
    set_battery(hass, 53.5, 20.0, soc=None)
    for entry in entries:
        await entry.runtime_data.coordinator.async_refresh()
        await hass.async_block_till_done()


def saved(hass_storage: dict[str, Any], kind: str, entry: MockConfigEntry) -> Any:
    """Return what a controller wrote to its store."""
    return hass_storage[f"{DOMAIN}.{kind}.{entry.entry_id}"]["data"]


async def test_stop_leaves_every_output_safe_and_a_restart_resumes_all(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    site_entries: tuple[MockConfigEntry, MockConfigEntry],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A car session through the billed peak, a peak month, a battery count."""
    freezer.move_to(T0)
    measure(hass)
    set_battery(hass, 53.0, 0.0, soc=40)
    peak, car = site_entries
    entries = [peak, car, manager_entry()]
    await load_all(hass, entries)
    await charge_fast(hass, car, above_peak_limit=True)
    for _ in range(20):
        await minute(hass, freezer, entries)
    assert hass.states.get(CAR_STATE).state == "charging"
    assert hass.states.get(BATTERY_STATE).state == "charge"
    assert hass.states.get(INVERTER).state == "Charge"
    billed = float(hass.states.get(BILLED_PEAK).state)
    assert billed > LIMIT_W  # the session was sent through the billed peak
    session = float(hass.states.get(SESSION).state)
    soc = float(hass.states.get(SOC).state)
    assert session > 0
    assert soc > 40

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    # Each output in the safe state its page documents.
    assert hass.states.get(ENABLE).state == "off"
    assert float(hass.states.get(SETPOINT).state) == 0
    assert hass.states.get(INVERTER).state == "Standby"
    assert hass.states.get(GRID_CHARGE).state == "off"
    # And all of it on disk at once, not at the next delayed save.
    assert saved(hass_storage, "wallbox_manager", car)["above_peak_limit"] is True
    assert saved(hass_storage, "wallbox_manager", car)["mode"] == "fast"
    assert saved(hass_storage, "peak_shaving", peak)["billed_peak_w"] == pytest.approx(
        billed, abs=0.1
    )
    counted = saved(hass_storage, "battery_manager", entries[2])["counter"]["soc"]
    assert counted * 100 == pytest.approx(soc, abs=0.1)

    # The restart: the entries go, and come back from what was saved.
    for entry in entries:
        assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # Unloaded after the stop, nothing is left to remove twice.
    assert "Unable to remove unknown job listener" not in caplog.text
    freezer.tick(timedelta(minutes=2))
    measure(hass)
    set_battery(hass, 53.5, 0.0, soc=10)  # a BMS that says otherwise: the count wins
    for entry in entries:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    assert float(hass.states.get(BILLED_PEAK).state) == pytest.approx(billed, abs=0.1)
    assert hass.states.get(MODE).state == "fast"
    assert float(hass.states.get(SESSION).state) == pytest.approx(session, abs=0.01)
    # The two minutes between are counted as a ramp from the last current.
    assert float(hass.states.get(SOC).state) == pytest.approx(soc, abs=0.5)
    # The session resumes as it was asked: through the billed peak.
    await minute(hass, freezer, entries)
    assert hass.states.get(CAR_STATE).state == "charging"
    assert hass.states.get(CAR_STATE).attributes["reason"] == "fast"
