"""A battery on the Energy dashboard: energy counted from its power, kept on restart.

A JK BMS keeps no energy counters; the device entry counts them from the
power of each poll. The simulated site charges its battery at a constant
3 kW, and the test moves one clock for the site and the driver, so every
figure below is known in advance.
"""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy.data import (
    BatterySourceType,
    EnergyPreferencesUpdate,
    async_get_manager,
)
from homeassistant.components.energy.validate import async_validate
from homeassistant.components.recorder import Recorder
from homeassistant.const import CONF_DEVICE, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_restore_state_shutdown_restart,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)
from pytest_homeassistant_custom_component.typing import RecorderInstanceContextManager

from custom_components.energy_orchestrator.battery_manager.settings import (
    default_options,
)
from custom_components.energy_orchestrator.const import (
    CONF_CONNECTION,
    CONF_KIND,
    DOMAIN,
)
from custom_components.energy_orchestrator.lib.control.battery_model import Chemistry
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.devices.bms import JkPbEmulator
from eo_lab.sim.profiles import Profile
from eo_lab.sim.site import Site
from tests.integration.controllers.test_battery_manager import (
    BMS_SOC,
    CURRENT,
    VOLTAGE,
    set_battery,
)

SERIAL = "EOSIMJK0001"
CHARGE_W = 3000.0
POLL_S = 5


@pytest.fixture
def mock_recorder_before_hass(
    async_test_recorder: RecorderInstanceContextManager,
) -> None:
    """Prepare the recorder before Home Assistant, for the test that needs it."""


class _Clock:
    """The wall clock of the simulated site and of the driver, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    """Return a clock far from the real one: a poll stamped by it never joins one
    stamped by the real clock (the set-up's first poll) into a counted stretch.
    """
    return _Clock(dt_util.utcnow().timestamp() + 1e6)


@pytest.fixture
async def charging_bms(clock: _Clock) -> AsyncIterator[tuple[Site, JkPbEmulator]]:
    """Serve a JK BMS whose battery takes a constant 3 kW of PV surplus."""
    profile = Profile.from_samples(
        [0.0, 3600.0], [500.0, 500.0], [500.0 + CHARGE_W, 500.0 + CHARGE_W]
    )
    battery = SimBattery(
        capacity_ah=200.0, initial_soc=0.3, current_offset_a=0.0, current_noise_a=0.0
    )
    site = Site(profile, battery, start_time=clock.now, profile_offset_s=0.0)
    async with JkPbEmulator(site, sync=lambda: site.advance_to(clock.now)) as bms:
        yield site, bms


def _entry(url: str) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        unique_id=SERIAL,
        title="JK BMS",
        data={
            CONF_KIND: "device",
            CONF_CONNECTION: "serial",
            "family": "jk_pb",
            CONF_DEVICE: url,
            "baudrate": 115200,
            "unit_id": 1,
        },
    )


async def _setup(hass: HomeAssistant, entry: MockConfigEntry, clock: _Clock) -> None:
    """Set the entry up, then let its driver read the test's clock."""
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    driver = entry.runtime_data.coordinator.driver
    # The clock the driver stamps its readings with.
    driver._wall_clock = clock
    driver.link.timeout = 0.2  # a silent peer is given up on quickly


async def _polls(
    hass: HomeAssistant, entry: MockConfigEntry, clock: _Clock, count: int
) -> None:
    """Let ``count`` polls happen, 5 s apart."""
    for _ in range(count):
        clock.now += POLL_S
        await entry.runtime_data.coordinator.async_refresh()
        await hass.async_block_till_done()


def _battery_manager_entry() -> MockConfigEntry:
    """Return a battery manager reading a BMS's voltage, current and SOC."""
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="House battery",
        data={
            CONF_KIND: "battery_manager",
            "voltage_entity": VOLTAGE,
            "current_entity": CURRENT,
            "bms_soc_entity": BMS_SOC,
        },
        options=default_options(Chemistry.LFP, 16, 100),
    )


def _energy_ids(hass: HomeAssistant, unique_prefix: str) -> tuple[str, str]:
    """Return the entity ids of the charge and discharge energy sensors."""
    registry = er.async_get(hass)
    charge = registry.async_get_entity_id(
        "sensor", DOMAIN, f"{unique_prefix}_battery_charge_energy"
    )
    discharge = registry.async_get_entity_id(
        "sensor", DOMAIN, f"{unique_prefix}_battery_discharge_energy"
    )
    assert charge is not None
    assert discharge is not None
    return charge, discharge


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


def _kwh(hass: HomeAssistant, entity_id: str) -> float:
    return float(_state(hass, entity_id))


async def test_energy_counted_from_power_survives_a_restart(
    hass: HomeAssistant, charging_bms: tuple[Site, JkPbEmulator], clock: _Clock
) -> None:
    site, bms = charging_bms
    entry = _entry(bms.url)
    entry.add_to_hass(hass)
    await _setup(hass, entry, clock)
    charge, discharge = _energy_ids(hass, SERIAL)
    state = hass.states.get(charge)
    assert state is not None
    # What the Energy dashboard asks of a battery's two sensors.
    assert state.attributes["device_class"] == "energy"
    assert state.attributes["state_class"] == "total_increasing"
    assert state.attributes["unit_of_measurement"] == "kWh"
    assert _kwh(hass, charge) == 0
    assert _kwh(hass, discharge) == 0

    # Two minutes at 3 kW, counted from the first poll on the test's clock.
    await _polls(hass, entry, clock, 1)
    truth_start = site.battery_charge_energy_wh
    await _polls(hass, entry, clock, 24)
    truth_kwh = (site.battery_charge_energy_wh - truth_start) / 1000
    assert truth_kwh == pytest.approx(CHARGE_W * 120 / 3600 / 1000)
    # The BMS reports its current in 10 mA steps.
    assert _kwh(hass, charge) == pytest.approx(truth_kwh, rel=1e-3)
    assert _kwh(hass, discharge) == 0

    # The BMS falls silent for a poll: what flowed meanwhile is not counted.
    before = _kwh(hass, charge)
    bms.silent = True
    await _polls(hass, entry, clock, 1)
    assert _state(hass, charge) == STATE_UNAVAILABLE
    bms.silent = False
    await _polls(hass, entry, clock, 3)
    assert _kwh(hass, charge) == pytest.approx(
        before + CHARGE_W * 10 / 3600 / 1000, rel=1e-2
    )

    # Home Assistant restarts; ten minutes of charging pass meanwhile.
    before = _kwh(hass, charge)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await async_mock_restore_state_shutdown_restart(hass)
    clock.now += 600
    await _setup(hass, entry, clock)
    assert _kwh(hass, charge) == pytest.approx(before)
    # The restart's ten minutes are not counted, the minute after it is.
    await _polls(hass, entry, clock, 13)
    assert _kwh(hass, charge) == pytest.approx(
        before + CHARGE_W * 60 / 3600 / 1000, rel=1e-2
    )
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_energy_dashboard_accepts_the_battery_counters(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    charging_bms: tuple[Site, JkPbEmulator],
    clock: _Clock,
) -> None:
    """A counted device battery and the battery manager, as the dashboard sees them."""
    _, bms = charging_bms
    device = _entry(bms.url)
    device.add_to_hass(hass)
    await _setup(hass, device, clock)
    await _polls(hass, device, clock, 2)
    set_battery(hass, 53.0, 20.0, soc=50)
    manager_entry = _battery_manager_entry()
    manager_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(manager_entry.entry_id)
    await hass.async_block_till_done()

    sources: list[BatterySourceType] = []
    for unique_prefix in (SERIAL, manager_entry.entry_id):
        charge, discharge = _energy_ids(hass, unique_prefix)
        # Energy out of the battery is the dashboard's "from", into it "to".
        sources.append(
            BatterySourceType(
                type="battery", stat_energy_from=discharge, stat_energy_to=charge
            )
        )
    preferences = await async_get_manager(hass)
    await preferences.async_update(EnergyPreferencesUpdate(energy_sources=sources))
    # Long-term statistics of the sensors, as the recorder makes every 5 min.
    await async_wait_recording_done(hass)
    now = dt_util.utcnow()
    do_adhoc_statistics(
        hass,
        start=now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0),
    )
    await async_wait_recording_done(hass)

    validation = await async_validate(hass)
    assert validation.as_dict() == {
        "energy_sources": [[], []],
        "device_consumption": [],
        "device_consumption_water": [],
    }
    for entry in (device, manager_entry):
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_battery_manager_keeps_its_energy_across_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """The manager counts energy from its voltage and current inputs, saved with it."""
    entry = _battery_manager_entry()
    set_battery(hass, 52.0, 20.0, soc=50)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    charge, discharge = _energy_ids(hass, entry.entry_id)
    # An hour at 52 V x 20 A, a step a minute: 1.04 kWh.
    for _ in range(60):
        freezer.tick(timedelta(minutes=1))
        set_battery(hass, 52.0, 20.0, soc=None)
        await entry.runtime_data.coordinator.async_refresh()
        await hass.async_block_till_done()
    assert _kwh(hass, charge) == pytest.approx(1.04)
    assert _kwh(hass, discharge) == 0
    assert await hass.config_entries.async_unload(entry.entry_id)
    saved = hass_storage[f"{DOMAIN}.battery_manager.{entry.entry_id}"]["data"]
    assert saved["energy"]["charged_wh"] == pytest.approx(1040)

    # Back after ten minutes: they are not counted, the minute after is.
    freezer.tick(timedelta(minutes=10))
    set_battery(hass, 52.0, 20.0, soc=None)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert _kwh(hass, charge) == pytest.approx(1.04)
    freezer.tick(timedelta(minutes=1))
    set_battery(hass, 52.0, 20.0, soc=None)
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    # Shown to the watt-hour the status is rounded to.
    assert _kwh(hass, charge) == pytest.approx(1.04 + 1.04 / 60, abs=0.0005)
    assert await hass.config_entries.async_unload(entry.entry_id)
