"""The Victron GX driver against Victron's own register table and test values.

The GX is emulated as dbus_modbustcp answers (sim/devices/victron.py) and
served by pymodbus' real server; the values are the ones dbus_modbustcp's
own tests serve (tests/fixtures/victron/test_sim), placed at the unit ids
Victron's unit-id map gives their device instances.
"""

from collections.abc import AsyncIterator
import csv
import dataclasses
from pathlib import Path

from hypothesis import given, settings, strategies as st
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
    DeviceSilentError,
    WrongDeviceError,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from custom_components.energy_orchestrator.lib.drivers.victron import VictronGX
from custom_components.energy_orchestrator.lib.drivers.victron.gx import (
    SERVICE_KINDS,
    build_part,
)
from custom_components.energy_orchestrator.lib.drivers.victron.readings import (
    BATTERY_READINGS,
    GRID_READINGS,
    SOLAR_CHARGER_READINGS,
    SYSTEM_READINGS,
    vebus_readings,
)
from custom_components.energy_orchestrator.lib.drivers.victron.table import (
    VictronRegister,
    decode_firmware,
    decode_string,
    encode_string,
    gx_table,
    parse_table,
)
from eo_lab.sim.devices.eastron import SDM630Emulator
from eo_lab.sim.devices.victron import (
    VictronGXEmulator,
    gx_values_from_dumps,
    register_words,
    site_gx_emulator,
)
from eo_lab.sim.profiles import bundled_profile
from eo_lab.sim.servers import DeviceServer, serve_devices
from eo_lab.sim.simulated_site import default_battery
from eo_lab.sim.site import Site

FIXTURES = Path(__file__).parents[2] / "fixtures" / "victron"
START = 1_750_000_000.0  # 2025-06-15 15:06 UTC: the sun shines


def _unit_of_instance() -> dict[int, int]:
    """Return Victron's map from a dbus device instance to its unit id."""
    with (FIXTURES / "unitid2di.csv").open(newline="") as file:
        rows = list(csv.reader(file))[1:]
    return {int(row[1]): int(row[0]) for row in rows}


def _dump_units() -> dict[str, int]:
    """Place each test dump's service at the unit id of its device instance.

    An instance above 247 goes through the map; a lower one is its own
    unit id, as on a GX since Venus 2.60.
    """
    units: dict[str, int] = {}
    by_instance = _unit_of_instance()
    for name in ("battery", "grid", "solarcharger", "vebus"):
        for line in (FIXTURES / "test_sim" / f"{name}.csv").read_text().splitlines():
            if line.startswith("/DeviceInstance,"):
                instance = int(line.split(",")[2])
                units[name] = by_instance.get(instance, instance)
    return units


def _dump_emulator(**settings: float) -> VictronGXEmulator:
    dumps = [p.read_text() for p in sorted((FIXTURES / "test_sim").glob("*.csv"))]
    values = gx_values_from_dumps(dumps, _dump_units())
    values[100]["settings"].update(settings)
    return VictronGXEmulator(values)


@dataclasses.dataclass
class Running:
    emulator: VictronGXEmulator
    server: DeviceServer
    link: ModbusLink
    driver: VictronGX


@pytest.fixture
async def gx() -> AsyncIterator[Running]:
    """The test dumps' GX (ESS mode 1), served and identified."""
    emulator = _dump_emulator()
    async with serve_devices("127.0.0.1", 0, emulator.sim_devices()) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        driver = VictronGX(link)
        await driver.async_identify()
        yield Running(emulator, server, link, driver)
        await link.close()


def test_bundled_table_is_victrons_table_unchanged() -> None:
    full = parse_table((FIXTURES / "attributes.csv").read_text())
    services = {r.service for r in gx_table()}
    assert services == {
        "system",
        "settings",
        "hub4",
        "battery",
        "vebus",
        "grid",
        "solarcharger",
    }
    assert gx_table().registers == tuple(r for r in full if r.service in services)


@pytest.mark.parametrize(
    ("service", "ref", "expected"),
    [
        ("system", 820, (820, "int16", 1.0, False)),  # /Ac/Grid/L1/Power
        ("system", "/Dc/Battery/Voltage", (840, "uint16", 10.0, False)),
        ("system", "/Dc/Battery/Current", (841, "int16", 10.0, False)),
        ("settings", 2700, (2700, "int16", 1.0, True)),  # AcPowerSetPoint, W
        ("settings", 2703, (2703, "int16", 0.01, True)),  # the same in hW
        ("settings", 2704, (2704, "int16", 0.1, True)),  # MaxDischargePower
        ("settings", "/Settings/CGwacs/Hub4Mode", (2902, "uint16", 1.0, True)),
        ("battery", "/Soc", (266, "uint16", 10.0, False)),
        ("battery", 265, (265, "uint16", -10.0, False)),  # /ConsumedAmphours
        ("vebus", "/Ac/Out/L1/P", (23, "int16", 0.1, False)),
        ("vebus", 37, (37, "int16", 1.0, True)),  # /Hub4/L1/AcPowerSetpoint
        ("grid", 2622, (2622, "uint32", 100.0, False)),  # L1 forward energy
        ("solarcharger", "/Pv/I", (777, "int16", 10.0, False)),  # INTERNAL in CSV
        ("system", "/FirmwareVersion", (834, "uint32", 1.0, False)),
    ],
)
def test_registers_are_as_the_csv_says(
    service: str, ref: str | int, expected: tuple[int, str, float, bool]
) -> None:
    register = gx_table().ref(service, ref)
    assert (
        register.address,
        register.kind,
        register.scale,
        register.writable,
    ) == expected


def test_points_decode_by_the_csv_scale() -> None:
    table = gx_table()
    assert table.ref("system", "/Dc/Battery/Voltage").point().decode([523]) == (
        pytest.approx(52.3)
    )
    assert table.ref("system", "/Dc/Battery/Current").point().decode([0xFFF6]) == (
        pytest.approx(-1.0)
    )
    # Consumed amp-hours are negative on dbus; the register holds 10 x -Ah.
    assert table.ref("battery", 265).point().decode([25]) == pytest.approx(-2.5)
    assert table.ref("vebus", "/Ac/Out/L1/P").point().decode([123]) == 1230
    assert table.ref("settings", 2704).point().encode(2500) == [250]
    assert table.ref("vebus", "/State").options[9] == "Inverting"


def test_strings_and_firmware() -> None:
    assert decode_string(encode_string("badbeef15bad", 6)) == "badbeef15bad"
    assert decode_string(encode_string("x", 3)) == "x"
    assert decode_firmware(0x0314, 0) == "v3.14"
    assert decode_firmware(0x0320, 4) == "v3.20~4"
    assert decode_firmware(0, 0) is None


def test_every_reading_comes_from_a_numeric_register() -> None:
    link = ModbusLink.standalone(parse_endpoint("tcp://127.0.0.1:1"))
    for service, readings in (
        ("system", SYSTEM_READINGS),
        ("battery", BATTERY_READINGS),
        ("vebus", vebus_readings(3)),
        ("grid", GRID_READINGS),
        ("solarcharger", SOLAR_CHARGER_READINGS),
    ):
        part = build_part(
            gx_table(),
            link,
            key="x",
            service=service,
            unit=1,
            readings=readings,
            wall_clock=lambda: 0.0,
        )
        assert part.reader.planner.plan()
    for kind in SERVICE_KINDS:
        assert gx_table().ref(kind.service, kind.probe).kind in {"uint16", "int16"}


async def test_identifies_the_gx_and_finds_its_devices(gx: Running) -> None:
    driver = gx.driver
    identity = await driver.async_identify()
    assert identity.manufacturer == "Victron Energy"
    assert identity.serial_number == "badbeef15bad"
    units = {p.key: p.unit for p in driver.parts}
    # A CCGX: battery monitor, VE.Bus and MPPT on its own ports.
    assert units == {
        "": 100,
        "vebus": 246,
        "grid_meter": 30,
        "battery": 247,
        "mppt1": 245,
    }
    grid_meter = next(s for s in driver.sub_devices if s.key == "grid_meter")
    assert grid_meter.serial_number == "1234567"
    assert driver.ess_mode == 1
    assert driver.setpoint_watchdog_s is None
    assert set(driver.commands) == {
        CommandKind.GRID_SETPOINT,
        CommandKind.BATTERY_DISCHARGE_POWER,
        CommandKind.BATTERY_CHARGE_CURRENT,
    }


async def test_reads_victrons_test_values(gx: Running) -> None:
    readings = await gx.driver.async_read()
    values = {key: reading.value for key, reading in readings.items()}
    expected = {
        # system: the sums the GX publishes, per phase and summed here.
        "grid_power_l1": 410.0,
        "grid_power": 1260.0,
        "pv_power": 10 + 20 + 30 + 110 + 120 + 130 + 210 + 220 + 230 + 300.0,
        "load_power": 960.0,
        "battery_voltage": 50.0,
        "battery_current": 10.0,
        "battery_power": 600.0,
        "battery_soc": 85.0,
        "battery/battery_voltage": 52.0,
        "battery/battery_current": 11.0,
        "battery/battery_temperature": 34.5,
        "battery/battery_soc": 85.0,
        "battery/battery_soh": 99.0,
        "battery/battery_charge_voltage_limit": 56.5,
        "battery/battery_discharge_voltage_limit": 42.0,
        "battery/battery_charge_current_limit": 100.0,
        "battery/battery_discharge_current_limit": 50.0,
        "battery/cell_voltage_min": 2.8,
        "battery/cell_voltage_max": 4.0,
        "vebus/inverter_mode": "charging",  # /State 4: absorption
        "vebus/ac_output_power": 230 + 460 + 690.0,
        "vebus/ac_voltage_l3": 233.0,
        "vebus/ac_input_frequency": 50.0,
        "vebus/battery_current": 25.0,
        "grid_meter/grid_power": 600.0,
        "grid_meter/ac_voltage_l2": 232.0,
        "grid_meter/grid_import_energy_l1": 11000.0,
        "grid_meter/grid_export_energy_l3": 23000.0,
        "mppt1/pv_voltage": 96.0,
        "mppt1/pv_power": 480.0,
        "mppt1/pv_current": 5.0,
        "mppt1/pv_energy": 50000.0,
    }
    for key, value in expected.items():
        assert values[key] == pytest.approx(value), key
    assert str(readings["mppt1/pv_energy"].unit) == "Wh"
    assert set(readings) <= gx.driver.available_keys()


async def test_ess_setpoint_and_limits_are_written_and_read_back(gx: Running) -> None:
    driver, settings = gx.driver, gx.emulator.values[100]["settings"]
    assert await execute(driver, Command(CommandKind.GRID_SETPOINT, -1500)) == -1500
    assert settings["/Settings/CGwacs/AcPowerSetPoint"] == -1500
    assert (
        await execute(driver, Command(CommandKind.BATTERY_DISCHARGE_POWER, 2500))
        == 2500
    )
    assert settings["/Settings/CGwacs/MaxDischargePower"] == 2500
    assert await execute(driver, Command(CommandKind.BATTERY_CHARGE_CURRENT, 40)) == 40
    assert settings["/Settings/SystemSetup/MaxChargeCurrent"] == 40


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (CommandKind.GRID_SETPOINT, 40000, "above the maximum 32767 W"),
        (CommandKind.BATTERY_DISCHARGE_POWER, -10, "below the minimum 0 W"),
        (CommandKind.BATTERY_CHARGE_CURRENT, 10.5, "steps of 1 A"),
        (CommandKind.CHARGER_CURRENT, 10, "does not take"),
    ],
)
async def test_out_of_range_is_refused_before_anything_is_sent(
    gx: Running, kind: CommandKind, value: float, message: str
) -> None:
    requests = gx.emulator.requests
    with pytest.raises(CommandRejectedError, match=message):
        await execute(gx.driver, Command(kind, value))
    assert gx.emulator.requests == requests
    assert gx.emulator.writes == []


async def test_external_control_setpoint_has_the_vebus_watchdog() -> None:
    now = [0.0]
    emulator = _dump_emulator(**{"/Settings/CGwacs/Hub4Mode": 3})
    emulator.clock = lambda: now[0]
    async with serve_devices("127.0.0.1", 0, emulator.sim_devices()) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        driver = VictronGX(link)
        await driver.async_identify()
        assert driver.ess_mode == 3
        assert driver.setpoint_watchdog_s == 60.0
        assert set(driver.commands) == {CommandKind.GRID_SETPOINT}
        assert await execute(driver, Command(CommandKind.GRID_SETPOINT, -900)) == -900
        vebus = emulator.values[246]["vebus"]
        assert [vebus[f"/Hub4/L{p}/AcPowerSetpoint"] for p in (1, 2, 3)] == [
            -300,
            -300,
            -300,
        ]
        # Not refreshed within the watchdog: the inverter drops the setpoint.
        now[0] += 61
        assert await driver.async_read_back(Command(CommandKind.GRID_SETPOINT, 0)) == 0
        await link.close()


async def test_a_device_that_is_no_gx_is_refused() -> None:
    meter = SDM630Emulator(63000001, dict)
    async with serve_devices("127.0.0.1", 0, {100: meter.sim_device(100)}) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        with pytest.raises(WrongDeviceError, match="system registers"):
            await VictronGX(link).async_identify()
        await link.close()


async def test_a_gx_without_serial_is_refused() -> None:
    emulator = _dump_emulator()
    emulator.values[100]["system"]["/Serial"] = None
    async with serve_devices("127.0.0.1", 0, emulator.sim_devices()) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        with pytest.raises(WrongDeviceError, match="no GX serial"):
            await VictronGX(link).async_identify()
        await link.close()


async def test_a_silent_device_fails_alone(gx: Running) -> None:
    # The MPPT leaves the GX: its unit now answers "gateway path unavailable".
    del gx.emulator.values[245]["solarcharger"]
    poll = await gx.driver.async_poll(ALL_CADENCES)
    assert isinstance(poll.failed["mppt1"], DeviceSilentError)
    assert set(poll.failed) == {"mppt1"}
    assert "mppt1/pv_power" in poll.attempted
    assert "mppt1/pv_power" not in poll.readings
    assert poll.readings["battery/battery_soc"].value == 85.0
    assert poll.readings["grid_power"].value == 1260.0


async def test_the_gx_gone_silent_raises(gx: Running) -> None:
    gx.emulator.values.clear()
    with pytest.raises(DeviceSilentError):
        await gx.driver.async_poll({Cadence.FAST})


async def test_slow_poll_reads_only_blocks_with_slow_points(gx: Running) -> None:
    """Counters share requests with powers and ride along with fast polls.

    A slow-only poll reads just the blocks holding a counter or a setting:
    the grid meter's, the battery's history and the MPPT's.
    """
    poll = await gx.driver.async_poll({Cadence.FAST})
    assert "battery/battery_charge_energy" in poll.attempted
    before = gx.link.stats.requests
    poll = await gx.driver.async_poll({Cadence.SLOW})
    assert gx.link.stats.requests - before == 3
    assert "grid_meter/grid_import_energy_l1" in poll.readings
    assert "grid_power" not in poll.attempted


async def test_units_can_be_given() -> None:
    emulator = _dump_emulator()
    async with serve_devices("127.0.0.1", 0, emulator.sim_devices()) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        driver = VictronGX(link, units={"solarcharger": (), "battery": (247,)})
        await driver.async_identify()
        assert [p.key for p in driver.parts] == ["", "vebus", "grid_meter", "battery"]
        assert "mppt1/pv_power" not in driver.available_keys()
        await link.close()


async def test_follows_a_simulated_site() -> None:
    site = Site(bundled_profile(), default_battery(), start_time=START)
    site.advance_to(START + 600)
    emulator = site_gx_emulator(site)
    async with serve_devices("127.0.0.1", 0, emulator.sim_devices()) as server:
        link = ModbusLink.standalone(parse_endpoint(server.url), timeout=0.5)
        driver = VictronGX(link)
        await driver.async_identify()
        assert [p.unit for p in driver.parts] == [100, 227, 30, 225, 226]
        readings = await driver.async_read()
        meter = site.grid_meter_values()
        # The GX sends whole watts and tenths of volts and amps.
        assert readings["grid_power"].value == pytest.approx(site.grid_power_w, abs=2)
        assert readings["pv_power"].value == pytest.approx(site.pv_w, abs=1)
        assert readings["load_power"].value == pytest.approx(site.load_w, abs=2)
        assert readings["battery_soc"].value == pytest.approx(
            site.battery.soc * 100, abs=1
        )
        assert readings["battery/battery_voltage"].value == pytest.approx(
            site.battery.terminal_voltage, abs=0.01
        )
        assert readings["grid_meter/grid_import_energy"].value == pytest.approx(
            meter["grid_import_energy"], abs=10
        )
        assert readings["mppt1/pv_power"].value == pytest.approx(site.pv_w, abs=0.1)
        await link.close()


NUMERIC = [r for r in gx_table() if r.kind in {"int16", "uint16", "int32", "uint32"}]


@given(
    register=st.sampled_from(NUMERIC),
    value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
@settings(max_examples=300, deadline=None)
def test_the_emulator_and_the_driver_agree_on_every_register(
    register: VictronRegister, value: float
) -> None:
    """What the GX encodes, the driver's point decodes (within one step)."""
    words = register_words(register, value)
    assert len(words) == register.count
    decoded = register.point().decode(words)
    assert decoded is not None
    low, high = (-(2 ** (16 * register.count - 1)), 2 ** (16 * register.count - 1) - 1)
    if register.kind.startswith("u"):
        low, high = 0, 2 ** (16 * register.count) - 1
    raw = min(max(round(value * register.scale), low), high)
    assert decoded == pytest.approx(raw / register.scale)


@given(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=8))
def test_any_string_registers_decode(words: list[int]) -> None:
    text = decode_string(words)
    assert "\0" not in text
    assert len(text) <= 2 * len(words)
