"""Daly's UART/RS485 protocol: fixed 13-byte frames, one data ID each.

From Daly's "UART/485 Communications Protocol" (V1.0 2019, V1.2 2020): a
frame is ``A5``, an address, the data ID, the data length (always 8), eight
data bytes and a checksum (the sum of the twelve bytes before it, modulo
256). The host sends its own address and eight zero bytes; the BMS answers
with its address (the master board is 0x01). V1.0 gives the host ("upper
computer") address 0x80, V1.2 gives it 0x40; boards answer one or both.

Data IDs read here, values big-endian:

- 0x90: total voltage (0.1 V), gathered voltage (0.1 V), current (0.1 A with
  an offset of 30000, > 30000 charging), SOC (0.1 %);
- 0x91: highest cell voltage (mV) and its cell, lowest and its cell;
- 0x92: highest temperature (°C + 40) and its sensor, lowest and its sensor;
- 0x93: state (0 idle, 1 charging, 2 discharging), charge and discharge
  MOSFETs, "BMS life" (0..255 cycles), remaining capacity (mAh, 4 bytes);
- 0x94: cells, temperature sensors, charger and load connected, DI/DO
  states, charge/discharge cycles (2 bytes, V1.0);
- 0x95: cell voltages, three per frame after a frame number, as many frames
  as the cells need (some boards send all 16);
- 0x96: temperatures, seven per frame after a frame number.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from ..errors import BadResponseError
from ..transport.serial_link import FrameEnd
from .common import ByteReader

START = 0xA5
DATA_LENGTH = 8
FRAME_LENGTH = 13
# The host's address in V1.2 of the protocol, then in V1.0.
HOST_ADDRESSES: tuple[int, ...] = (0x40, 0x80)
MASTER_BOARD = 0x01
_CURRENT_OFFSET = 30000
_TEMPERATURE_OFFSET = 40
_CELLS_PER_FRAME = 3
_TEMPERATURES_PER_FRAME = 7


class DataId(IntEnum):
    """The data a host can ask for."""

    SOC = 0x90
    CELL_VOLTAGE_RANGE = 0x91
    TEMPERATURE_RANGE = 0x92
    MOS_STATUS = 0x93
    STATUS = 0x94
    CELL_VOLTAGES = 0x95
    CELL_TEMPERATURES = 0x96


def checksum(frame: bytes) -> int:
    """Return the checksum of a frame's first twelve bytes."""
    return sum(frame[: FRAME_LENGTH - 1]) & 0xFF


def encode_frame(address: int, data_id: int, data: bytes = bytes(DATA_LENGTH)) -> bytes:
    """Return a frame from ``address`` carrying eight data bytes."""
    if len(data) != DATA_LENGTH:
        raise ValueError("a Daly frame carries exactly eight data bytes")
    head = bytes([START, address, data_id, DATA_LENGTH]) + data
    return head + bytes([checksum(head)])


def encode_request(host: int, data_id: DataId) -> bytes:
    """Return the host's request for one data ID."""
    return encode_frame(host, data_id)


def _header(address: int, data_id: int) -> bytes:
    """Return the first four bytes of a frame from ``address``."""
    return bytes([START, address, data_id, DATA_LENGTH])


def frame_end_for(address: int, data_id: DataId, frames: int = 1) -> FrameEnd:
    """Return a frame end finding ``frames`` frames of ``data_id`` from ``address``.

    Frames of other IDs or addresses (a late answer, another board) are
    skipped; whether the frames found are intact is the decoder's to check.
    """
    header = _header(address, data_id)

    def end(buffer: bytes) -> int | None:
        start = buffer.find(header)
        if start < 0 or len(buffer) < start + frames * FRAME_LENGTH:
            return None
        return start + frames * FRAME_LENGTH

    return end


def split_frames(
    raw: bytes, address: int, data_id: int, frames: int = 1
) -> list[bytes]:
    """Return the data of the ``frames`` frames ending ``raw``, each checked.

    Raises BadResponseError for a frame that is cut short, from another
    address, of another ID, or whose checksum is wrong.
    """
    if frames < 1 or len(raw) < frames * FRAME_LENGTH:
        raise BadResponseError(f"Daly answer of {len(raw)} bytes is cut short")
    header = _header(address, data_id)
    tail = raw[len(raw) - frames * FRAME_LENGTH :]
    data: list[bytes] = []
    for index in range(frames):
        frame = tail[index * FRAME_LENGTH : (index + 1) * FRAME_LENGTH]
        if frame[:4] != header:
            raise BadResponseError(
                f"Daly frame {frame[:4].hex()} is not {data_id:02X} from board"
                f" {address}"
            )
        if frame[-1] != checksum(frame):
            raise BadResponseError(
                f"Daly checksum {frame[-1]:02X} does not match {checksum(frame):02X}"
            )
        data.append(frame[4:-1])
    return data


def decode_frame(raw: bytes, address: int, data_id: int) -> bytes:
    """Return the eight data bytes of the frame ending ``raw``."""
    return split_frames(raw, address, data_id)[0]


@dataclass(frozen=True, slots=True)
class Soc:
    """Voltage, current and state of charge (0x90)."""

    voltage: float  # V
    gathered_voltage: float  # V
    current: float  # A, > 0 charging
    soc: float  # %


def parse_soc(data: bytes) -> Soc:
    """Return the values of a 0x90 answer."""
    reader = ByteReader(data, "Daly SOC")
    soc = Soc(
        voltage=reader.u16() / 10,
        gathered_voltage=reader.u16() / 10,
        current=(reader.u16() - _CURRENT_OFFSET) / 10,
        soc=reader.u16() / 10,
    )
    reader.end()
    return soc


@dataclass(frozen=True, slots=True)
class Range:
    """The highest and lowest of the cells' voltages or temperatures."""

    highest: float
    highest_at: int  # the cell or sensor number
    lowest: float
    lowest_at: int


def parse_cell_voltage_range(data: bytes) -> Range:
    """Return the cell voltage extremes (V) of a 0x91 answer."""
    reader = ByteReader(data, "Daly cell voltage range")
    highest = reader.u16() / 1000
    highest_at = reader.u8()
    lowest = reader.u16() / 1000
    lowest_at = reader.u8()
    return Range(highest, highest_at, lowest, lowest_at)


def parse_temperature_range(data: bytes) -> Range:
    """Return the temperature extremes (°C) of a 0x92 answer."""
    reader = ByteReader(data, "Daly temperature range")
    highest = reader.u8() - _TEMPERATURE_OFFSET
    highest_at = reader.u8()
    lowest = reader.u8() - _TEMPERATURE_OFFSET
    lowest_at = reader.u8()
    return Range(highest, highest_at, lowest, lowest_at)


@dataclass(frozen=True, slots=True)
class MosStatus:
    """Charge/discharge state, MOSFETs and remaining capacity (0x93)."""

    state: str  # idle, charging or discharging
    charge_mos: bool
    discharge_mos: bool
    bms_life: int
    remaining_capacity: float  # Ah


_STATES = ("idle", "charging", "discharging")


def parse_mos_status(data: bytes) -> MosStatus:
    """Return the values of a 0x93 answer."""
    reader = ByteReader(data, "Daly MOS status")
    state = reader.u8()
    if state >= len(_STATES):
        raise BadResponseError(f"Daly charge state {state} is not 0, 1 or 2")
    status = MosStatus(
        state=_STATES[state],
        charge_mos=bool(reader.u8()),
        discharge_mos=bool(reader.u8()),
        bms_life=reader.u8(),
        remaining_capacity=reader.u32() / 1000,
    )
    reader.end()
    return status


@dataclass(frozen=True, slots=True)
class Status:
    """What the BMS has and sees (0x94)."""

    cells: int
    temperature_sensors: int
    charger_connected: bool
    load_connected: bool
    io_states: int
    cycles: int


def parse_status(data: bytes) -> Status:
    """Return the values of a 0x94 answer."""
    reader = ByteReader(data, "Daly status")
    status = Status(
        cells=reader.u8(),
        temperature_sensors=reader.u8(),
        charger_connected=bool(reader.u8()),
        load_connected=bool(reader.u8()),
        io_states=reader.u8(),
        cycles=reader.u16(),
    )
    reader.u8()  # reserved
    return status


def _numbered(frames: Sequence[bytes], what: str) -> None:
    """Raise unless the frames are whole and numbered one after the other."""
    if any(len(frame) != DATA_LENGTH for frame in frames):
        raise BadResponseError(f"Daly {what} frame data is not {DATA_LENGTH} bytes")
    numbers = [frame[0] for frame in frames]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise BadResponseError(f"Daly {what} frames out of order: {numbers}")


def parse_cell_voltages(frames: Sequence[bytes]) -> tuple[float, ...]:
    """Return the cell voltages (V) of the frames of a 0x95 answer, in order."""
    if not frames:
        return ()
    _numbered(frames, "cell voltage")
    voltages: list[float] = []
    for frame in frames:
        reader = ByteReader(frame[1:], "Daly cell voltages")
        voltages.extend(reader.u16() / 1000 for _ in range(_CELLS_PER_FRAME))
    return tuple(voltages)


def parse_cell_temperatures(frames: Sequence[bytes]) -> tuple[int, ...]:
    """Return the temperatures (°C) of the frames of a 0x96 answer, in order."""
    if not frames:
        return ()
    _numbered(frames, "temperature")
    temperatures: list[int] = []
    for frame in frames:
        temperatures.extend(
            t - _TEMPERATURE_OFFSET for t in frame[1 : 1 + _TEMPERATURES_PER_FRAME]
        )
    return tuple(temperatures)


def frames_for_cells(cells: int) -> int:
    """Return how many 0x95 frames carry ``cells`` cell voltages."""
    return max(1, -(-cells // _CELLS_PER_FRAME))
