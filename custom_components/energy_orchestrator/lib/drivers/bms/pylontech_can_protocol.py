"""The Pylontech CAN protocol: the frames an LFP BMS sends its inverter.

Which protocol: the low-voltage Pylontech CAN protocol that LFP batteries
(Pylontech US/Force-L, and JK, Seplos, Daly, Dala and other BMSes set to
"Pylon" mode) speak to inverters at 500 kbit/s with 11-bit identifiers.
The BMS broadcasts its frames about once a second; the inverter's 0x305
frame is its keep-alive, which some batteries wait for before they send.
Every value is little-endian.

- 0x351: charge voltage limit (u16, 0.1 V), charge current limit (s16,
  0.1 A), discharge current limit (s16, 0.1 A), discharge voltage limit
  (u16, 0.1 V; six-byte frames have none). Some BMSes send the discharge
  limit negative: its magnitude is the limit.
- 0x355: SOC (u16, %), SOH (u16, %).
- 0x356: voltage (s16, 0.01 V), current (s16, 0.1 A, > 0 charging),
  temperature (s16, 0.1 °C).
- 0x359: protection flags (bytes 0-1), warning flags (bytes 2-3), the
  number of modules (byte 4), "PN" (bytes 5-6).
- 0x35C: requests: charge enable (bit 7), discharge enable (bit 6), force
  charge I (bit 5), force charge II (bit 4), full charge (bit 3).
- 0x35E: the manufacturer's name, ASCII ("PYLON   ").

Layouts, scales and flag bits follow diyBMS v4's Pylontech emulation
(``ESPController/src/pylon_canbus.cpp``), whose comments also quote the
real frames the tests decode; see docs/devices.md.
"""

from dataclasses import dataclass
from enum import IntEnum
import struct

from ..errors import BadResponseError

BITRATE = 500_000
# How often a BMS sends its frame set, and an inverter its keep-alive (s).
FRAME_PERIOD = 1.0


class FrameId(IntEnum):
    """The identifiers of the protocol's frames."""

    KEEPALIVE = 0x305
    LIMITS = 0x351
    SOC = 0x355
    MEASUREMENTS = 0x356
    ALARMS = 0x359
    REQUESTS = 0x35C
    NAME = 0x35E


# The frames a BMS sends, in the order it sends them.
BMS_FRAMES: tuple[FrameId, ...] = (
    FrameId.LIMITS,
    FrameId.SOC,
    FrameId.MEASUREMENTS,
    FrameId.ALARMS,
    FrameId.REQUESTS,
    FrameId.NAME,
)
# The inverter's keep-alive: eight zero bytes (Pylontech's "host reply").
KEEPALIVE_DATA = bytes(8)

# 0x359's flags by (byte, bit): bytes 0-1 are protections (the BMS has cut
# or is about to cut the current), bytes 2-3 warnings (a limit is near).
PROTECTION_FLAGS: dict[tuple[int, int], str] = {
    (0, 1): "cell_overvoltage",
    (0, 2): "cell_undervoltage",
    (0, 3): "overtemperature",
    (0, 4): "undertemperature",
    (0, 7): "discharge_overcurrent",
    (1, 0): "charge_overcurrent",
    (1, 3): "system_error",
}
WARNING_FLAGS: dict[tuple[int, int], str] = {
    (2, 1): "high_voltage",
    (2, 2): "low_voltage",
    (2, 3): "high_temperature",
    (2, 4): "low_temperature",
    (2, 7): "discharge_high_current",
    (3, 0): "charge_high_current",
    (3, 3): "internal_communication_failure",
}
# 0x35C's request bits (byte 0).
REQUEST_BITS: dict[int, str] = {
    7: "charge_enable",
    6: "discharge_enable",
    5: "force_charge_1",
    4: "force_charge_2",
    3: "full_charge",
}


@dataclass(frozen=True, slots=True)
class Limits:
    """What the BMS allows the inverter (0x351)."""

    charge_voltage: float  # V
    charge_current: float  # A
    discharge_current: float  # A, a magnitude
    discharge_voltage: float | None  # V; None in a six-byte frame


@dataclass(frozen=True, slots=True)
class StateOfCharge:
    """State of charge and of health (0x355)."""

    soc: float  # %
    soh: float  # %


@dataclass(frozen=True, slots=True)
class Measurements:
    """What the BMS measures (0x356)."""

    voltage: float  # V
    current: float  # A, > 0 charging
    temperature: float  # °C


@dataclass(frozen=True, slots=True)
class Alarms:
    """The protection and warning flags that are set (0x359)."""

    protections: frozenset[str]
    warnings: frozenset[str]
    modules: int | None  # how many modules the BMS says it has

    @property
    def state(self) -> str:
        """Return the worst of the flags: ``protection``, ``warning`` or ``none``."""
        if self.protections:
            return "protection"
        return "warning" if self.warnings else "none"


@dataclass(frozen=True, slots=True)
class Requests:
    """What the BMS asks of the inverter (0x35C)."""

    flags: frozenset[str]

    @property
    def allowed(self) -> str:
        """Return whether charge and discharge are allowed, as one state."""
        charge = "charge_enable" in self.flags
        discharge = "discharge_enable" in self.flags
        if charge and discharge:
            return "charge_and_discharge"
        if charge:
            return "charge_only"
        return "discharge_only" if discharge else "neither"

    @property
    def charge_request(self) -> str:
        """Return what the BMS asks to be charged: force charge wins over full."""
        if self.flags & {"force_charge_1", "force_charge_2"}:
            return "force_charge"
        return "full_charge" if "full_charge" in self.flags else "none"


def _need(data: bytes, length: int, frame: FrameId) -> None:
    """Raise unless a frame carries at least ``length`` bytes."""
    if len(data) < length:
        raise BadResponseError(
            f"frame 0x{frame:03X} has {len(data)} bytes, needs {length}"
        )


def parse_limits(data: bytes) -> Limits:
    """Decode 0x351; the discharge voltage limit is optional (six bytes)."""
    _need(data, 6, FrameId.LIMITS)
    charge_voltage, charge_current, discharge_current = struct.unpack_from("<Hhh", data)
    discharge_voltage = (
        struct.unpack_from("<H", data, 6)[0] / 10 if len(data) >= 8 else None
    )
    return Limits(
        charge_voltage=charge_voltage / 10,
        charge_current=charge_current / 10,
        discharge_current=abs(discharge_current) / 10,
        discharge_voltage=discharge_voltage,
    )


def parse_soc(data: bytes) -> StateOfCharge:
    """Decode 0x355."""
    _need(data, 4, FrameId.SOC)
    soc, soh = struct.unpack_from("<HH", data)
    return StateOfCharge(soc=float(soc), soh=float(soh))


def parse_measurements(data: bytes) -> Measurements:
    """Decode 0x356."""
    _need(data, 6, FrameId.MEASUREMENTS)
    voltage, current, temperature = struct.unpack_from("<hhh", data)
    return Measurements(
        voltage=voltage / 100, current=current / 10, temperature=temperature / 10
    )


def _flags(data: bytes, names: dict[tuple[int, int], str]) -> frozenset[str]:
    """Return the names of the bits set."""
    return frozenset(
        name for (byte, bit), name in names.items() if data[byte] >> bit & 1
    )


def parse_alarms(data: bytes) -> Alarms:
    """Decode 0x359; a four-byte frame carries the flags alone."""
    _need(data, 4, FrameId.ALARMS)
    return Alarms(
        protections=_flags(data, PROTECTION_FLAGS),
        warnings=_flags(data, WARNING_FLAGS),
        modules=data[4] if len(data) >= 5 else None,
    )


def parse_requests(data: bytes) -> Requests:
    """Decode 0x35C."""
    _need(data, 1, FrameId.REQUESTS)
    return Requests(
        frozenset(name for bit, name in REQUEST_BITS.items() if data[0] >> bit & 1)
    )


def parse_name(data: bytes) -> str:
    """Decode 0x35E: ASCII, padded with spaces or NULs."""
    return data.split(b"\x00", 1)[0].decode("ascii", "replace").strip()


def encode_limits(limits: Limits) -> bytes:
    """Encode 0x351 (eight bytes; a missing discharge voltage as 0)."""
    return struct.pack(
        "<HhhH",
        round(limits.charge_voltage * 10),
        round(limits.charge_current * 10),
        round(limits.discharge_current * 10),
        round((limits.discharge_voltage or 0) * 10),
    )


def encode_soc(state: StateOfCharge) -> bytes:
    """Encode 0x355."""
    return struct.pack("<HH", round(state.soc), round(state.soh))


def encode_measurements(measurements: Measurements) -> bytes:
    """Encode 0x356."""
    return struct.pack(
        "<hhh",
        round(measurements.voltage * 100),
        round(measurements.current * 10),
        round(measurements.temperature * 10),
    )


def encode_alarms(alarms: Alarms) -> bytes:
    """Encode 0x359 with its "PN" marker."""
    data = bytearray(8)
    for (byte, bit), name in (PROTECTION_FLAGS | WARNING_FLAGS).items():
        if name in alarms.protections | alarms.warnings:
            data[byte] |= 1 << bit
    data[4] = alarms.modules or 0
    data[5:7] = b"PN"
    return bytes(data)


def encode_requests(requests: Requests) -> bytes:
    """Encode 0x35C (two bytes, the second unused)."""
    value = 0
    for bit, name in REQUEST_BITS.items():
        if name in requests.flags:
            value |= 1 << bit
    return bytes([value, 0])


def encode_name(name: str) -> bytes:
    """Encode 0x35E: eight ASCII characters, padded with spaces."""
    return name.encode("ascii")[:8].ljust(8, b" ")
