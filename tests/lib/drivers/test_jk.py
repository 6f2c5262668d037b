"""JK BMS PB series: mppsolar's real answers, a real byte stream, the emulator."""

from collections.abc import Awaitable, Callable
import contextlib
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.energy_orchestrator.lib.drivers.base import MAIN
from custom_components.energy_orchestrator.lib.drivers.bms import JkPbBms
from custom_components.energy_orchestrator.lib.drivers.bms.jk_protocol import (
    ANSWER_LENGTH,
    TRIGGER_REGISTERS,
    Record,
    check_record,
    decode_answer,
    encode_request,
    frame_end,
    parse_cell_data,
    parse_device_info,
    parse_settings,
)
from custom_components.energy_orchestrator.lib.drivers.cadence import (
    ALL_CADENCES,
    Cadence,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    BadResponseError,
    DeviceSilentError,
    WrongDeviceError,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.serial_link import (
    SerialLink,
)
from eo_lab.sim.devices.bms import JkPbEmulator
from eo_lab.sim.devices.serial_peer import Answer, SerialPeer
from eo_lab.sim.simulated_site import SimulatedSite
from eo_lab.sim.site import Site
from tests.conftest import StartPeer

FIXTURES = Path(__file__).parents[2] / "fixtures" / "bms"
MPPSOLAR: dict[str, list[dict[str, Any]]] = json.loads(
    (FIXTURES / "mppsolar_bms_test_responses.json").read_text()
)["protocols"]


def _record_of_answer(raw: bytes) -> Record:
    """Return which record a captured answer's Modbus echo says it answers."""
    register = int.from_bytes(raw[-6:-4], "big")
    return next(r for r, trigger in TRIGGER_REGISTERS.items() if trigger == register)


# The real PB answers, by the record each carries.
PB_ANSWERS: dict[Record, bytes] = {
    _record_of_answer(raw): raw
    for raw in (bytes.fromhex(entry["raw_hex"]) for entry in MPPSOLAR["jkpb"])
}


def test_requests_are_mppsolars() -> None:
    requests = {bytes.fromhex(e["request_hex_from_mppsolar"]) for e in MPPSOLAR["jkpb"]}
    assert requests == {encode_request(1, record) for record in Record}


def test_each_answer_carries_the_record_its_modbus_answer_names() -> None:
    assert set(PB_ANSWERS) == set(Record)
    for record, raw in PB_ANSWERS.items():
        assert len(raw) == ANSWER_LENGTH
        assert decode_answer(raw, 1, record)[4] == record


def test_real_pb_device_information() -> None:
    info = parse_device_info(
        decode_answer(PB_ANSWERS[Record.DEVICE_INFO], 1, Record.DEVICE_INFO)
    )
    assert info.model == "JK_PB2A16S15P"
    assert (info.hardware_version, info.software_version) == ("15.XA", "15.10")
    assert info.serial_number == "31213480085"
    assert info.manufacturing_date == "240510"
    assert info.device_name == "ATR BMS"


def test_real_pb_cell_data() -> None:
    data = parse_cell_data(
        decode_answer(PB_ANSWERS[Record.CELL_DATA], 1, Record.CELL_DATA)
    )
    assert data.cell_voltages == (
        3.357,
        3.357,
        3.357,
        3.356,
        3.356,
        3.357,
        3.356,
        3.356,
    )
    assert (data.voltage, data.current, data.power) == (26.852, 17.841, 479.072)
    # The record's own fields agree with each other: its power is V·I and
    # its SOC the remaining over the nominal capacity.
    assert data.power == pytest.approx(data.voltage * data.current, abs=0.01)
    assert data.soc == round(100 * data.remaining_capacity / data.nominal_capacity)
    assert (data.remaining_capacity, data.nominal_capacity) == (193.465, 220.0)
    assert (data.cycles, data.soh, data.soc) == (101, 100, 88)
    assert data.temperatures == (29.6, 29.4)
    assert data.mos_temperature == 30.0


def test_real_pb_settings() -> None:
    settings_ = parse_settings(
        decode_answer(PB_ANSWERS[Record.SETTINGS], 1, Record.SETTINGS)
    )
    assert settings_.cell_count == 8
    assert (settings_.max_charge_current, settings_.max_discharge_current) == (
        150.0,
        150.0,
    )
    assert settings_.charge_voltage_limit == pytest.approx(28.0)
    assert settings_.discharge_voltage_limit == pytest.approx(21.2)
    assert settings_.nominal_capacity == 220.0


def _values(decoded: dict[str, list[Any]]) -> dict[str, Any]:
    return {key: value[0] for key, value in decoded.items() if isinstance(value, list)}


def test_ble_records_of_the_same_layout_decode_as_mppsolar_does() -> None:
    compared = 0
    for entry in MPPSOLAR["jk02_32"]:
        raw = bytes.fromhex(entry["raw_hex"])
        expected = _values(entry["decoded_by_mppsolar_0.16.56"])
        if entry["command"] == "getCellData":
            data = parse_cell_data(raw)
            cells = [expected[f"Voltage_Cell{n:02d}"] for n in range(1, 33)]
            assert list(data.cell_voltages) == [v for v in cells if v]
            assert data.voltage == expected["Battery_Voltage"]
            assert data.current == expected["Battery_Current"]
            assert data.power == expected["Battery_Power"]
            assert data.temperatures == (expected["Battery_T1"], expected["Battery_T2"])
            assert data.mos_temperature == expected["MOS_Temp"]
            assert data.soc == expected["Percent_Remain"]
            assert data.remaining_capacity == expected["Capacity_Remain"]
            assert data.nominal_capacity == expected["Nominal_Capacity"]
            assert data.cycles == expected["Cycle_Count"]
            compared += 1
        elif entry["command"] == "getInfo":
            info = parse_device_info(raw)
            assert info.model == expected["Device Model"]
            assert info.hardware_version == expected["Hardware Version"]
            assert info.software_version == expected["Software Version"]
            assert info.device_name == expected["Device Name"]
            assert info.manufacturing_date == expected["Manufacturing Date"]
            assert info.serial_number == expected["Serial Number"]
            assert info.user_data == expected["User Data"]
            compared += 1
    assert compared == 4


def test_damaged_answers_are_rejected() -> None:
    raw = PB_ANSWERS[Record.CELL_DATA]
    flipped = raw[:100] + bytes([raw[100] ^ 1]) + raw[101:]
    with pytest.raises(BadResponseError, match="checksum"):
        decode_answer(flipped, 1, Record.CELL_DATA)
    with pytest.raises(BadResponseError, match="not BMS 2's"):
        decode_answer(raw, 2, Record.CELL_DATA)
    with pytest.raises(BadResponseError, match="register 161C"):
        decode_answer(raw, 1, Record.DEVICE_INFO)
    with pytest.raises(BadResponseError, match="cut short"):
        decode_answer(raw[:200], 1, Record.CELL_DATA)
    with pytest.raises(BadResponseError, match="type 2, not 3"):
        check_record(raw[:300], Record.DEVICE_INFO)


def test_frame_end_waits_for_the_record_and_its_modbus_answer() -> None:
    raw = PB_ANSWERS[Record.SETTINGS]
    assert frame_end(raw[:-1]) is None
    assert frame_end(b"\x01\x10noise" + raw + b"\x55") == len(raw) + 7


@given(st.binary(max_size=400), st.sampled_from(list(Record)))
def test_arbitrary_bytes_never_crash_the_decoder(raw: bytes, record: Record) -> None:
    with contextlib.suppress(BadResponseError):
        decode_answer(raw, 1, record)


@given(
    st.binary(max_size=310),
    st.sampled_from([parse_cell_data, parse_device_info, parse_settings]),
)
def test_arbitrary_records_never_crash_a_parser(
    record: bytes, parse: Callable[[bytes], object]
) -> None:
    with contextlib.suppress(BadResponseError):
        parse(record)


@settings(deadline=None)
@given(st.sampled_from(list(PB_ANSWERS.items())), st.data())
def test_a_damaged_answer_never_decodes(
    answer: tuple[Record, bytes], data: st.DataObject
) -> None:
    record, raw = answer
    index = data.draw(st.integers(0, len(raw) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != raw[index]))
    damaged = raw[:index] + bytes([replacement]) + raw[index + 1 :]
    with pytest.raises(BadResponseError):
        decode_answer(damaged, 1, record)


def _captured_pb(
    wrap: Callable[[bytes], bytes] = lambda b: b,
) -> Callable[[bytes], bytes]:
    """Return a peer answer giving the captured PB's answer to each write."""
    requests = {encode_request(1, record): raw for record, raw in PB_ANSWERS.items()}

    def answer(request: bytes) -> bytes:
        reply = requests.get(request, b"")
        return wrap(reply) if reply else b""

    return answer


@pytest.fixture
def peer(serial_peers: StartPeer) -> Callable[[Answer], Awaitable[SerialPeer]]:
    """Start scripted socket peers taking 11-byte JK PB requests."""
    return lambda answer: serial_peers(lambda b: 11 if len(b) >= 11 else None, answer)


def _driver(url: str, unit: int = 1, timeout: float = 0.2) -> JkPbBms:
    """Return a driver on a link to a peer; peers answer within milliseconds."""
    link = SerialLink(parse_endpoint(url, baudrate=115200), timeout=timeout)
    return JkPbBms(link, unit)


async def test_driver_against_the_captured_pb(peer: Callable[..., Any]) -> None:
    running = await peer(_captured_pb(lambda reply: b"\x00\xfe" + reply))
    driver = _driver(running.url)
    identity = await driver.async_identify()
    assert identity.model == "JK_PB2A16S15P"
    assert identity.serial_number == "31213480085"
    assert identity.firmware == "15.10"
    poll = await driver.async_poll(ALL_CADENCES)
    await driver.link.close()
    assert not poll.failed
    values = {key: reading.value for key, reading in poll.readings.items()}
    # Rounded to each quantity's resolution: the pack's millivolts and
    # milliamperes kept, their product (479.066652 W) to the 0.1 W.
    assert values == pytest.approx(
        {
            "battery_voltage": 26.852,
            "battery_current": 17.841,
            "battery_power": 479.1,
            "battery_soc": 88,
            "battery_temperature": 29.6,
            "cell_voltage_min": 3.356,
            "cell_voltage_max": 3.357,
            "battery_remaining_capacity": 193.465,
            "battery_capacity": 220.0,
            "battery_cycles": 101,
            "battery_soh": 100,
            "battery_charge_voltage_limit": 28.0,
            "battery_discharge_voltage_limit": 21.2,
            "battery_charge_current_limit": 150.0,
            "battery_discharge_current_limit": 150.0,
        }
    )
    assert set(values) == driver.available_keys()


@pytest.mark.parametrize(
    ("wrap", "error"),
    [
        (lambda reply: b"", DeviceSilentError),
        (lambda reply: bytes(range(256)) * 2, DeviceSilentError),
        (lambda reply: reply[:250], DeviceSilentError),
        (lambda reply: reply[:100] + b"\x00" + reply[101:], WrongDeviceError),
    ],
    ids=["silence", "garbage", "short frame", "wrong checksum"],
)
async def test_identify_fails_on_what_is_no_answer(
    peer: Callable[..., Any],
    wrap: Callable[[bytes], bytes],
    error: type[Exception],
) -> None:
    running = await peer(_captured_pb(lambda reply: wrap(reply) or b""))
    # Every exchange here ends in silence or a bad frame: no need to wait long.
    driver = _driver(running.url, timeout=0.1)
    with pytest.raises(error):
        await driver.async_identify()
    await driver.link.close()


async def test_a_wrong_checksum_in_a_poll_is_a_bad_answer(
    peer: Callable[..., Any],
) -> None:
    def damage(reply: bytes) -> bytes:
        return reply[:100] + bytes([reply[100] ^ 0xFF]) + reply[101:]

    running = await peer(_captured_pb(damage))
    driver = _driver(running.url)
    poll = await driver.async_poll({Cadence.FAST})
    await driver.link.close()
    assert isinstance(poll.failed[MAIN], BadResponseError)
    assert not poll.readings
    assert "battery_soc" in poll.attempted


@pytest.fixture
def still_site() -> Site:
    """Return a site that stands still: its values do not move during a test."""
    return SimulatedSite().site


async def test_emulated_pb_reports_the_site_battery(still_site: Site) -> None:
    battery = still_site.battery
    async with JkPbEmulator(still_site, address=3) as bms:
        driver = _driver(bms.url, unit=3)
        identity = await driver.async_identify()
        poll = await driver.async_poll(ALL_CADENCES)
        bms.silent = True
        silent = await driver.async_poll({Cadence.FAST})
        await driver.link.close()
    assert identity.serial_number == bms.serial_number
    values = {key: reading.value for key, reading in poll.readings.items()}
    assert values["battery_voltage"] == pytest.approx(
        battery.terminal_voltage, abs=1e-3
    )
    assert values["battery_current"] == pytest.approx(
        battery.measured_current, abs=1e-3
    )
    assert values["battery_soc"] == round(100 * battery.soc)
    assert values["battery_capacity"] == battery.capacity_ah
    assert values["battery_charge_voltage_limit"] == pytest.approx(
        3.5 * battery.cells_in_series
    )
    assert isinstance(silent.failed[MAIN], DeviceSilentError)
    assert not silent.answered


async def test_a_pb_at_another_address_stays_silent(still_site: Site) -> None:
    async with JkPbEmulator(still_site, address=2) as bms:
        driver = _driver(bms.url, unit=1)
        with pytest.raises(DeviceSilentError):
            await driver.async_identify()
        await driver.link.close()


async def test_the_emulator_finds_a_request_after_line_noise(still_site: Site) -> None:
    async with JkPbEmulator(still_site) as bms:
        link = SerialLink(parse_endpoint(bms.url), timeout=0.2)
        request = b"\x01\x10\x16" + encode_request(1, Record.DEVICE_INFO)
        raw = await link.transact(request, frame_end)
        await link.close()
    assert parse_device_info(decode_answer(raw, 1, Record.DEVICE_INFO)).model == (
        bms.model
    )
