"""The wallbox manager on this integration's own Alfen, on the simulated site.

A user's path: the grid meter (SDM630) and the Alfen are added as device
entries against the simulator, the wallbox manager is added in the config
flow on their entities (the Alfen's phase control is a number), and what it
commands is read back from the simulated station's registers. The car
charges at night with an empty house battery: the meter imports what the
car takes, and none of the session is sun.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.energy_orchestrator.const import DOMAIN
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.devices.wallbox import site_wallbox
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from tests.integration.controllers.simulated_site import (
    ALFEN_SERIAL,
    METER_SERIAL,
    SiteRun,
    add_tcp_device,
    frozen_at,
)
from tests.integration.texts import errors_shown

# 01:00 UTC: the bundled profile's PV is 0 W.
NIGHT = datetime(2026, 6, 2, 1, tzinfo=UTC)


@pytest.fixture
async def night(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[SiteRun]:
    """Serve the site at night with an empty battery; add its meter and the Alfen.

    Home Assistant's time stands still but for the steps, which move it with
    the site's (``frozen_at``).
    """
    # At its SOC floor the battery covers nothing: the grid gives the car all.
    battery = SimBattery(capacity_ah=200.0, initial_soc=0.09)
    with frozen_at(hass, freezer, monkeypatch, NIGHT) as clock:
        async with SimulatedSite(
            host="127.0.0.1", port=0, clock=clock, start_time=clock.now, battery=battery
        ) as sim:
            station = site_wallbox(sim.site, sync=sim.sync)
            async with serve_devices("127.0.0.1", 0, station.sim_devices()) as wallbox:
                devices = [
                    await add_tcp_device(hass, sim.url, "sdm630"),
                    await add_tcp_device(hass, wallbox.url, "alfen"),
                ]
                run = SiteRun(sim, clock, freezer, hass, devices, station)
                yield run
                await run.async_unload_devices()


async def _add_manager(night: SiteRun, phases: str) -> ConfigEntry[Any]:
    """Add the wallbox manager in the config flow on the Alfen's entities."""
    hass = night.hass
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "wallbox_manager"}
    )
    form = {
        "name": "Wallbox",
        "grid_power_entity": night.entity("sensor", METER_SERIAL, "grid_power"),
        "ev_power_entity": night.entity("sensor", ALFEN_SERIAL, "charger_power"),
        "charger_current_entity": night.entity(
            "number", ALFEN_SERIAL, "command_charger_current"
        ),
        "charger_enable_entity": night.entity(
            "switch", ALFEN_SERIAL, "command_charger_enabled"
        ),
        "min_current_a": 6,
        "max_current_a": 16,
        "min_phase_switch_minutes": 10,
        "charge_now_mode": "fast",
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**form, "charger_phases_entity": phases}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: ConfigEntry[Any] = result["result"]
    return entry


async def test_the_alfen_shows_what_it_applies(night: SiteRun) -> None:
    """Before any EMS wrote to it, the station charges at its safe current."""
    switch = night.entity("switch", ALFEN_SERIAL, "command_charger_enabled")
    current = night.entity("number", ALFEN_SERIAL, "command_charger_current")
    phases = night.entity("number", ALFEN_SERIAL, "command_charger_phases")
    status = night.entity("sensor", ALFEN_SERIAL, "charger_status")
    assert night.hass.states.get(status).state == "charging"
    assert night.hass.states.get(switch).state == "on"
    assert night.value(current) == 6.0
    assert night.value(phases) == 3.0
    assert phases == "number.alfen_eve_ng910_phases_to_charge_on"
    # The setpoint written by hand runs out after 60 s: the number says so.
    await night.hass.services.async_call(
        "number", "set_value", {"entity_id": current, "value": 10}, blocking=True
    )
    assert night.value(current) == 10.0
    await night.step(61)
    assert night.value(current) == 6.0


async def test_the_manager_switches_phases_and_sets_the_current(night: SiteRun) -> None:
    hass, station = night.hass, night.station
    assert station is not None
    meter = night.entity("sensor", METER_SERIAL, "grid_power")
    car = night.entity("sensor", ALFEN_SERIAL, "charger_power")
    phases = night.entity("number", ALFEN_SERIAL, "command_charger_phases")
    manager = await _add_manager(night, phases)
    # Mode off: the manager stops the car the station charged at its safe current.
    await night.step(5, manager)
    assert station.max_current_a == 0.0
    assert night.value(car) == 0.0
    house = night.value(meter)
    import_before = night.sim.site.grid_import_energy_wh

    # Charge now (fast): three phases at the maximum current.
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.wallbox_charge_now"}, blocking=True
    )
    await night.step(5, manager)
    assert (station.phases, station.max_current_a) == (3, 16.0)
    assert night.car_currents() == pytest.approx([16, 16, 16])
    assert night.value(car) == pytest.approx(3 * 230 * 16 * 0.99, rel=0.05)
    # The meter imports the house's load and all the car takes.
    assert night.value(meter) == pytest.approx(house + night.value(car), rel=0.02)

    # One phase, forced: off, wait for the current to stop, switch, pause, on.
    await hass.services.async_call(
        DOMAIN,
        "set_charger_phases",
        {"config_entry_id": manager.entry_id, "phases": "one"},
        blocking=True,
    )
    assert station.max_current_a == 0.0
    for _ in range(10):
        await night.step(5, manager)
    assert (station.phases, station.max_current_a) == (1, 16.0)
    assert station.switches_under_load == 0
    assert hass.states.get(phases).state == "1.0"
    assert night.car_currents() == pytest.approx([16, 0, 0])
    assert night.value(car) == pytest.approx(230 * 16 * 0.99, rel=0.05)
    assert night.value(meter) == pytest.approx(house + night.value(car), rel=0.02)

    # An hour on one phase: the manager rewrites its setpoint within the
    # station's 60 s validity, so the car never falls back to the safe 6 A.
    for _ in range(3600 // 20):
        await night.step(20)
        assert station.offered_current() == 16.0
        await night.step(0, manager)
    session = hass.states.get("sensor.wallbox_session_energy")
    assert session.attributes["unit_of_measurement"] == "kWh"
    session_wh = float(session.state) * 1000
    assert session_wh == pytest.approx(230 * 16 * 0.99, rel=0.05)
    # Everything the car took came through the meter, none from the sun.
    imported = night.sim.site.grid_import_energy_wh - import_before
    assert imported >= session_wh
    assert (
        float(hass.states.get("sensor.wallbox_solar_share_of_the_session").state) == 0
    )
    assert await hass.config_entries.async_unload(manager.entry_id)
    assert station.max_current_a == 0.0


async def test_a_phase_control_that_cannot_take_one_and_three_is_refused(
    night: SiteRun,
) -> None:
    hass = night.hass
    current = night.entity("number", ALFEN_SERIAL, "command_charger_current")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "wallbox_manager"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "name": "Wallbox",
            "grid_power_entity": night.entity("sensor", METER_SERIAL, "grid_power"),
            "ev_power_entity": night.entity("sensor", ALFEN_SERIAL, "charger_power"),
            "charger_current_entity": current,
            "charger_enable_entity": night.entity(
                "switch", ALFEN_SERIAL, "command_charger_enabled"
            ),
            # The current limit takes 6-32 A: not a phase control.
            "charger_phases_entity": current,
            "min_current_a": 6,
            "max_current_a": 16,
            "min_phase_switch_minutes": 10,
            "charge_now_mode": "fast",
        },
    )
    assert errors_shown(result, ("config",)) == {
        "charger_phases_entity": "The phase control cannot be set to one and to"
        f" three phases: {current} takes 6 to 32; phases are 1 and 3"
    }
