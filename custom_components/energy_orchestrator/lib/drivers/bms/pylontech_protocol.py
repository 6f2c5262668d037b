"""Pylontech's RS485 protocol (the one inverters speak): frames and parsers.

A frame is ASCII: ``~`` VER ADR CID1 CID2 LENGTH INFO CHKSUM CR, every
field but the markers written as upper-case hex digits. In an answer CID2
holds the return code (RTN, 0 = normal). LENGTH's low 12 bits (LENID) count
the hex digits of INFO; its top nibble (LCHKSUM) makes the sum of the four
nibbles 0 modulo 16. CHKSUM is the two's complement of the sum of every
ASCII byte between ``~`` and CHKSUM, modulo 65536.

Field layouts follow Pylontech's "RS485 protocol, low voltage, V3.3" as
implemented and run against US2000/US3000 stacks by Tomcat42/pylontech-python
and Frankkkkk/python-pylontech (both MIT), and were checked against a real
capture between an inverter and a two-pack stack:

- 0x42 analog values: INFOFLAG, then the pack count (when asked for all
  packs with COMMAND 0xFF) or the pack's address (when asked for one), then
  per pack: cell count and cell voltages (mV), temperature count and
  temperatures (0.1 K; the first is the BMS board's), current (signed,
  100 mA, > 0 charging: the capture's remaining capacity moves with the
  integrated current at this scale, not at the 10 mA some copies of the
  document state), voltage (mV), remaining capacity (mAh), a "user defined"
  count (> 2: remaining and total capacity follow again as 3-byte fields,
  for packs above 65 Ah), total capacity (mAh), cycles.
- 0x44 alarms: the same shape with one state byte per cell and temperature,
  three for charge current, module voltage and discharge current, then five
  status bytes.
- 0x47 system parameters: INFOFLAG and twelve 16-bit limits.
- 0x92 charge/discharge management: COMMAND, charge and discharge voltage
  limits (mV), charge and discharge current limits (signed, 100 mA) and a
  status byte: the limits the BMS asks an inverter to keep now.
- 0x51 manufacturer info, 0x93 serial number, 0x96 software version.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from ..errors import BadResponseError, DeviceRejectedError
from .common import ByteReader, ascii_field

START = b"~"
END = b"\r"
VERSION = 0x20
CID1_BATTERY = 0x46
# COMMAND asking the stack's master for every pack at once.
ALL_PACKS = 0xFF
# Upper case only: a lower-case digit is not what a pack sends, and would
# let a frame with a damaged checksum digit pass as intact.
_HEX_DIGITS = frozenset(b"0123456789ABCDEF")
# VER ADR CID1 CID2 LENGTH, in hex digits, and CHKSUM.
_HEADER_DIGITS = 12
_CHECKSUM_DIGITS = 4
_MAX_LENID = 0xFFF
# 0.1 K above absolute zero, in the protocol's unit.
_KELVIN_OFFSET = 2731


class Cid2(IntEnum):
    """The commands this integration sends."""

    ANALOG = 0x42
    ALARMS = 0x44
    SYSTEM_PARAMETERS = 0x47
    PROTOCOL_VERSION = 0x4F
    MANUFACTURER_INFO = 0x51
    MANAGEMENT_INFO = 0x92
    SERIAL_NUMBER = 0x93
    SOFTWARE_VERSION = 0x96


RETURN_CODES: dict[int, str] = {
    0x01: "version error",
    0x02: "checksum error",
    0x03: "length checksum error",
    0x04: "command not supported",
    0x05: "command format error",
    0x06: "invalid data",
    0x90: "address error",
    0x91: "internal communication error",
}


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame; ``code`` is CID2 in a request, RTN in an answer."""

    version: int
    address: int
    cid1: int
    code: int
    info: bytes


def length_field(info_digits: int) -> int:
    """Return LENGTH for an INFO of ``info_digits`` hex digits."""
    if not 0 <= info_digits <= _MAX_LENID:
        raise ValueError(f"INFO of {info_digits} digits does not fit a frame")
    nibbles = (info_digits & 0xF) + (info_digits >> 4 & 0xF) + (info_digits >> 8)
    return (-nibbles & 0xF) << 12 | info_digits


def checksum(body: bytes) -> int:
    """Return CHKSUM of the ASCII bytes between ``~`` and CHKSUM."""
    return -sum(body) & 0xFFFF


def encode_frame(frame: Frame) -> bytes:
    """Return a frame's bytes on the wire, from ``~`` to the closing CR."""
    info = frame.info.hex().upper()
    body = (
        f"{frame.version:02X}{frame.address:02X}{frame.cid1:02X}{frame.code:02X}"
        f"{length_field(len(info)):04X}{info}"
    ).encode("ascii")
    return START + body + f"{checksum(body):04X}".encode("ascii") + END


def encode_request(address: int, cid2: int, info: bytes = b"") -> bytes:
    """Return a request to the pack or stack at ``address``."""
    return encode_frame(Frame(VERSION, address, CID1_BATTERY, cid2, info))


def frame_end(buffer: bytes) -> int | None:
    """Return the length up to the first CR after a ``~``, or None."""
    start = buffer.find(START)
    if start < 0:
        return None
    end = buffer.find(END, start)
    return None if end < 0 else end + 1


def decode_frame(raw: bytes) -> Frame:
    """Return the frame ending ``raw``, its checksums verified.

    Bytes before the last ``~`` are line noise and ignored. Raises
    BadResponseError for anything that is not a whole, intact frame.
    """
    if not raw.endswith(END):
        raise BadResponseError("Pylontech frame without its closing CR")
    start = raw.rfind(START)
    if start < 0:
        raise BadResponseError("no '~' starts a Pylontech frame")
    body = raw[start + 1 : -1]
    if len(body) < _HEADER_DIGITS + _CHECKSUM_DIGITS or len(body) % 2:
        raise BadResponseError(f"Pylontech frame of {len(body)} digits is cut short")
    if not _HEX_DIGITS.issuperset(body):
        raise BadResponseError(
            "Pylontech frame holds bytes that are not upper-case hex digits"
        )
    expected = checksum(body[:-_CHECKSUM_DIGITS])
    received = int(body[-_CHECKSUM_DIGITS:], 16)
    if received != expected:
        raise BadResponseError(
            f"Pylontech checksum {received:04X} does not match {expected:04X}"
        )
    length = int(body[8:12], 16)
    info_digits = length & _MAX_LENID
    if length_field(info_digits) != length:
        raise BadResponseError(f"Pylontech length checksum wrong in {length:04X}")
    info = body[_HEADER_DIGITS:-_CHECKSUM_DIGITS]
    if len(info) != info_digits:
        raise BadResponseError(
            f"Pylontech LENGTH says {info_digits} digits of INFO, frame has {len(info)}"
        )
    return Frame(
        version=int(body[0:2], 16),
        address=int(body[2:4], 16),
        cid1=int(body[4:6], 16),
        code=int(body[6:8], 16),
        info=bytes.fromhex(info.decode("ascii")),
    )


def response_info(raw: bytes, address: int) -> bytes:
    """Return the INFO of an answer from ``address``; check it is one.

    Raises BadResponseError for a broken frame or one from another device,
    and DeviceRejectedError when the pack answered with an error code.
    """
    frame = decode_frame(raw)
    if frame.cid1 != CID1_BATTERY:
        raise BadResponseError(f"answer is for device type {frame.cid1:02X}, not 46")
    if frame.address != address:
        raise BadResponseError(
            f"answer comes from address {frame.address}, not {address}"
        )
    if frame.code:
        reason = RETURN_CODES.get(frame.code, "unknown error")
        raise DeviceRejectedError(
            frame.code, f"pack {address} answered RTN {frame.code:02X} ({reason})"
        )
    return frame.info


def _temperature(raw: int) -> float:
    """Return °C from the protocol's 0.1 K."""
    return (raw - _KELVIN_OFFSET) / 10


@dataclass(frozen=True, slots=True)
class PackAnalog:
    """One pack's analog values (0x42), in the value model's units."""

    cell_voltages: tuple[float, ...]
    # °C; the first is the BMS board's, the others the cells'.
    temperatures: tuple[float, ...]
    current: float  # A, > 0 charging
    voltage: float  # V
    remaining_capacity: float  # Ah
    total_capacity: float  # Ah
    cycles: int

    @property
    def power(self) -> float:
        """Return the pack's power (W, > 0 charging)."""
        return self.voltage * self.current

    @property
    def soc(self) -> float | None:
        """Return remaining over total capacity (%), None without a capacity."""
        if self.total_capacity <= 0:
            return None
        return 100 * self.remaining_capacity / self.total_capacity

    @property
    def temperature(self) -> float | None:
        """Return the highest temperature the pack measures (°C)."""
        return max(self.temperatures, default=None)

    @property
    def cell_voltage_min(self) -> float | None:
        """Return the lowest cell voltage (V)."""
        return min(self.cell_voltages, default=None)

    @property
    def cell_voltage_max(self) -> float | None:
        """Return the highest cell voltage (V)."""
        return max(self.cell_voltages, default=None)


def _pack_count(reader: ByteReader, all_packs: bool) -> int:
    """Read INFOFLAG and COMMAND; return how many pack records follow."""
    reader.u8()  # INFOFLAG: whether alarms changed since the last read
    packs = reader.u8()
    return packs if all_packs else 1


def _analog_pack(reader: ByteReader) -> PackAnalog:
    """Read one pack's analog record."""
    cells = tuple(reader.u16() / 1000 for _ in range(reader.u8()))
    temperatures = tuple(_temperature(reader.i16()) for _ in range(reader.u8()))
    current = reader.i16() / 10
    voltage = reader.u16() / 1000
    remaining = reader.u16() / 1000
    user_defined = reader.u8()
    total = reader.u16() / 1000
    cycles = reader.u16()
    if user_defined > 2:
        # Packs above 65 Ah put 0xFFFF above and the real values here.
        remaining = reader.u24() / 1000
        total = reader.u24() / 1000
    return PackAnalog(cells, temperatures, current, voltage, remaining, total, cycles)


def parse_analog(info: bytes, *, all_packs: bool) -> list[PackAnalog]:
    """Return the packs of a 0x42 answer (all of them for COMMAND 0xFF)."""
    reader = ByteReader(info, "Pylontech analog values")
    packs = [_analog_pack(reader) for _ in range(_pack_count(reader, all_packs))]
    reader.end()
    return packs


# Names of the alarm bits in the five status bytes of 0x44, by byte and bit.
_STATUS_BITS: tuple[dict[int, str], ...] = (
    {
        0: "module_overvoltage",
        1: "cell_undervoltage",
        2: "charge_overcurrent",
        4: "discharge_overcurrent",
        5: "discharge_overtemperature",
        6: "charge_overtemperature",
        7: "module_undervoltage",
    },
    {},  # status 2 says which MOSFETs are on, not alarms
    {2: "buzzer"},
    {},  # status 4 and 5 flag cells in the equalizing state
    {},
)
_ALARM_STATES = {1: "below_limit", 2: "above_limit"}


@dataclass(frozen=True, slots=True)
class PackAlarms:
    """One pack's alarm states (0x44): 0 normal, 1 low, 2 high, 0xF0 other."""

    cells: tuple[int, ...]
    temperatures: tuple[int, ...]
    charge_current: int
    voltage: int
    discharge_current: int
    status: bytes

    def active(self) -> list[str]:
        """Return the names of the alarms that are on."""
        names: list[str] = []
        for index, state in enumerate(self.cells, start=1):
            if state:
                names.append(f"cell{index}_{_ALARM_STATES.get(state, 'error')}")
        for index, state in enumerate(self.temperatures, start=1):
            if state:
                names.append(f"temperature{index}_{_ALARM_STATES.get(state, 'error')}")
        for name, state in (
            ("charge_current", self.charge_current),
            ("voltage", self.voltage),
            ("discharge_current", self.discharge_current),
        ):
            if state:
                names.append(f"{name}_{_ALARM_STATES.get(state, 'error')}")
        for bits, byte in zip(_STATUS_BITS, self.status, strict=False):
            names.extend(name for bit, name in bits.items() if byte >> bit & 1)
        return names


def _alarm_pack(reader: ByteReader) -> PackAlarms:
    """Read one pack's alarm record."""
    cells = tuple(reader.take(reader.u8()))
    temperatures = tuple(reader.take(reader.u8()))
    charge_current, voltage, discharge_current = reader.take(3)
    return PackAlarms(
        cells, temperatures, charge_current, voltage, discharge_current, reader.take(5)
    )


def parse_alarms(info: bytes, *, all_packs: bool) -> list[PackAlarms]:
    """Return the packs of a 0x44 answer."""
    reader = ByteReader(info, "Pylontech alarms")
    packs = [_alarm_pack(reader) for _ in range(_pack_count(reader, all_packs))]
    reader.end()
    return packs


@dataclass(frozen=True, slots=True)
class SystemParameters:
    """The stack's protection thresholds (0x47)."""

    cell_high_voltage: float  # V
    cell_low_voltage: float
    cell_under_voltage: float
    charge_high_temperature: float  # °C
    charge_low_temperature: float
    charge_current_limit: float  # A
    module_high_voltage: float  # V
    module_low_voltage: float
    module_under_voltage: float
    discharge_high_temperature: float  # °C
    discharge_low_temperature: float
    discharge_current_limit: float  # A, as a magnitude


def parse_system_parameters(info: bytes) -> SystemParameters:
    """Return the thresholds of a 0x47 answer."""
    reader = ByteReader(info, "Pylontech system parameters")
    reader.u8()  # INFOFLAG
    parameters = SystemParameters(
        cell_high_voltage=reader.u16() / 1000,
        cell_low_voltage=reader.u16() / 1000,
        cell_under_voltage=reader.u16() / 1000,
        charge_high_temperature=_temperature(reader.i16()),
        charge_low_temperature=_temperature(reader.i16()),
        charge_current_limit=reader.i16() / 10,
        module_high_voltage=reader.u16() / 1000,
        module_low_voltage=reader.u16() / 1000,
        module_under_voltage=reader.u16() / 1000,
        discharge_high_temperature=_temperature(reader.i16()),
        discharge_low_temperature=_temperature(reader.i16()),
        discharge_current_limit=abs(reader.i16() / 10),
    )
    reader.end()
    return parameters


@dataclass(frozen=True, slots=True)
class ManagementInfo:
    """What a pack asks an inverter to keep now (0x92)."""

    charge_voltage_limit: float  # V
    discharge_voltage_limit: float  # V
    charge_current_limit: float  # A
    discharge_current_limit: float  # A, as a magnitude
    charge_enabled: bool
    discharge_enabled: bool
    # The pack asks to be charged at once (its SOC is too low).
    charge_immediately: bool
    full_charge_requested: bool


def parse_management_info(info: bytes) -> ManagementInfo:
    """Return the limits of a 0x92 answer."""
    reader = ByteReader(info, "Pylontech charge/discharge management info")
    reader.u8()  # COMMAND: the pack's address
    charge_voltage = reader.u16() / 1000
    discharge_voltage = reader.u16() / 1000
    charge_current = reader.i16() / 10
    discharge_current = abs(reader.i16() / 10)
    status = reader.u8()
    reader.end()
    return ManagementInfo(
        charge_voltage_limit=charge_voltage,
        discharge_voltage_limit=discharge_voltage,
        charge_current_limit=charge_current,
        discharge_current_limit=discharge_current,
        charge_enabled=bool(status & 0x80),
        discharge_enabled=bool(status & 0x40),
        charge_immediately=bool(status & 0x30),
        full_charge_requested=bool(status & 0x08),
    )


@dataclass(frozen=True, slots=True)
class ManufacturerInfo:
    """Who made the stack's master pack (0x51)."""

    battery_name: str
    software_version: str
    manufacturer: str


def parse_manufacturer_info(info: bytes) -> ManufacturerInfo:
    """Return the names and version of a 0x51 answer."""
    reader = ByteReader(info, "Pylontech manufacturer info")
    name = ascii_field(reader.take(10))
    major, minor = reader.take(2)
    # The name is padded with dashes to its 20 bytes ("Pylon---------------").
    manufacturer = ascii_field(reader.take(20)).rstrip("-").strip()
    reader.end()
    if not name:
        raise BadResponseError("manufacturer info names no battery")
    return ManufacturerInfo(name, f"{major}.{minor}", manufacturer)


def parse_serial_number(info: bytes) -> str:
    """Return the pack's serial number from a 0x93 answer."""
    reader = ByteReader(info, "Pylontech serial number")
    reader.u8()  # COMMAND
    serial = ascii_field(reader.take(16))
    reader.end()
    if not serial or not serial.isprintable():
        raise BadResponseError("the pack reports no readable serial number")
    return serial


def parse_software_version(info: bytes) -> str:
    """Return "manufacture version (main line version)" from a 0x96 answer."""
    reader = ByteReader(info, "Pylontech software version")
    reader.u8()  # COMMAND
    manufacture = reader.take(2)
    main_line = reader.take(3)
    reader.end()
    return f"{_dotted(manufacture)} ({_dotted(main_line)})"


def _dotted(parts: Sequence[int]) -> str:
    """Return version bytes as "2.3"."""
    return ".".join(str(part) for part in parts)
