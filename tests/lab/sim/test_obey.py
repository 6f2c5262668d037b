"""The simulated devices obey their commands, and the site's meter sees it.

Each command goes through the project's own driver over a real socket to
the emulator; the site is then moved on by hand and its battery, PV and
grid meter say whether the inverter did what it was told.
"""

from collections.abc import AsyncIterator
import contextlib
from datetime import UTC, datetime

import pytest

from custom_components.energy_orchestrator.lib.drivers.base import execute
from custom_components.energy_orchestrator.lib.drivers.commands import (
    Command,
    CommandKind,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    DeviceRejectedError,
)
from custom_components.energy_orchestrator.lib.drivers.sunspec import SunSpecDriver
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from custom_components.energy_orchestrator.lib.drivers.transport.serial_link import (
    SerialLink,
)
from custom_components.energy_orchestrator.lib.drivers.victron import VictronGX
from custom_components.energy_orchestrator.lib.drivers.voltronic import VoltronicPI30
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.devices.sunspec import SunSpecInverterEmulator
from eo_lab.sim.devices.victron import SITE_UNITS, site_gx_emulator
from eo_lab.sim.devices.voltronic import serve_voltronic
from eo_lab.sim.devices.wallbox import Car, site_wallbox
from eo_lab.sim.profiles import bundled_profile
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.site import InverterCommands, Site, combine

# The bundled profile at 01:00 UTC has no PV; its seventh day at 12:30
# (the sunniest of its days) about 3.7 kW.
NIGHT = datetime(2026, 6, 2, 1, tzinfo=UTC).timestamp()
NOON = datetime(2026, 6, 2, 12, 30, tzinfo=UTC).timestamp()
_SUNNY_NOON_S = (6 * 24 + 12.5) * 3600


def _site(start: float, soc: float = 0.5) -> Site:
    """Return a site with a 10 kWh battery at ``soc``, two minutes on."""
    battery = SimBattery(capacity_ah=200.0, initial_soc=soc, seed=1)
    site = Site(
        bundled_profile(),
        battery,
        start_time=start,
        profile_offset_s=_SUNNY_NOON_S if start == NOON else None,
    )
    site.advance_to(start + 120)
    return site


def _run(site: Site, seconds: float) -> None:
    site.advance_to(site.time + seconds)


# The site's inverter on its own.


def test_left_alone_the_inverter_runs_self_consumption() -> None:
    site = _site(NIGHT)
    assert site.battery_power_w == pytest.approx(-site.load_w, abs=1)
    assert site.grid_power_w == pytest.approx(0, abs=1)


def test_a_grid_setpoint_charges_the_battery_from_the_grid_to_full() -> None:
    site = _site(NIGHT, soc=0.9)
    site.commands("test").grid_setpoint_w = 3000
    _run(site, 60)
    assert site.grid_power_w == pytest.approx(3000, abs=1)
    assert site.battery_power_w == pytest.approx(3000 - site.load_w, abs=1)
    # More than the inverter's 5 kW: it charges at 5 kW, the grid gives it.
    site.commands("test").grid_setpoint_w = 9000
    _run(site, 60)
    assert site.battery_power_w == pytest.approx(5000, rel=0.01)
    assert site.grid_power_w == pytest.approx(site.load_w + 5000, rel=0.01)
    # Past the self-consumption ceiling (95 %): a charge asked for goes on.
    _run(site, 3600)
    assert site.battery.soc > 0.99


def test_a_held_battery_power_and_the_caps() -> None:
    site = _site(NIGHT)
    commands = site.commands("test")
    commands.battery_power_w = -4000
    _run(site, 10)
    assert site.battery_power_w == pytest.approx(-4000, abs=1)
    assert site.grid_power_w == pytest.approx(site.load_w - 4000, abs=1)
    commands.max_discharge_w = 1500
    _run(site, 10)
    assert site.battery_power_w == pytest.approx(-1500, abs=1)
    commands.battery_power_w = 9000  # beyond the inverter's 5 kW
    _run(site, 10)
    assert site.battery_power_w == pytest.approx(5000, rel=0.01)
    commands.max_charge_w = 0
    _run(site, 10)
    assert site.battery_power_w == 0


def test_an_ac_limit_curtails_pv() -> None:
    site = _site(NOON, soc=0.96)  # full: the battery takes nothing
    pv = site.pv_w
    assert pv > 1500
    site.commands("test").ac_limit_w = 500
    _run(site, 10)
    assert site.pv_w == pytest.approx(500, abs=1)
    assert site.grid_power_w == pytest.approx(site.load_w - 500, abs=1)


def test_commands_of_several_devices_hold_together() -> None:
    together = combine(
        [
            InverterCommands(grid_setpoint_w=100, max_charge_w=3000),
            InverterCommands(grid_setpoint_w=50, max_charge_w=2000, min_charge_w=500),
            InverterCommands(battery_power_w=-10, max_discharge_w=0),
        ]
    )
    assert together == InverterCommands(
        grid_setpoint_w=150,
        battery_power_w=-10,
        min_charge_w=500,
        max_charge_w=2000,
        max_discharge_w=0,
        ac_limit_w=None,
    )


# The Victron GX.


@contextlib.asynccontextmanager
async def _gx(site: Site, ess_mode: int = 1) -> AsyncIterator[VictronGX]:
    """Serve a GX on the site and yield its driver, identified."""
    emulator = site_gx_emulator(site, ess_mode=ess_mode)
    async with serve_devices("127.0.0.1", 0, emulator.sim_devices()) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        driver = VictronGX(link)
        await driver.async_identify()
        try:
            yield driver
        finally:
            await link.close()


async def test_the_gx_grid_setpoint_drives_the_battery() -> None:
    site = _site(NIGHT)
    async with _gx(site) as driver:
        assert await execute(driver, Command(CommandKind.GRID_SETPOINT, 2500)) == 2500
        soc = site.battery.soc
        _run(site, 600)
        assert site.grid_power_w == pytest.approx(2500, abs=1)
        assert site.battery_power_w == pytest.approx(2500 - site.load_w, abs=1)
        assert site.battery.soc > soc + 0.005
        readings = await driver.async_read()
        assert readings["grid_power"].value == pytest.approx(2500, abs=2)
        # Selling: the battery discharges as far as the limit lets it.
        await execute(driver, Command(CommandKind.GRID_SETPOINT, -3000))
        await execute(driver, Command(CommandKind.BATTERY_DISCHARGE_POWER, 1000))
        _run(site, 60)
        assert site.battery_power_w == pytest.approx(-1000, abs=5)
        assert site.grid_power_w == pytest.approx(site.load_w - 1000, abs=5)
        # The DVCC charge current caps the charge, at the battery's voltage.
        await execute(driver, Command(CommandKind.GRID_SETPOINT, 5000))
        await execute(driver, Command(CommandKind.BATTERY_CHARGE_CURRENT, 10))
        _run(site, 60)
        volts = site.battery.terminal_voltage
        assert site.battery_power_w == pytest.approx(10 * volts, rel=0.02)


async def test_the_gx_refuses_a_setting_out_of_range() -> None:
    site = _site(NIGHT)
    async with _gx(site) as driver:
        # The ESS mode register (2902) takes 1-3; -2 W is no discharge limit.
        with pytest.raises(DeviceRejectedError):
            await driver.link.write_registers(100, 2902, [7])
        with pytest.raises(DeviceRejectedError):
            await driver.link.write_registers(100, 2704, [0xFFFE])
        assert site.commands("victron_gx").max_discharge_w is None


async def test_gx_external_control_holds_then_falls_to_passthru() -> None:
    site = _site(NIGHT)
    async with _gx(site, ess_mode=3) as driver:
        # Nothing written yet: passthru, the grid carries the load.
        _run(site, 10)
        assert site.battery_power_w == 0
        await execute(driver, Command(CommandKind.GRID_SETPOINT, -1500))
        _run(site, 30)
        assert site.grid_power_w == pytest.approx(-1500, abs=1)
        # Not rewritten within the watchdog: passthru at the next request.
        _run(site, 61)
        await driver.async_read()
        _run(site, 1)
        assert site.battery_power_w == 0
        assert site.grid_power_w == pytest.approx(site.load_w, abs=1)
        assert SITE_UNITS["vebus"] == 227


# The SunSpec hybrid inverter.


@contextlib.asynccontextmanager
async def _sunspec(
    site: Site,
) -> AsyncIterator[tuple[SunSpecDriver, SunSpecInverterEmulator]]:
    """Serve the SunSpec inverter on the site and yield its driver and itself."""
    emulator = SunSpecInverterEmulator(site)
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=3.0)
        driver = SunSpecDriver(link, 1)
        await driver.async_identify()
        try:
            yield driver, emulator
        finally:
            await link.close()


async def test_the_sunspec_power_limit_curtails_pv() -> None:
    site = _site(NOON, soc=0.96)
    async with _sunspec(site) as (driver, _):
        assert site.pv_w > 1500
        # 10 % of the 8 kW rating.
        await execute(driver, Command(CommandKind.ACTIVE_POWER_LIMIT, 10.0))
        _run(site, 10)
        assert site.pv_w - site.battery_power_w == pytest.approx(800, abs=1)
        assert site.grid_power_w == pytest.approx(
            site.load_w - 800 + site.consumer_power_w, abs=1
        )
        # The driver sets a revert timer: the limit lapses by itself.
        _run(site, 3600)
        await driver.async_read()
        _run(site, 1)
        assert site.pv_w > 1500


async def test_the_sunspec_storage_rates_cap_the_battery() -> None:
    site = _site(NIGHT)
    async with _sunspec(site) as (driver, _):
        assert site.battery_power_w < -250
        await execute(driver, Command(CommandKind.BATTERY_DISCHARGE_POWER, 200.0))
        _run(site, 10)
        assert site.battery_power_w == pytest.approx(-200, abs=1)
        assert site.grid_power_w == pytest.approx(site.load_w - 200, abs=1)
        # The driver sets the 124 revert timer (600 s): the cap lapses.
        _run(site, 600)
        await driver.async_read()
        _run(site, 1)
        assert site.battery_power_w < -250


async def test_the_sunspec_inverter_refuses_a_limit_out_of_range() -> None:
    site = _site(NOON)
    async with _sunspec(site) as (driver, emulator):
        control = driver.commands[CommandKind.ACTIVE_POWER_LIMIT]
        assert control.maximum == 100
        before = site.commands("sunspec EO-SIM-INV-0001").ac_limit_w
        with pytest.raises(DeviceRejectedError):
            # WMaxLimPct in tenths of a percent: 150 %.
            await driver.link.write_registers(
                1, emulator.model_at(123).address + 5, [1500]
            )
        assert site.commands("sunspec EO-SIM-INV-0001").ac_limit_w == before


# The Voltronic PI30 inverter.


async def test_the_voltronic_priorities_steer_the_battery() -> None:
    site = _site(NIGHT)
    async with serve_voltronic("127.0.0.1", 0, site) as inverter:
        link = SerialLink(parse_endpoint(inverter.url, baudrate=2400), timeout=0.5)
        driver = VoltronicPI30(link, 0)
        await driver.async_identify()
        assert site.battery_power_w < 0  # SBU: the battery carries the load
        await execute(driver, Command(CommandKind.OUTPUT_SOURCE_PRIORITY, "utility"))
        _run(site, 10)
        assert site.battery_power_w == 0
        assert site.grid_power_w == pytest.approx(site.load_w, abs=1)
        # Utility first charging: from the grid at the AC charging current.
        await execute(driver, Command(CommandKind.CHARGER_SOURCE_PRIORITY, "utility"))
        _run(site, 10)
        volts = site.battery.terminal_voltage
        ac_charge_w = inverter.settings.max_ac_charging_current * volts
        assert site.battery_power_w == pytest.approx(ac_charge_w, rel=0.02)
        assert site.grid_power_w == pytest.approx(site.load_w + ac_charge_w, rel=0.02)
        await execute(driver, Command(CommandKind.CHARGER_SOURCE_PRIORITY, "solar"))
        _run(site, 10)
        assert site.battery_power_w == 0
        await link.close()


# The Alfen wallbox and its car.


def test_the_car_fills_up_and_stops() -> None:
    site = _site(NIGHT, soc=0.09)  # an empty house battery covers nothing
    car = Car(capacity_kwh=10.0, soc=0.5, target_soc=0.8)
    station = site_wallbox(site, car=car)
    house = site.load_w
    _run(site, 10)
    # Nothing written: the safe 6 A on three phases.
    assert site.consumer_power_w == pytest.approx(3 * 230 * 6 * 0.99, rel=0.03)
    assert site.grid_power_w == pytest.approx(
        site.load_w + site.consumer_power_w, abs=1
    )
    assert station.phase_currents() == (6.0, 6.0, 6.0)
    _run(site, 1800)
    # Half an hour at 4.1 kW, 90 % of it stored: 1.8 kWh of 10.
    assert car.soc == pytest.approx(0.5 + 0.185, abs=0.01)
    _run(site, 1800)
    assert car.soc == pytest.approx(0.8, abs=0.002)
    assert not car.wants_energy
    assert site.consumer_power_w == 0
    assert site.grid_power_w == pytest.approx(site.load_w, abs=1)
    assert house > 0
