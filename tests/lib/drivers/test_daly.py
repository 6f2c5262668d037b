"""Daly smart BMS: mppsolar's real frames, a real byte stream, the emulator."""

from collections.abc import Awaitable, Callable
import contextlib
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.energy_orchestrator.lib.drivers.base import MAIN
from custom_components.energy_orchestrator.lib.drivers.bms import DalyBms
from custom_components.energy_orchestrator.lib.drivers.bms.daly_protocol import (
    FRAME_LENGTH,
    DataId,
    decode_frame,
    encode_frame,
    encode_request,
    frame_end_for,
    frames_for_cells,
    parse_cell_temperatures,
    parse_cell_voltage_range,
    parse_cell_voltages,
    parse_mos_status,
    parse_soc,
    parse_status,
    parse_temperature_range,
    split_frames,
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
from eo_lab.sim.devices.bms import DalyEmulator
from eo_lab.sim.devices.serial_peer import Answer, SerialPeer
from eo_lab.sim.simulated_site import SimulatedSite
from eo_lab.sim.site import Site
from tests.conftest import StartPeer

FIXTURES = Path(__file__).parents[2] / "fixtures" / "bms"
CAPTURED: list[dict[str, Any]] = json.loads(
    (FIXTURES / "mppsolar_bms_test_responses.json").read_text()
)["protocols"]["daly"]


def _captured(command: str) -> list[tuple[bytes, dict[str, Any]]]:
    """Return the raw answers to a command and mppsolar's decoded values."""
    return [
        (
            bytes.fromhex(entry["raw_hex"]),
            {
                key: value[0]
                for key, value in entry["decoded_by_mppsolar_0.16.56"].items()
                if isinstance(value, list) and not key.startswith("raw")
            },
        )
        for entry in CAPTURED
        if entry["command"] == command
    ]


def _data(raw: bytes) -> bytes:
    """Return the data of a captured single-frame answer from board 1."""
    return decode_frame(raw, 1, raw[2])


def test_requests_are_mppsolars() -> None:
    for entry in CAPTURED:
        request = bytes.fromhex(entry["request_hex_from_mppsolar"])
        # mppsolar ends the frame with a newline the protocol does not have.
        assert request[-1:] == b"\n"
        assert encode_request(0x80, DataId(request[2])) == request[:-1]


def test_every_captured_frame_decodes_as_mppsolar_decodes_it() -> None:
    for raw, expected in _captured("SOC"):
        soc = parse_soc(_data(raw))
        assert (soc.voltage, soc.gathered_voltage) == (
            expected["Battery Bank Voltage"],
            expected["acquistion"],
        )
        assert (soc.current, soc.soc) == (expected["Current"], expected["SOC"])
    for raw, expected in _captured("cellMinMaxVoltages"):
        cells = parse_cell_voltage_range(_data(raw))
        assert (cells.highest, cells.highest_at) == (
            expected["Maximum Cell Voltage"],
            expected["Maximum Cell Number"],
        )
        assert (cells.lowest, cells.lowest_at) == (
            expected["Minimum Cell Voltage"],
            expected["Minimum Cell Number"],
        )
    for raw, expected in _captured("cellMinMaxTemps"):
        temperatures = parse_temperature_range(_data(raw))
        assert (temperatures.highest, temperatures.highest_at) == (
            expected["Maximum Cell Temperature"],
            expected["Maximum Cell Number"],
        )
        assert (temperatures.lowest, temperatures.lowest_at) == (
            expected["Minimum Cell Temperature"],
            expected["Minimum Cell Number"],
        )
    states = {"stationary": "idle", "charged": "charging", "discharged": "discharging"}
    for raw, expected in _captured("mosStatus"):
        mos = parse_mos_status(_data(raw))
        assert mos.state == states[expected["Charge Status"]]
        assert mos.charge_mos == (expected["Charging MOS Tube Status"] == "01")
        assert mos.discharge_mos == (expected["Discharging MOS Tube Status"] == "01")
        assert mos.bms_life == expected["BMS Life"]
        assert mos.remaining_capacity == expected["Residual Capacity"]
    for raw, expected in _captured("status"):
        status = parse_status(_data(raw))
        assert (status.cells, status.temperature_sensors) == (
            expected["Number of Cells"],
            expected["Number of Temperature Sensors"],
        )
        assert status.charger_connected == (expected["Charger Status"] == "connected")
        assert status.load_connected == (expected["Load Status"] == "connected")
        assert status.cycles == expected["Charge/Discharge Cycles"]


def _whole_frames(raw: bytes) -> list[bytes]:
    """Return the data of every whole frame of a multi-frame answer.

    One captured answer ends in a frame cut short; mppsolar drops it too.
    """
    count = len(raw) // FRAME_LENGTH
    return split_frames(raw[: count * FRAME_LENGTH], 1, raw[2], count)


def test_multi_frame_answers_decode_as_mppsolar_decodes_them() -> None:
    answers = _captured("cellVoltages")
    assert len(answers) == 2
    for raw, expected in answers:
        voltages = parse_cell_voltages(_whole_frames(raw))
        decoded = {f"Cell {n:02d} Voltage": v for n, v in enumerate(voltages, 1)}
        assert decoded == {key: expected[key] for key in decoded}
        # mppsolar reads the frame cut short as three cells of 0 V.
        assert {expected[key] for key in expected.keys() - decoded.keys()} <= {0.0}
    [(raw, expected)] = _captured("cellTemperatures")
    temperatures = parse_cell_temperatures(_whole_frames(raw))
    assert {f"Cell {n:02d} Temperature": t for n, t in enumerate(temperatures, 1)} == (
        expected
    )


def test_damaged_frames_are_rejected() -> None:
    raw, _ = _captured("SOC")[0]
    with pytest.raises(BadResponseError, match="checksum"):
        decode_frame(raw[:5] + b"\x11" + raw[6:], 1, DataId.SOC)
    with pytest.raises(BadResponseError, match="from board 2"):
        decode_frame(raw, 2, DataId.SOC)
    with pytest.raises(BadResponseError, match="not 91"):
        decode_frame(raw, 1, DataId.CELL_VOLTAGE_RANGE)
    with pytest.raises(BadResponseError, match="cut short"):
        decode_frame(raw[:-1], 1, DataId.SOC)
    frames = _whole_frames(_captured("cellVoltages")[0][0])
    with pytest.raises(BadResponseError, match="out of order"):
        parse_cell_voltages([frames[1], frames[0]])


def test_frame_end_skips_frames_of_other_ids() -> None:
    soc, _ = _captured("SOC")[0]
    status, _ = _captured("status")[0]
    end = frame_end_for(1, DataId.STATUS)
    assert end(soc + status[:-1]) is None
    assert end(b"\xa5" + soc + status + soc) == 1 + 2 * FRAME_LENGTH
    assert frames_for_cells(16) == 6
    assert frames_for_cells(0) == 1


PARSERS: list[Callable[[bytes], object]] = [
    parse_soc,
    parse_cell_voltage_range,
    parse_temperature_range,
    parse_mos_status,
    parse_status,
    lambda data: parse_cell_voltages([data]),
    lambda data: parse_cell_temperatures([data, data]),
]


@given(st.binary(max_size=60), st.sampled_from(list(DataId)), st.integers(1, 4))
def test_arbitrary_bytes_never_crash_the_frame_decoder(
    raw: bytes, data_id: DataId, frames: int
) -> None:
    with contextlib.suppress(BadResponseError):
        split_frames(raw, 1, data_id, frames)


@given(st.binary(max_size=20), st.sampled_from(PARSERS))
def test_arbitrary_data_never_crashes_a_parser(
    data: bytes, parse: Callable[[bytes], object]
) -> None:
    with contextlib.suppress(BadResponseError):
        parse(data)


SINGLE_FRAMES = [
    bytes.fromhex(entry["raw_hex"])
    for entry in CAPTURED
    if len(entry["raw_hex"]) == 2 * FRAME_LENGTH
]


@settings(deadline=None)
@given(st.sampled_from(SINGLE_FRAMES), st.data())
def test_a_damaged_frame_never_decodes(raw: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(raw) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != raw[index]))
    damaged = raw[:index] + bytes([replacement]) + raw[index + 1 :]
    with pytest.raises(BadResponseError):
        decode_frame(damaged, 1, raw[2])


def _captured_board(
    hosts: tuple[int, ...] = (0x40, 0x80), wrap: Callable[[bytes], bytes] = lambda b: b
) -> Callable[[bytes], bytes]:
    """Return a peer answer giving the first captured answer to each data ID."""
    answers: dict[int, bytes] = {}
    for entry in CAPTURED:
        raw = bytes.fromhex(entry["raw_hex"])
        answers.setdefault(raw[2], raw)

    def answer(request: bytes) -> bytes:
        frame = request[-FRAME_LENGTH:]
        if frame[1] not in hosts:
            return b""
        reply = answers.get(frame[2], b"")
        return wrap(reply) if reply else b""

    return answer


def _request_end(buffer: bytes) -> int | None:
    start = buffer.find(b"\xa5")
    return None if start < 0 or len(buffer) < start + 13 else start + 13


@pytest.fixture
def peer(serial_peers: StartPeer) -> Callable[[Answer], Awaitable[SerialPeer]]:
    """Start scripted socket peers taking 13-byte Daly requests."""
    return lambda answer: serial_peers(_request_end, answer)


def _driver(url: str, unit: int = 1, timeout: float = 0.2) -> DalyBms:
    """Return a driver on a link to a peer; peers answer within milliseconds."""
    return DalyBms(SerialLink(parse_endpoint(url), timeout=timeout), unit)


async def test_driver_against_the_captured_board(peer: Callable[..., Any]) -> None:
    # Frames of another board and a late answer of an ID this poll does not
    # ask for come first; neither is taken for the answer.
    other_board = encode_frame(0x02, DataId.SOC, bytes(8))
    late, _ = _captured("cellTemperatures")[0]
    running = await peer(_captured_board(wrap=lambda reply: other_board + late + reply))
    driver = _driver(running.url)
    identity = await driver.async_identify()
    assert identity.manufacturer == "Daly"
    assert identity.model == "Smart BMS 16S"
    assert identity.serial_number == "16S1T-01"
    poll = await driver.async_poll(ALL_CADENCES)
    await driver.link.close()
    assert not poll.failed
    values = {key: reading.value for key, reading in poll.readings.items()}
    # Rounded to each quantity's resolution: 52.8 V x 6.3 A is 332.64 W,
    # reported to the 0.1 W; the cycles are a count.
    assert values == {
        "battery_voltage": 52.8,
        "battery_current": 6.3,
        "battery_power": 332.6,
        "battery_soc": 95.6,
        "cell_voltage_min": 3.326,
        "cell_voltage_max": 3.328,
        "battery_temperature": 15,
        "battery_remaining_capacity": 248.64,
        "battery_cycles": 3,
    }
    assert isinstance(values["battery_cycles"], int)
    assert set(values) == driver.available_keys()


async def test_a_board_answering_the_older_host_address(
    peer: Callable[..., Any],
) -> None:
    running = await peer(_captured_board(hosts=(0x80,)))
    driver = _driver(running.url)
    await driver.async_identify()
    assert driver.host_address == 0x80
    poll = await driver.async_poll({Cadence.FAST})
    await driver.link.close()
    assert poll.readings["battery_soc"].value == 95.6


@pytest.mark.parametrize(
    ("wrap", "error"),
    [
        (lambda reply: b"", DeviceSilentError),
        (lambda reply: b"\x00\x01\x02" * 20, DeviceSilentError),
        (lambda reply: reply[:8], DeviceSilentError),
        (lambda reply: reply[:-1] + b"\x00", WrongDeviceError),
    ],
    ids=["silence", "garbage", "short frame", "wrong checksum"],
)
async def test_identify_fails_on_what_is_no_answer(
    peer: Callable[..., Any],
    wrap: Callable[[bytes], bytes],
    error: type[Exception],
) -> None:
    running = await peer(_captured_board(wrap=lambda reply: wrap(reply) or b""))
    # Every exchange here ends in silence or a bad frame: no need to wait long.
    driver = _driver(running.url, timeout=0.1)
    with pytest.raises(error):
        await driver.async_identify()
    await driver.link.close()


async def test_a_wrong_checksum_in_a_poll_is_a_bad_answer(
    peer: Callable[..., Any],
) -> None:
    running = await peer(_captured_board(wrap=lambda reply: reply[:-1] + b"\x00"))
    driver = _driver(running.url)
    poll = await driver.async_poll({Cadence.FAST})
    await driver.link.close()
    assert isinstance(poll.failed[MAIN], BadResponseError)
    assert not poll.readings
    assert {"battery_soc", "cell_voltage_min"} <= poll.attempted


@pytest.fixture
def still_site() -> Site:
    """Return a site that stands still: its values do not move during a test."""
    return SimulatedSite().site


async def test_emulated_board_reports_the_site_battery(still_site: Site) -> None:
    battery = still_site.battery
    async with DalyEmulator(still_site, host_addresses=(0x80,)) as board:
        driver = _driver(board.url)
        identity = await driver.async_identify()
        poll = await driver.async_poll(ALL_CADENCES)
        link = driver.link
        voltages = parse_cell_voltages(
            split_frames(
                await link.transact(
                    encode_request(0x80, DataId.CELL_VOLTAGES),
                    frame_end_for(1, DataId.CELL_VOLTAGES, 6),
                ),
                1,
                DataId.CELL_VOLTAGES,
                6,
            )
        )
        board.silent = True
        requests = board.request_count
        silent = await driver.async_poll(ALL_CADENCES)
        await link.close()
    assert identity.serial_number == f"{battery.cells_in_series}S2T-01"
    values = {key: reading.value for key, reading in poll.readings.items()}
    assert values["battery_voltage"] == pytest.approx(
        battery.terminal_voltage, abs=0.05
    )
    assert values["battery_current"] == pytest.approx(
        battery.measured_current, abs=0.05
    )
    assert values["battery_soc"] == pytest.approx(100 * battery.soc, abs=0.05)
    assert values["battery_remaining_capacity"] == pytest.approx(
        battery.charge_ah, abs=1e-3
    )
    # Six frames of three carry the 16 cells; the last two places are empty.
    cells = [v for v in voltages if v]
    assert len(cells) == battery.cells_in_series
    assert values["cell_voltage_min"] == min(cells)
    assert values["cell_voltage_max"] == max(cells)
    # A silent board is asked once per poll, not once per value.
    assert isinstance(silent.failed[MAIN], DeviceSilentError)
    assert board.request_count == requests + 1
    assert silent.attempted == set(driver.keys)


def test_frames_on_the_wire_have_the_documented_shape() -> None:
    frame = encode_frame(0x01, DataId.SOC, bytes(8))
    assert len(frame) == FRAME_LENGTH
    assert frame[:4] == b"\xa5\x01\x90\x08"
    with pytest.raises(ValueError, match="eight"):
        encode_frame(0x01, DataId.SOC, b"")


async def test_the_emulator_finds_a_request_after_line_noise(still_site: Site) -> None:
    async with DalyEmulator(still_site) as board:
        link = SerialLink(parse_endpoint(board.url), timeout=0.2)
        request = b"\xa5\x40\x90" + encode_request(0x40, DataId.STATUS)
        raw = await link.transact(request, frame_end_for(1, DataId.STATUS))
        await link.close()
    assert parse_status(decode_frame(raw, 1, DataId.STATUS)).cells == 16
