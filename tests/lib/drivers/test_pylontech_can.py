"""The Pylontech CAN protocol, frame by frame, and the driver on a python-can bus.

The frames are those diyBMS v4's Pylontech emulation quotes in its comments
(``ESPController/src/pylon_canbus.cpp``), real frames of a Pylontech stack
and of emulating BMSes; the project has no CAN capture of its own
(``../shared/data`` holds RS485 ones only).
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
import itertools

import can
import pytest

from custom_components.energy_orchestrator.lib.drivers.bms import (
    pylontech_can,
    pylontech_can_protocol as proto,
)
from custom_components.energy_orchestrator.lib.drivers.bms.pylontech_can import (
    PylontechCanBattery,
    frame_values,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    BadResponseError,
    DeviceSilentError,
    LinkError,
    WrongDeviceError,
)
from custom_components.energy_orchestrator.lib.drivers.families import (
    FAMILIES,
    build_can_driver,
    build_driver,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.pool import LinkPool
from eo_lab.sim.devices.bms.pylontech_can import PylontechCanEmulator
from eo_lab.sim.simulated_site import SimulatedSite

# diyBMS's comments: a Pylontech stack's limits (53.2 V, 370 A both ways,
# 46.0 V), and an emulator's whose discharge limit is sent negative.
LIMITS_STACK = bytes.fromhex("14 02 74 0E 74 0E CC 01")
LIMITS_NEGATIVE = bytes.fromhex("44 02 64 00 9C FF 3F 02")
SOC_SOH = bytes.fromhex("1A 00 64 00")
MEASUREMENTS = bytes.fromhex("4E 13 02 03 04 05")
ALARMS_QUIET = bytes.fromhex("00 00 00 00 0A 50 4E")
REQUESTS_BOTH = bytes.fromhex("C0 00")
NAME_PYLON = bytes.fromhex("50 59 4C 4F 4E 20 20 20")


def test_limits_of_a_stack() -> None:
    limits = proto.parse_limits(LIMITS_STACK)
    assert limits == proto.Limits(53.2, 370.0, 370.0, 46.0)


def test_a_negative_discharge_limit_is_its_magnitude() -> None:
    # 0x0244 = 58.0 V, 0x0064 = 10.0 A, 0xFF9C = -10.0 A, 0x023F = 57.5 V.
    limits = proto.parse_limits(LIMITS_NEGATIVE)
    assert limits == proto.Limits(58.0, 10.0, 10.0, 57.5)


def test_a_six_byte_limits_frame_has_no_discharge_voltage() -> None:
    limits = proto.parse_limits(LIMITS_STACK[:6])
    assert limits.discharge_voltage is None
    assert (
        frame_values(proto.FrameId.LIMITS, LIMITS_STACK[:6])[
            "battery_discharge_voltage_limit"
        ]
        is None
    )


def test_soc_and_soh() -> None:
    assert proto.parse_soc(SOC_SOH) == proto.StateOfCharge(26.0, 100.0)


def test_measurements_and_the_sign_of_the_current() -> None:
    # 0x134E = 49.42 V, 0x0302 = 77.0 A charging, 0x0504 = 128.4 °C.
    assert proto.parse_measurements(MEASUREMENTS) == proto.Measurements(
        49.42, 77.0, 128.4
    )
    # -12.5 A: discharging, negative as the value model has it.
    discharging = bytes.fromhex("4E 13 83 FF FA 00")
    values = frame_values(proto.FrameId.MEASUREMENTS, discharging)
    assert values["battery_current"] == -12.5
    assert values["battery_power"] == pytest.approx(49.42 * -12.5)
    assert values["battery_temperature"] == 25.0


def test_quiet_alarms_with_ten_modules() -> None:
    alarms = proto.parse_alarms(ALARMS_QUIET)
    assert alarms == proto.Alarms(frozenset(), frozenset(), 10)
    assert alarms.state == "none"


@pytest.mark.parametrize(
    ("byte", "bit", "name", "state"),
    [
        *((b, i, n, "protection") for (b, i), n in proto.PROTECTION_FLAGS.items()),
        *((b, i, n, "warning") for (b, i), n in proto.WARNING_FLAGS.items()),
    ],
)
def test_every_alarm_bit_has_its_name(
    byte: int, bit: int, name: str, state: str
) -> None:
    data = bytearray(ALARMS_QUIET)
    data[byte] |= 1 << bit
    alarms = proto.parse_alarms(bytes(data))
    assert alarms.protections | alarms.warnings == {name}
    assert alarms.state == state
    assert proto.encode_alarms(alarms)[:5] == bytes(data)[:5]


def test_a_protection_outranks_a_warning() -> None:
    # Cell overvoltage protection (byte 0, bit 1) and high-voltage warning.
    alarms = proto.parse_alarms(bytes.fromhex("02 00 02 00 01 50 4E 00"))
    assert alarms.protections == {"cell_overvoltage"}
    assert alarms.warnings == {"high_voltage"}
    assert (
        frame_values(proto.FrameId.ALARMS, bytes.fromhex("02 00 02 00"))[
            "battery_alarm"
        ]
        == "protection"
    )


def test_unused_alarm_bits_are_not_alarms() -> None:
    # Bits no table names (byte 0 bits 0, 5, 6; byte 1 bits 1, 2, 4-7 ...).
    data = bytes([0b01100001, 0b11110110, 0b01100001, 0b11110110, 1, 0x50, 0x4E, 0])
    assert proto.parse_alarms(data).state == "none"


@pytest.mark.parametrize(
    ("byte0", "allowed", "charge_request", "flags"),
    [
        (0xC0, "charge_and_discharge", "none", {"charge_enable", "discharge_enable"}),
        (0x80, "charge_only", "none", {"charge_enable"}),
        (0x40, "discharge_only", "none", {"discharge_enable"}),
        (0x00, "neither", "none", set()),
        (0xA0, "charge_only", "force_charge", {"charge_enable", "force_charge_1"}),
        (0x90, "charge_only", "force_charge", {"charge_enable", "force_charge_2"}),
        (0xC8, "charge_and_discharge", "full_charge", None),
        (0xF8, "charge_and_discharge", "force_charge", None),
    ],
)
def test_requests(
    byte0: int, allowed: str, charge_request: str, flags: set[str] | None
) -> None:
    requests = proto.parse_requests(bytes([byte0, 0]))
    if flags is not None:
        assert requests.flags == flags
    assert requests.allowed == allowed
    assert requests.charge_request == charge_request
    assert proto.encode_requests(requests) == bytes([byte0, 0])


def test_name() -> None:
    assert proto.parse_name(NAME_PYLON) == "PYLON"
    assert proto.parse_name(b"SEPLOS\x00\x00") == "SEPLOS"
    assert proto.encode_name("PYLON") == NAME_PYLON


@pytest.mark.parametrize(
    ("frame_id", "data"),
    [
        (proto.FrameId.LIMITS, LIMITS_STACK[:5]),
        (proto.FrameId.SOC, SOC_SOH[:3]),
        (proto.FrameId.MEASUREMENTS, MEASUREMENTS[:4]),
        (proto.FrameId.ALARMS, ALARMS_QUIET[:3]),
        (proto.FrameId.REQUESTS, b""),
    ],
)
def test_a_short_frame_is_a_bad_response(frame_id: proto.FrameId, data: bytes) -> None:
    with pytest.raises(BadResponseError, match=f"0x{frame_id:03X}"):
        frame_values(frame_id, data)


def test_encoders_round_trip() -> None:
    limits = proto.Limits(56.0, 50.0, 100.0, 42.4)
    assert proto.parse_limits(proto.encode_limits(limits)) == limits
    measured = proto.Measurements(51.23, -35.5, 21.5)
    assert proto.parse_measurements(proto.encode_measurements(measured)) == measured


# The driver, on python-can's virtual bus.

_channels = itertools.count()


@pytest.fixture
def channel() -> str:
    """Return a virtual bus of the test's own."""
    return f"pylontech_can_test_{next(_channels)}"


@pytest.fixture
def bus(channel: str) -> Iterator[can.BusABC]:
    """Return the test's end of the virtual bus (the battery's side)."""
    with can.Bus(interface="virtual", channel=channel) as end:
        yield end


@pytest.fixture
async def battery(
    site: SimulatedSite, channel: str
) -> AsyncIterator[PylontechCanEmulator]:
    """Serve the simulated battery on the test's virtual bus."""
    emulator = PylontechCanEmulator(site.site, sync=site.sync, period=0.1)
    with can.Bus(interface="virtual", channel=channel) as end:
        async with emulator.on_bus(end):
            yield emulator


@pytest.fixture
async def driver(channel: str) -> AsyncIterator[PylontechCanBattery]:
    """Return the family's driver on the test's virtual bus; close it after."""
    built = build_can_driver(FAMILIES["pylontech_can"], "virtual", channel)
    assert isinstance(built, PylontechCanBattery)
    built.probe_time = 0.3
    yield built
    await built.link.close()


def _send(bus: can.BusABC, frames: dict[int, bytes]) -> None:
    for frame_id, data in frames.items():
        bus.send(can.Message(arbitration_id=frame_id, data=data, is_extended_id=False))


async def test_the_driver_reports_what_the_frames_say(
    driver: PylontechCanBattery, bus: can.BusABC
) -> None:
    await driver.link.async_open()
    _send(
        bus,
        {
            proto.FrameId.LIMITS: LIMITS_STACK,
            proto.FrameId.SOC: SOC_SOH,
            proto.FrameId.MEASUREMENTS: MEASUREMENTS,
            proto.FrameId.ALARMS: ALARMS_QUIET,
            proto.FrameId.REQUESTS: REQUESTS_BOTH,
            proto.FrameId.NAME: NAME_PYLON,
        },
    )
    identity = await driver.async_identify()
    assert (identity.manufacturer, identity.model) == ("Pylontech", "CAN battery")
    readings = await driver.async_read()
    assert {key: reading.value for key, reading in readings.items()} == {
        "battery_charge_voltage_limit": 53.2,
        "battery_charge_current_limit": 370.0,
        "battery_discharge_current_limit": 370.0,
        "battery_discharge_voltage_limit": 46.0,
        "battery_soc": 26.0,
        "battery_soh": 100.0,
        "battery_voltage": 49.42,
        "battery_current": 77.0,
        "battery_power": 3805.3,
        "battery_temperature": 128.4,
        "battery_alarm": "none",
        "battery_permission": "charge_and_discharge",
        "battery_charge_request": "none",
    }
    assert set(readings) == driver.available_keys()
    diagnostics = driver.diagnostics()
    assert diagnostics["alarms"] == {"protections": [], "warnings": [], "modules": 10}
    assert diagnostics["requests"] == ["charge_enable", "discharge_enable"]


async def test_another_battery_names_itself(
    driver: PylontechCanBattery, bus: can.BusABC
) -> None:
    await driver.link.async_open()
    _send(
        bus,
        {
            proto.FrameId.SOC: SOC_SOH,
            proto.FrameId.MEASUREMENTS: MEASUREMENTS,
            proto.FrameId.NAME: b"SEPLOS  ",
        },
    )
    identity = await driver.async_identify()
    assert identity.manufacturer == "Seplos"
    # The name may come late, or not at all: the identity compared stays.
    assert identity.serial_number == "CAN"


async def test_a_quiet_bus_is_a_silent_device(driver: PylontechCanBattery) -> None:
    with pytest.raises(DeviceSilentError, match="no CAN frames"):
        await driver.async_identify()


async def test_other_frames_are_another_device(
    driver: PylontechCanBattery, bus: can.BusABC
) -> None:
    await driver.link.async_open()
    _send(bus, {0x18F: bytes(8), 0x123: b"\x01"})
    with pytest.raises(WrongDeviceError, match="carries 2 frames"):
        await driver.async_identify()


async def test_a_stale_frame_is_unavailable_and_a_silent_bus_raises(
    driver: PylontechCanBattery, bus: can.BusABC, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(driver, "_monotonic", lambda: now[0])
    await driver.link.async_open()
    _send(bus, {proto.FrameId.SOC: SOC_SOH, proto.FrameId.MEASUREMENTS: MEASUREMENTS})
    await driver.async_identify()
    now[0] += 6
    _send(bus, {proto.FrameId.SOC: SOC_SOH})
    await asyncio.sleep(0.1)
    now[0] += pylontech_can.SILENCE_TIMEOUT - 5
    poll = await driver.async_poll(set())
    # 0x356 came 11 s ago: its values are gone, 0x355's (5 s) are there.
    assert set(poll.readings) == {"battery_soc", "battery_soh"}
    assert "battery_voltage" in poll.attempted
    now[0] += 6
    with pytest.raises(DeviceSilentError, match="no frames from the battery"):
        await driver.async_poll(set())


async def test_the_simulated_battery_reads_and_answers_the_keepalive(
    site: SimulatedSite, channel: str
) -> None:
    emulator = PylontechCanEmulator(
        site.site, sync=site.sync, waits_for_keepalive=True, period=0.1
    )
    driver = build_can_driver(
        FAMILIES["pylontech_can"], "virtual", channel, keepalive=True
    )
    with can.Bus(interface="virtual", channel=channel) as end:
        async with emulator.on_bus(end):
            try:
                identity = await driver.async_identify()
                readings = await driver.async_read()
            finally:
                await driver.link.close()
    assert identity.manufacturer == "Pylontech"
    assert emulator.keepalives >= 1
    battery = site.site.battery
    assert readings["battery_soc"].value == round(100 * battery.soc)
    assert readings["battery_voltage"].value == pytest.approx(
        battery.terminal_voltage, abs=0.01
    )
    assert readings["battery_charge_voltage_limit"].value == 3.5 * 16


async def test_a_battery_that_waits_for_the_keepalive_stays_quiet_without_it(
    site: SimulatedSite, channel: str
) -> None:
    emulator = PylontechCanEmulator(
        site.site, sync=site.sync, waits_for_keepalive=True, period=0.1
    )
    driver = build_can_driver(FAMILIES["pylontech_can"], "virtual", channel)
    assert isinstance(driver, PylontechCanBattery)
    driver.probe_time = 0.5
    with can.Bus(interface="virtual", channel=channel) as end:
        async with emulator.on_bus(end):
            try:
                with pytest.raises(DeviceSilentError):
                    await driver.async_identify()
            finally:
                await driver.link.close()
    assert emulator.frames_sent == 0


async def test_the_slcan_adapter_behind_ser2net(
    battery_over_slcan: PylontechCanEmulator,
) -> None:
    driver = build_can_driver(
        FAMILIES["pylontech_can"], "slcan", battery_over_slcan.url
    )
    try:
        await driver.async_identify()
        readings = await driver.async_read()
        # ser2net restarts: the reader fails, the next poll reopens the bus.
        await battery_over_slcan.drop_clients()
        for _ in range(50):
            if not driver.link.connected:
                break
            await asyncio.sleep(0.02)
        assert not driver.link.connected
        await driver.async_poll(set())
        assert driver.link.stats.connects == 2
    finally:
        await driver.link.close()
    assert readings["battery_alarm"].value == "none"


@pytest.fixture
async def battery_over_slcan(
    site: SimulatedSite,
) -> AsyncIterator[PylontechCanEmulator]:
    """Serve the simulated battery as an slcan adapter on a local socket."""
    async with PylontechCanEmulator(site.site, sync=site.sync, period=0.1) as served:
        yield served


async def test_a_closed_port_is_a_link_error(closed_port: int) -> None:
    driver = build_can_driver(
        FAMILIES["pylontech_can"], "slcan", f"socket://127.0.0.1:{closed_port}"
    )
    with pytest.raises(LinkError, match="cannot connect to slcan:socket://"):
        await driver.async_identify()
    await driver.link.close()


async def test_an_unknown_interface_is_a_link_error() -> None:
    driver = build_can_driver(FAMILIES["pylontech_can"], "no_such_adapter", "can0")
    with pytest.raises(LinkError, match="no_such_adapter"):
        await driver.async_identify()
    await driver.link.close()


def test_the_family_is_reached_over_can_only() -> None:
    family = FAMILIES["pylontech_can"]
    with pytest.raises(ValueError, match="CAN bus"):
        build_driver(LinkPool(), family, parse_endpoint("/dev/ttyUSB0"), 1)
    with pytest.raises(ValueError, match="not reached over a CAN bus"):
        build_can_driver(FAMILIES["daly"], "virtual", "x")
    driver = build_can_driver(family, "socketcan", "can0")
    assert str(driver.link.endpoint) == "socketcan:can0"
    assert driver.link.channel.bitrate == 500_000
