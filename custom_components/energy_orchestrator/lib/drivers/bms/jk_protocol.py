"""JK BMS PB series on RS485: Modbus-style triggers answered by 300-byte records.

Which protocol: of the JK protocols, the PB series (JK-PB2A16S15P and
relatives, the "inverter BMS") speaks this one on its RS485 port, and it is
the one mppsolar 0.16.56 defines for the PB (``jkpb``) with real PB answers
in its tests. The vendor documents beside this project describe other
boards (the JBD-style 0xDD protocol, the JK-DZ11 balancer's 0x55AA frames)
and the older "NW" (0x4E 0x57) protocol is the B1A/B2A boards'; none of
them is what a PB answers on this bus.

The exchange: the master writes one register with Modbus RTU function 0x10
(write multiple registers: address, 0x10, register, count 1, 2 bytes, value
0, CRC-16/Modbus). The BMS answers with a 300-byte record and then the
normal 8-byte Modbus answer to the write (address, 0x10, register, count,
CRC). Which record comes back depends on the register written; the
Modbus answer at the end of each captured reply says which register it
answers:

- 0x161C: record 0x03, device information (model, versions, serial);
- 0x161E: record 0x01, settings (cell count, protections, current limits);
- 0x1620: record 0x02, cell data (cells, voltage, current, SOC, capacity).

(mppsolar's test file pairs the 0x161E and 0x1620 requests with each
other's answers; the Modbus answers inside the replies settle it.)

A record starts ``55 AA EB 90``, then its type and a counter; its last byte
is the sum of the 299 before it, modulo 256. Values are little-endian. The
offsets are those of JK's BLE records for 32-cell boards (mppsolar's
``jk02_32``), the same records the PB sends on RS485: the tests decode both
with this module and compare with mppsolar's decoding.
"""

from dataclasses import dataclass
from enum import IntEnum
import struct

from ..errors import BadResponseError
from .common import ascii_field

RECORD_HEADER = b"\x55\xaa\xeb\x90"
RECORD_LENGTH = 300
ECHO_LENGTH = 8
ANSWER_LENGTH = RECORD_LENGTH + ECHO_LENGTH
WRITE_REGISTERS = 0x10
MAX_CELLS = 32


class Record(IntEnum):
    """The records a PB sends, by their type byte."""

    SETTINGS = 0x01
    CELL_DATA = 0x02
    DEVICE_INFO = 0x03


# The register whose write makes the BMS send each record.
TRIGGER_REGISTERS: dict[Record, int] = {
    Record.DEVICE_INFO: 0x161C,
    Record.SETTINGS: 0x161E,
    Record.CELL_DATA: 0x1620,
}


def _crc16_table() -> tuple[int, ...]:
    """Return the CRC-16/Modbus lookup table (reflected polynomial 0xA001)."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC16_TABLE = _crc16_table()


def crc16_modbus(data: bytes) -> int:
    """Return the CRC-16/Modbus of ``data``; it goes on the wire low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC16_TABLE[(crc ^ byte) & 0xFF]
    return crc


def with_crc(frame: bytes) -> bytes:
    """Return a Modbus RTU frame with its CRC appended."""
    return frame + crc16_modbus(frame).to_bytes(2, "little")


def encode_request(address: int, record: Record) -> bytes:
    """Return the write that makes the BMS at ``address`` send a record."""
    register = TRIGGER_REGISTERS[record]
    return with_crc(struct.pack(">BBHHBH", address, WRITE_REGISTERS, register, 1, 2, 0))


def encode_echo(address: int, record: Record) -> bytes:
    """Return the Modbus answer to the write that follows the record."""
    register = TRIGGER_REGISTERS[record]
    return with_crc(struct.pack(">BBHH", address, WRITE_REGISTERS, register, 1))


def record_checksum(record: bytes) -> int:
    """Return the checksum byte of a record: its bytes' sum, modulo 256."""
    return sum(record[: RECORD_LENGTH - 1]) & 0xFF


def frame_end(buffer: bytes) -> int | None:
    """Return the length up to the end of a record and its Modbus answer."""
    start = buffer.find(RECORD_HEADER)
    if start < 0 or len(buffer) < start + ANSWER_LENGTH:
        return None
    return start + ANSWER_LENGTH


def check_record(record: bytes, expected: Record | None = None) -> bytes:
    """Return a 300-byte record after checking its header, checksum and type."""
    if len(record) != RECORD_LENGTH or not record.startswith(RECORD_HEADER):
        raise BadResponseError(f"not a JK record ({len(record)} bytes)")
    if record[-1] != record_checksum(record):
        raise BadResponseError(
            f"JK record checksum {record[-1]:02X} does not match"
            f" {record_checksum(record):02X}"
        )
    if expected is not None and record[4] != expected:
        raise BadResponseError(f"JK record of type {record[4]}, not {expected}")
    return record


def decode_answer(raw: bytes, address: int, record: Record) -> bytes:
    """Return the record a BMS sent, checking the Modbus answer after it.

    Bytes before the record are line noise and ignored.
    """
    if len(raw) < ANSWER_LENGTH:
        raise BadResponseError(f"JK answer of {len(raw)} bytes is cut short")
    answer = raw[-ANSWER_LENGTH:]
    echo = answer[RECORD_LENGTH:]
    if echo != encode_echo(address, record):
        raise BadResponseError(
            f"the Modbus answer {echo.hex()} is not BMS {address}'s to the write"
            f" of register {TRIGGER_REGISTERS[record]:04X}"
        )
    return check_record(answer[:RECORD_LENGTH], record)


def _u16(record: bytes, offset: int) -> int:
    """Return the little-endian unsigned 16-bit value at ``offset``."""
    value: int = struct.unpack_from("<H", record, offset)[0]
    return value


def _i16(record: bytes, offset: int) -> int:
    """Return the little-endian signed 16-bit value at ``offset``."""
    value: int = struct.unpack_from("<h", record, offset)[0]
    return value


def _u32(record: bytes, offset: int) -> int:
    """Return the little-endian unsigned 32-bit value at ``offset``."""
    value: int = struct.unpack_from("<I", record, offset)[0]
    return value


def _i32(record: bytes, offset: int) -> int:
    """Return the little-endian signed 32-bit value at ``offset``."""
    value: int = struct.unpack_from("<i", record, offset)[0]
    return value


@dataclass(frozen=True, slots=True)
class CellData:
    """What a cell data record (0x02) says, in the value model's units."""

    cell_voltages: tuple[float, ...]  # V, the connected cells only
    voltage: float  # V
    current: float  # A, > 0 charging
    power: float  # W, as the BMS reports it (a magnitude)
    mos_temperature: float  # °C
    temperatures: tuple[float, ...]  # °C, the battery's sensors T1, T2
    soc: int  # %
    remaining_capacity: float  # Ah
    nominal_capacity: float  # Ah
    cycles: int
    soh: int  # %
    charging_enabled: bool
    discharging_enabled: bool


def parse_cell_data(record: bytes) -> CellData:
    """Return the values of a cell data record."""
    check_record(record, Record.CELL_DATA)
    voltages = [_u16(record, 6 + 2 * cell) / 1000 for cell in range(MAX_CELLS)]
    connected = _u32(record, 70)
    if connected:
        cells = tuple(v for cell, v in enumerate(voltages) if connected >> cell & 1)
    else:
        cells = tuple(v for v in voltages if v > 0)
    return CellData(
        cell_voltages=cells,
        voltage=_u32(record, 150) / 1000,
        current=_i32(record, 158) / 1000,
        power=_u32(record, 154) / 1000,
        mos_temperature=_i16(record, 144) / 10,
        temperatures=(_i16(record, 162) / 10, _i16(record, 164) / 10),
        soc=record[173],
        remaining_capacity=_u32(record, 174) / 1000,
        nominal_capacity=_u32(record, 178) / 1000,
        cycles=_u32(record, 182),
        soh=record[190],
        charging_enabled=bool(record[198]),
        discharging_enabled=bool(record[199]),
    )


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Who the BMS is (record 0x03)."""

    model: str
    hardware_version: str
    software_version: str
    uptime_s: int
    power_on_count: int
    device_name: str
    manufacturing_date: str
    serial_number: str
    user_data: str


def parse_device_info(record: bytes) -> DeviceInfo:
    """Return the names and versions of a device information record."""
    check_record(record, Record.DEVICE_INFO)
    return DeviceInfo(
        model=ascii_field(record[6:22]),
        hardware_version=ascii_field(record[22:30]),
        software_version=ascii_field(record[30:38]),
        uptime_s=_u32(record, 38),
        power_on_count=_u32(record, 42),
        device_name=ascii_field(record[46:62]),
        manufacturing_date=ascii_field(record[78:86]),
        serial_number=ascii_field(record[86:97]),
        user_data=ascii_field(record[102:118]),
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """The protections and limits set in the BMS (record 0x01)."""

    cell_undervoltage_protection: float  # V
    cell_overvoltage_protection: float  # V
    cell_request_charge_voltage: float  # V, what it asks a charger for
    max_charge_current: float  # A
    max_discharge_current: float  # A
    cell_count: int
    charging_enabled: bool
    discharging_enabled: bool
    nominal_capacity: float  # Ah

    @property
    def charge_voltage_limit(self) -> float:
        """Return the pack voltage the BMS asks a charger to charge to."""
        return self.cell_request_charge_voltage * self.cell_count

    @property
    def discharge_voltage_limit(self) -> float:
        """Return the pack voltage at which the BMS cuts discharging off."""
        return self.cell_undervoltage_protection * self.cell_count


def parse_settings(record: bytes) -> Settings:
    """Return the settings of a settings record."""
    check_record(record, Record.SETTINGS)
    return Settings(
        cell_undervoltage_protection=_u32(record, 10) / 1000,
        cell_overvoltage_protection=_u32(record, 18) / 1000,
        cell_request_charge_voltage=_u32(record, 38) / 1000,
        max_charge_current=_u32(record, 50) / 1000,
        max_discharge_current=_u32(record, 62) / 1000,
        cell_count=_u32(record, 114),
        charging_enabled=bool(_u32(record, 118)),
        discharging_enabled=bool(_u32(record, 122)),
        nominal_capacity=_u32(record, 130) / 1000,
    )


def encode_record(record_type: Record, counter: int, payload: bytes) -> bytes:
    """Return a record of a type with ``payload`` from offset 6, checksummed.

    The payload is padded with zeros to the record's length.
    """
    body = RECORD_HEADER + bytes([record_type, counter & 0xFF]) + payload
    if len(body) > RECORD_LENGTH - 1:
        raise ValueError("payload too long for a JK record")
    body = body.ljust(RECORD_LENGTH - 1, b"\x00")
    return body + bytes([sum(body) & 0xFF])
