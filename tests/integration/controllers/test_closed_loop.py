"""The controllers in Home Assistant close the loop over the simulated site.

The grid meter (SDM630), the Victron GX and the Alfen are device entries
against the simulator, added through the config flow; the controllers
command them through their entities, and the simulated site obeys: what is
checked is the site's own battery, car and grid meter, and what the device
entities read back from them.

Peak shaving needs one number that sets the battery's power both ways,
which none of the simulated families has (the GX's is a grid setpoint): an
``input_number`` stands for the inverter's remote control, and the test
hands its value to the site's inverter whenever it changes, as an inverter
integration would. Its whole simulated day runs in the lab
(tests/lab/sim/test_peak_shaving_day.py); here, an evening hour.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import Event, EventStateChangedData, HomeAssistant
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.battery_manager.settings import (
    default_options,
)
from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from custom_components.energy_orchestrator.lib.control.battery_model import Chemistry
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.devices.victron import site_gx_emulator
from eo_lab.sim.devices.wallbox import Car, site_wallbox
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from tests.integration.controllers.simulated_site import (
    ALFEN_SERIAL,
    METER_SERIAL,
    SiteRun,
    add_tcp_device,
    frozen_at,
)
from tests.integration.controllers.test_flexible_loads import give_a_day

# 03:00 UTC: no PV, 1.0-1.6 kW of load for an hour and a half.
NIGHT = datetime(2026, 6, 2, 3, tzinfo=UTC)
# 20:00 UTC: the profile's first evening, 2.2-2.5 kW of load and no sun.
EVENING = datetime(2026, 6, 2, 20, tzinfo=UTC)
GX = "victron_energy_gx_device"
GX_BATTERY = f"sensor.{GX}_battery_monitor"
GRID_SETPOINT = f"number.{GX}_grid_setpoint"
REMOTE_CONTROL = "input_number.battery_remote_control"


async def _serve(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    start: datetime,
    soc: float,
) -> AsyncIterator[SiteRun]:
    """Serve the site at ``start`` with its GX and wallbox; add the devices.

    Home Assistant's time stands still but for the steps, which move it with
    the site's (``frozen_at``).
    """
    battery = SimBattery(capacity_ah=200.0, initial_soc=soc)
    with frozen_at(hass, freezer, monkeypatch, start) as clock:
        async with SimulatedSite(
            host="127.0.0.1", port=0, clock=clock, start_time=clock.now, battery=battery
        ) as sim:
            gx = site_gx_emulator(sim.site, sync=sim.sync)
            car = Car(capacity_kwh=40.0, soc=0.3)
            station = site_wallbox(sim.site, sync=sim.sync, car=car)
            async with (
                serve_devices("127.0.0.1", 0, gx.sim_devices()) as gx_server,
                serve_devices("127.0.0.1", 0, station.sim_devices()) as wallbox,
            ):
                # Nothing has told the station anything yet: the car would take
                # its safe 6 A. The battery tests want the car out of the way.
                car.plugged_in = False
                devices = [
                    await add_tcp_device(hass, sim.url, "sdm630"),
                    await add_tcp_device(hass, gx_server.url, "victron_gx", 100),
                    await add_tcp_device(hass, wallbox.url, "alfen"),
                ]
                run = SiteRun(sim, clock, freezer, hass, devices, station)
                yield run
                await run.async_unload_devices()


@pytest.fixture
async def night(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[SiteRun]:
    """The site at night, its battery half full."""
    async for loop in _serve(hass, freezer, monkeypatch, NIGHT, 0.5):
        yield loop


@pytest.fixture
async def evening(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[SiteRun]:
    """The site in the evening, its battery nearly full."""
    async for loop in _serve(hass, freezer, monkeypatch, EVENING, 0.9):
        yield loop


async def _add_entry(
    hass: HomeAssistant, title: str, data: dict[str, Any], options: dict[str, Any]
) -> MockConfigEntry:
    """Add and set up a controller entry."""
    entry = MockConfigEntry(
        domain=DOMAIN, minor_version=2, title=title, data=data, options=options
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _add_battery_manager(hass: HomeAssistant) -> MockConfigEntry:
    """Add the battery manager of the GX's 200 Ah battery, no minimum rest."""
    options = default_options(Chemistry.LFP, 16, 200)
    options["min_rest_minutes"] = 0
    return await _add_entry(
        hass,
        "House battery",
        {
            CONF_KIND: "battery_manager",
            "voltage_entity": f"{GX_BATTERY}_voltage",
            "current_entity": f"{GX_BATTERY}_current",
            "bms_soc_entity": f"{GX_BATTERY}_state_of_charge",
            # The GX in ESS mode 1: charge is a grid setpoint of 3 kW import.
            "setpoint_entity": GRID_SETPOINT,
            "setpoint_charge": 3000,
            "setpoint_rest": 0,
            "setpoint_sell": -3000,
        },
        options,
    )


async def test_the_battery_manager_s_charge_charges_the_simulated_battery(
    night: SiteRun,
) -> None:
    hass, site = night.hass, night.sim.site
    manager = await _add_battery_manager(hass)
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.house_battery_mode", "option": "charge"},
        blocking=True,
    )
    await night.step(5, manager)
    state = hass.states.get("sensor.house_battery")
    assert state is not None
    assert state.state == "charge"
    assert night.value(GRID_SETPOINT) == 3000
    true_soc = site.battery.soc
    estimated = night.value("sensor.house_battery_estimated_state_of_charge")
    for _ in range(60):
        await night.step(10, manager)
    # Ten minutes at 3 kW from the grid, the house's load taken out.
    assert night.grid_power == pytest.approx(3000, abs=30)
    assert site.battery_power_w == pytest.approx(3000 - site.load_w, abs=5)
    assert site.battery_power_w > 500
    assert site.battery.soc > true_soc + 0.01
    assert night.value(f"{GX_BATTERY}_current") > 10
    assert night.value("sensor.house_battery_estimated_state_of_charge") > estimated
    # Sell: the meter exports what the setpoint says.
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.house_battery_mode", "option": "sell"},
        blocking=True,
    )
    true_soc = site.battery.soc
    for _ in range(30):
        await night.step(10, manager)
    assert night.grid_power == pytest.approx(-3000, abs=30)
    assert site.battery.soc < true_soc
    assert await hass.config_entries.async_unload(manager.entry_id)


@pytest.mark.slow
async def test_peak_shaving_holds_the_simulated_grid_under_its_limit(
    evening: SiteRun,
) -> None:
    hass, site = evening.hass, evening.sim.site
    assert await async_setup_component(
        hass,
        INPUT_NUMBER,
        {INPUT_NUMBER: {"battery_remote_control": {"min": -5000, "max": 5000}}},
    )
    remote_control = site.commands("remote control")

    def hand_to_the_inverter(event: Event[EventStateChangedData]) -> None:
        state = event.data["new_state"]
        if state is not None:
            remote_control.battery_power_w = float(state.state)

    async_track_state_change_event(hass, REMOTE_CONTROL, hand_to_the_inverter)
    limit_w = 1000.0
    shaving = await _add_entry(
        hass,
        "Peak shaving",
        {
            CONF_KIND: "peak_shaving",
            "grid_power_entity": evening.entity("sensor", METER_SERIAL, "grid_power"),
            "battery_power_entity": f"sensor.{GX}_battery_power",
            "battery_soc_entity": f"sensor.{GX}_battery_state_of_charge",
            "battery_setpoint_entity": REMOTE_CONTROL,
            "invert_setpoint": False,
        },
        {
            "battery_capacity_kwh": 10.0,
            "battery_max_kw": 5.0,
            "battery_soc_min": 10.0,
            "battery_soc_max": 100.0,
            "import_limit_w": limit_w,
            "billing_interval_minutes": "15",
        },
    )
    await evening.step(5, shaving)
    house = site.load_w
    assert house > limit_w + 500
    quarters: list[float] = []
    for _ in range(4):
        counted = site.grid_import_energy_wh - site.grid_export_energy_wh
        for _ in range(15 * 60 // 5):
            await evening.step(5, shaving)
        net = site.grid_import_energy_wh - site.grid_export_energy_wh
        quarters.append((net - counted) * 4)
    # Every quarter hour's import at the limit, the battery giving the rest.
    assert max(quarters) <= limit_w + 20
    assert max(quarters) > limit_w - 100
    assert site.battery_power_w < -500
    assert evening.grid_power == pytest.approx(limit_w, abs=150)
    assert await hass.config_entries.async_unload(shaving.entry_id)


async def test_the_wallbox_manager_s_current_reaches_the_car_and_the_meter(
    night: SiteRun,
) -> None:
    hass, site, station = night.hass, night.sim.site, night.station
    assert station is not None
    car = station.car
    car.plugged_in = True
    phases = night.entity("number", ALFEN_SERIAL, "command_charger_phases")
    manager = await _add_entry(
        hass,
        "Wallbox",
        {
            CONF_KIND: "wallbox_manager",
            "grid_power_entity": night.entity("sensor", METER_SERIAL, "grid_power"),
            "ev_power_entity": night.entity("sensor", ALFEN_SERIAL, "charger_power"),
            "charger_current_entity": night.entity(
                "number", ALFEN_SERIAL, "command_charger_current"
            ),
            "charger_enable_entity": night.entity(
                "switch", ALFEN_SERIAL, "command_charger_enabled"
            ),
            "charger_phases_entity": phases,
        },
        {
            "min_current_a": 6,
            "max_current_a": 16,
            "min_phase_switch_minutes": 10,
            "charge_now_mode": "fast",
        },
    )
    # The house battery stays out of it: the meter then shows the car whole.
    site.commands("test").max_discharge_w = 0
    await night.step(5, manager)
    house = site.load_w
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.wallbox_charge_now"}, blocking=True
    )
    await night.step(5, manager)
    soc = car.soc
    for _ in range(15 * 60 // 20):
        await night.step(20, manager)
    # 16 A on three phases reached the car: 11 kW, and the meter imports it.
    car_w = 3 * 230 * 16 * 0.99
    assert site.consumer_power_w == pytest.approx(car_w, rel=0.03)
    assert night.grid_power == pytest.approx(site.load_w + car_w, rel=0.03)
    assert night.value(
        night.entity("sensor", ALFEN_SERIAL, "charger_power")
    ) == pytest.approx(car_w, rel=0.03)
    # A quarter hour of it, 90 % stored, into a 40 kWh battery.
    assert car.soc - soc == pytest.approx(car_w * 0.25 * 0.9 / 40_000, rel=0.05)
    assert house > 0
    assert await hass.config_entries.async_unload(manager.entry_id)


async def test_the_loads_plan_charges_the_simulated_battery_in_its_cheap_slot(
    night: SiteRun,
) -> None:
    """One plan: the loads entry plans the battery, its manager charges the site's."""
    hass, site = night.hass, night.sim.site
    await hass.config.async_set_time_zone("UTC")
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"water_heater": {}}}
    )
    manager = await _add_battery_manager(hass)
    await night.step(5, manager)
    loads = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Flexible loads",
        data={
            CONF_KIND: "flexible_loads",
            "grid_power_entity": night.entity("sensor", METER_SERIAL, "grid_power"),
        },
        options={
            # Cheap now (03:00-04:00 UTC), dear in the evening.
            "time_of_use": "00:00 0.30, 03:00 0.05, 04:00 0.30, 18:00 0.50, 21:00 0.30",
            "export_price": 0.05,
            "netting_minutes": "0",
            "safe_state": "off",
        },
        subentries_data=[
            ConfigSubentryData(
                subentry_type="load",
                title="Water heater",
                unique_id=None,
                data={
                    "load_entity": "input_boolean.water_heater",
                    "power_w": 2000.0,
                    "energy_kwh_per_day": 0.0,
                    "window_start": "00:00:00",
                    "window_end": "00:00:00",
                    "min_on_minutes": 0.0,
                    "min_off_minutes": 0.0,
                    "priority": 0.0,
                    "interruptible": True,
                },
            )
        ],
    )
    loads.add_to_hass(hass)
    assert await hass.config_entries.async_setup(loads.entry_id)
    await hass.async_block_till_done()
    coordinator = loads.runtime_data.coordinator
    # Yesterday's site, as the recorder would give it: the house's 1.2 kW.
    give_a_day(coordinator, NIGHT - timedelta(days=1), 1200.0)
    await night.step(5, loads, manager)
    state = hass.states.get("sensor.house_battery")
    assert state is not None
    assert (state.state, state.attributes["reason"]) == ("charge", "cheap_hour")
    plan = hass.states.get("sensor.house_battery_price_plan")
    assert plan is not None
    assert plan.attributes["planned_by"] == "Flexible loads"
    assert night.value(GRID_SETPOINT) == 3000
    true_soc = site.battery.soc
    for _ in range(30):
        await night.step(10, manager, loads, manager)
    # Five minutes at 3 kW from the grid, the house's load taken out.
    assert night.grid_power == pytest.approx(3000, abs=30)
    assert site.battery_power_w > 500
    assert site.battery.soc > true_soc + 0.005
    assert hass.states.get("sensor.house_battery").state == "charge"
    assert await hass.config_entries.async_unload(loads.entry_id)
    assert await hass.config_entries.async_unload(manager.entry_id)
