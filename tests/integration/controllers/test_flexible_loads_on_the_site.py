"""The flexible loads end the hour near zero on the simulated site (seed 003).

The grid meter (SDM630) is a device entry against the simulator, added
through the config flow; the loads are switches (``input_boolean``s, as a
smart plug's integration would give) whose state the test hands to loads on
the simulated site, so what the controller switches is what the meter
measures. The site's battery is kept out, as on a site without one: with it
the inverter holds the grid at 0 W and there is nothing to net.

The hour is 13:00-14:00 UTC of the bundled profile: about 1.2 kW of surplus
on average, in and out with the clouds, less than the water heater's 2 kW.
Left alone, the hour exports about 1.2 kWh paid at the export price; the
controller soaks it, and the hour ends near zero.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.input_boolean import DOMAIN as INPUT_BOOLEAN
from homeassistant.config_entries import ConfigEntry, ConfigSubentryData
from homeassistant.core import Event, EventStateChangedData, HomeAssistant
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.simulated_site import SimulatedSite
from tests.integration.controllers.simulated_site import (
    METER_SERIAL,
    SiteRun,
    add_tcp_device,
    frozen_at,
)

# The hour whose net is watched, and the minute before it the controller starts.
HOUR = datetime(2026, 6, 2, 13, tzinfo=UTC)
START = datetime(2026, 6, 2, 12, 59, 30, tzinfo=UTC)
STEP_S = 10.0
HEATER = "input_boolean.water_heater"
HEATER_W = 2000.0
PUMP = "input_boolean.pool_pump"
PUMP_W = 800.0


class SwitchedLoad:
    """A load on the site's supply that draws its power while its switch is on."""

    def __init__(self, label: str, power_w: float) -> None:
        """Start switched off."""
        self._label = label
        self.power_w = power_w
        self.on = False

    @property
    def label(self) -> str:
        """Return what a console calls it."""
        return self._label

    def phase_powers(self, at: float) -> tuple[float, float, float]:
        """Return its power on L1 while it is on."""
        return (self.power_w if self.on else 0.0, 0.0, 0.0)


@pytest.fixture
async def midday(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[SiteRun]:
    """Serve the site just before 13:00, its battery kept out; add its meter."""
    with frozen_at(hass, freezer, monkeypatch, START) as clock:
        battery = SimBattery(capacity_ah=200.0, initial_soc=0.5)
        async with SimulatedSite(
            host="127.0.0.1", port=0, clock=clock, start_time=clock.now, battery=battery
        ) as sim:
            # No battery power either way: a site without a battery.
            kept_out = sim.site.commands("no battery")
            kept_out.max_charge_w = kept_out.max_discharge_w = 0.0
            devices = [await add_tcp_device(hass, sim.url, "sdm630")]
            run = SiteRun(sim, clock, freezer, hass, devices)
            yield run
            await run.async_unload_devices()


def _load(title: str, entity_id: str, power_w: float) -> ConfigSubentryData:
    """Return an interruptible load with a day's need far above one hour's."""
    return ConfigSubentryData(
        subentry_type="load",
        title=title,
        unique_id=None,
        data={
            "load_entity": entity_id,
            "power_w": power_w,
            "energy_kwh_per_day": 6.0,
            "window_start": "00:00:00",
            "window_end": "00:00:00",
            "min_on_minutes": 2.0,
            "min_off_minutes": 2.0,
            "priority": 1.0 if entity_id == HEATER else 0.0,
            "interruptible": True,
        },
    )


async def _add_loads(hass: HomeAssistant, run: SiteRun) -> ConfigEntry[object]:
    """Make the switches, wire them to the site's loads, add the controller."""
    assert await async_setup_component(
        hass, INPUT_BOOLEAN, {INPUT_BOOLEAN: {"water_heater": {}, "pool_pump": {}}}
    )
    loads = {HEATER: SwitchedLoad("water heater", HEATER_W)}
    loads[PUMP] = SwitchedLoad("pool pump", PUMP_W)
    for load in loads.values():
        run.sim.site.add_consumer(load)

    def hand_to_the_site(event: Event[EventStateChangedData]) -> None:
        state = event.data["new_state"]
        if state is not None:
            loads[event.data["entity_id"]].on = state.state == "on"

    async_track_state_change_event(hass, list(loads), hand_to_the_site)
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Flexible loads",
        data={
            CONF_KIND: "flexible_loads",
            "grid_power_entity": run.entity("sensor", METER_SERIAL, "grid_power"),
        },
        options={
            "import_price": 0.2,
            "export_price": 0.05,
            "netting_minutes": "60",
            "safe_state": "off",
        },
        subentries_data=[
            _load("Water heater", HEATER, HEATER_W),
            _load("Pool pump", PUMP, PUMP_W),
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _hour_alone_wh(run: SiteRun) -> float:
    """Return the hour's net grid energy with no load switched (Wh, + import)."""
    site = run.sim.site
    start = HOUR.timestamp()
    return (
        sum(
            site.profile.load_w(site.profile_time(start + s))
            - site.profile.pv_w(site.profile_time(start + s))
            for s in range(3600)
        )
        / 3600
    )


async def test_the_hour_ends_near_zero_on_the_simulated_site(
    hass: HomeAssistant, midday: SiteRun
) -> None:
    """The loads soak the hour's export as the meter measures it, with no flicker."""
    entry = await _add_loads(hass, midday)
    site = midday.sim.site
    switched: list[tuple[str, str]] = []

    def record(event: Event[EventStateChangedData]) -> None:
        state = event.data["new_state"]
        if state is not None:
            switched.append((event.data["entity_id"], state.state))

    async_track_state_change_event(hass, [HEATER, PUMP], record)
    while midday.clock.now < HOUR.timestamp():
        await midday.step(STEP_S, entry)
    imported = site.grid_import_energy_wh
    exported = site.grid_export_energy_wh
    while midday.clock.now < HOUR.timestamp() + 3600:
        await midday.step(STEP_S, entry)
    net_wh = (site.grid_import_energy_wh - imported) - (
        site.grid_export_energy_wh - exported
    )
    alone_wh = _hour_alone_wh(midday)
    # Left alone the hour exports over a kilowatt-hour.
    assert alone_wh < -1000
    # Switched by the controller it ends within a tenth of that of zero,
    # having soaked at least 1 kWh into the loads.
    soaked_wh = site.consumer_energy_wh
    assert abs(net_wh) < 0.1 * abs(alone_wh), (net_wh, alone_wh, switched)
    assert soaked_wh > 1000
    # No flicker: the minimum on and off times (2 min) hold, so at most one
    # start per load every four minutes.
    starts = sum(1 for _, state in switched if state == "on")
    assert 1 <= starts <= 2 * 60 // 4
    # The figure docs/flexible-loads.md quotes (pytest -s shows it).
    print(
        f"hour 13:00-14:00: net {net_wh:+.0f} Wh (alone {alone_wh:+.0f} Wh),"
        f" soaked {soaked_wh:.0f} Wh, {starts} starts"
    )
