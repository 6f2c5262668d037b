"""The Alfen wallbox driver against the station emulator on a real socket."""

from collections.abc import AsyncIterator
import dataclasses

from hypothesis import given, strategies as st
import pytest

from custom_components.energy_orchestrator.lib.drivers.base import execute
from custom_components.energy_orchestrator.lib.drivers.cadence import (
    ALL_CADENCES,
    Cadence,
)
from custom_components.energy_orchestrator.lib.drivers.commands import (
    Command,
    CommandKind,
    CommandRejectedError,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    DeviceRejectedError,
    WrongDeviceError,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from custom_components.energy_orchestrator.lib.drivers.wallbox import (
    AlfenWallbox,
    decode_text,
)
from eo_lab.sim.devices.wallbox import (
    AlfenEmulator,
    Car,
    site_wallbox,
)
from eo_lab.sim.profiles import bundled_profile
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import default_battery
from eo_lab.sim.site import Site
from tests.lib.drivers.resolution import reported


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Running:
    station: AlfenEmulator
    clock: Clock
    link: ModbusLink
    driver: AlfenWallbox


async def _run(station: AlfenEmulator) -> AsyncIterator[Running]:
    clock = Clock()
    station.clock = clock
    async with serve_devices("127.0.0.1", 0, station.sim_devices()) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        driver = AlfenWallbox(link, 1, max_current_a=16)
        await driver.async_identify()
        yield Running(station, clock, link, driver)
        await link.close()


@pytest.fixture
async def box() -> AsyncIterator[Running]:
    async for running in _run(AlfenEmulator()):
        yield running


async def test_identifies_the_station(box: Running) -> None:
    identity = await box.driver.async_identify()
    assert identity.manufacturer == "Alfen"
    assert identity.model == "Eve (NG910)"
    assert identity.serial_number == "ACE0123456"
    assert identity.firmware == "6.4.0-4210"
    assert set(box.driver.commands) == {
        CommandKind.CHARGER_CURRENT,
        CommandKind.CHARGER_ENABLED,
        CommandKind.CHARGER_PHASES,
    }
    assert box.driver.safe_current_a == 6.0


async def test_the_car_charges_at_the_current_set_on_three_phases(box: Running) -> None:
    assert await execute(box.driver, Command(CommandKind.CHARGER_CURRENT, 10)) == 10
    readings = await box.driver.async_read()
    values = {key: reading.value for key, reading in readings.items()}
    assert values["charger_status"] == "charging"
    assert values["charger_current"] == 10.0
    assert values["charger_phases"] == 3
    for phase in (1, 2, 3):
        assert values[f"ac_current_l{phase}"] == pytest.approx(10.0)
    assert values["charger_power"] == pytest.approx(3 * 230 * 10 * 0.99, rel=1e-5)
    assert values["charger_energy"] == pytest.approx(1_000_000.0)
    # 50 s later the meter has counted the energy; 60 s on, the setpoint
    # expires and the car draws the safe 6 A.
    box.clock.now += 50
    readings = await box.driver.async_read()
    watts = 3 * 230 * 0.99
    assert readings["charger_energy"].value == reported(
        "charger_energy", 1_000_000.0 + watts * 10 * 50 / 3600
    )
    box.clock.now += 3600
    readings = await box.driver.async_read()
    assert readings["charger_energy"].value == reported(
        "charger_energy", 1_000_000.0 + watts * (10 * 60 + 6 * 3590) / 3600
    )


async def test_the_car_takes_no_more_than_it_can(box: Running) -> None:
    box.station.car.max_current_a = 8.0
    await execute(box.driver, Command(CommandKind.CHARGER_CURRENT, 16))
    readings = await box.driver.async_read()
    assert readings["charger_current"].value == 16.0  # offered
    assert readings["ac_current_l1"].value == pytest.approx(8.0)  # drawn


async def test_phase_switch_is_refused_while_current_flows(box: Running) -> None:
    await execute(box.driver, Command(CommandKind.CHARGER_CURRENT, 10))
    with pytest.raises(CommandRejectedError, match=r"no current flows \(10\.0 A now"):
        await execute(box.driver, Command(CommandKind.CHARGER_PHASES, 1))
    assert box.station.phases == 3


async def test_the_phase_switch_sequence(box: Running) -> None:
    """Stop, wait for the current to drop, switch, resume: never under load."""
    driver, station = box.driver, box.station
    await execute(driver, Command(CommandKind.CHARGER_CURRENT, 12))
    assert await execute(driver, Command(CommandKind.CHARGER_ENABLED, "off")) == "off"
    readings = await driver.async_read()
    assert readings["charger_status"].value == "waiting"
    assert readings["ac_current_l1"].value == 0.0
    assert await execute(driver, Command(CommandKind.CHARGER_PHASES, 1)) == 1
    assert await execute(driver, Command(CommandKind.CHARGER_ENABLED, "on")) == "on"
    readings = await driver.async_read()
    values = {key: reading.value for key, reading in readings.items()}
    assert values["charger_phases"] == 1
    assert values["charger_current"] == 12.0  # resumed at the current set
    assert values["ac_current_l1"] == pytest.approx(12.0)
    assert values["ac_current_l2"] == 0.0
    assert values["charger_power"] == pytest.approx(230 * 12 * 0.99, rel=1e-5)
    assert station.switches_under_load == 0


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (CommandKind.CHARGER_CURRENT, 5, "below the minimum 6 A"),
        (CommandKind.CHARGER_CURRENT, 17, "above the maximum 16 A"),
        (CommandKind.CHARGER_PHASES, 2, "steps of 2 ?, 2 is not one"),
        (CommandKind.CHARGER_ENABLED, "maybe", "must be one of on, off"),
        (CommandKind.GRID_SETPOINT, 0, "does not take"),
    ],
)
async def test_out_of_range_is_refused_before_anything_is_sent(
    box: Running, kind: CommandKind, value: float | str, message: str
) -> None:
    requests = box.station.requests
    with pytest.raises(CommandRejectedError, match=message):
        await execute(box.driver, Command(kind, value))
    assert box.station.requests == requests


async def test_the_station_falls_back_to_its_safe_current(box: Running) -> None:
    """The EMS setpoint holds for the validity time, then the safe current."""
    await execute(box.driver, Command(CommandKind.CHARGER_CURRENT, 14))
    box.clock.now += 59
    assert (await box.driver.async_read())["charger_current"].value == 14.0
    box.clock.now += 2
    poll = await box.driver.async_poll({Cadence.FAST})
    assert poll.readings["charger_current"].value == 6.0
    assert (await box.driver.async_read())["ac_current_l1"].value == pytest.approx(6.0)
    assert box.driver.setpoint_watchdog_s == 60.0
    # What the settings show is the limit in force, not the setpoint that ran out.
    assert poll.settings[CommandKind.CHARGER_CURRENT] == 6.0
    assert box.station.max_current_a == 14.0


async def test_a_station_shows_the_current_it_applies(box: Running) -> None:
    """Before any write, and once an "off" has run out, the safe current charges."""
    driver, station = box.driver, box.station
    poll = await driver.async_poll({Cadence.FAST})
    assert poll.readings["charger_status"].value == "charging"
    assert poll.settings == {
        CommandKind.CHARGER_CURRENT: 6.0,
        CommandKind.CHARGER_ENABLED: "on",
        CommandKind.CHARGER_PHASES: 3.0,
    }
    off = Command(CommandKind.CHARGER_ENABLED, "off")
    assert await execute(driver, off) == "off"
    assert await driver.async_read_back(Command(CommandKind.CHARGER_CURRENT, 0)) == 0
    box.clock.now += 61
    assert await driver.async_read_back(off) == "on"
    assert (await driver.async_poll({Cadence.FAST})).settings[
        CommandKind.CHARGER_CURRENT
    ] == station.safe_current_a
    # A station whose safe current is below what a car takes stops instead.
    station.safe_current_a = 0.0
    poll = await driver.async_poll({Cadence.FAST})
    assert poll.settings[CommandKind.CHARGER_ENABLED] == "off"
    assert poll.readings["charger_status"].value == "waiting"


async def test_unplugged_and_full(box: Running) -> None:
    await execute(box.driver, Command(CommandKind.CHARGER_CURRENT, 10))
    box.station.car.wants_energy = False
    assert (await box.driver.async_read())["charger_status"].value == "connected"
    box.station.car.plugged_in = False
    readings = await box.driver.async_poll({Cadence.FAST})
    assert readings.readings["charger_status"].value == "disconnected"
    assert readings.readings["charger_power"].value == 0.0
    assert "charger_energy" not in readings.attempted


async def test_no_phase_command_without_switching_or_three_phases() -> None:
    async for running in _run(AlfenEmulator(phase_switching=False)):
        assert CommandKind.CHARGER_PHASES not in running.driver.commands
        readings = await running.driver.async_poll(ALL_CADENCES)
        assert "charger_phases" not in readings.readings
    single = AlfenEmulator(car=Car(phases=1), voltages=lambda: (230.0, 0.0, 0.0))
    async for running in _run(single):
        assert CommandKind.CHARGER_PHASES not in running.driver.commands


@pytest.mark.parametrize(
    ("station", "socket", "message"),
    [
        (AlfenEmulator(manufacturer="Acme"), 1, "made by 'Acme', not Alfen"),
        (AlfenEmulator(), 2, "has 1 socket.s.; there is no socket 2"),
    ],
)
async def test_another_make_or_a_missing_socket_is_refused(
    station: AlfenEmulator, socket: int, message: str
) -> None:
    async with serve_devices("127.0.0.1", 0, station.sim_devices()) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        with pytest.raises(WrongDeviceError, match=message):
            await AlfenWallbox(link, socket).async_identify()
        await link.close()


async def test_a_half_written_current_is_refused_by_the_station(box: Running) -> None:
    """Alfen takes a float only with both registers in one request."""
    with pytest.raises(DeviceRejectedError):
        await box.link.write_registers(1, 1210, [0x4120])
    assert box.station.max_current_a is None


def test_text_registers() -> None:
    assert decode_text([0x4332, 0x0000, 0x4142]) == "C2"
    assert decode_text([0xFFFF]) == "\ufffd\ufffd"


@given(st.lists(st.integers(0, 0xFFFF), max_size=8))
def test_any_text_registers_decode(words: list[int]) -> None:
    assert "\0" not in decode_text(words)


async def test_the_station_is_on_the_site_supply() -> None:
    """Its voltages and clock are the site's, and the site's meter sees its car."""
    site = Site(bundled_profile(), default_battery(), start_time=1_750_000_000.0)
    station = site_wallbox(site)
    async with serve_devices("127.0.0.1", 0, station.sim_devices()) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        driver = AlfenWallbox(link, 1)
        await driver.async_identify()
        await execute(driver, Command(CommandKind.CHARGER_CURRENT, 10))
        site.advance_to(site.time + 59)  # simulated time: the setpoint holds
        readings = await driver.async_read()
        for phase, volts in enumerate(site.phase_voltages(), start=1):
            assert readings[f"ac_voltage_l{phase}"].value == reported(
                "ac_voltage_l1", volts, rel=1e-6
            )
            assert site.consumer_power_phases[phase - 1] == pytest.approx(
                volts * 10 * 0.99, rel=1e-3
            )
        assert readings["charger_power"].value == pytest.approx(
            site.consumer_power_w, rel=1e-3
        )
        site.advance_to(site.time + 2)
        assert (await driver.async_poll({Cadence.FAST})).settings[
            CommandKind.CHARGER_CURRENT
        ] == 6.0
        assert site.consumer_power_w == pytest.approx(3 * 230 * 6 * 0.99, rel=0.02)
        await link.close()
