"""Alfen Eve wallboxes (NG9xx platform) over Modbus TCP, with 1/3-phase switching.

Register facts from Alfen's "Implementation of Modbus Slave TCP/IP for Alfen
NG9xx platform" (T. Nederlof, v2.3, 30-10-2020, firmware 4.10); evcc's
Alfen driver uses the same socket addresses (306, 320, 344, 374, 1201, 1210,
1215). Confidence: high for the socket registers (300-425, 1200-1215), where
the document and that independent implementation agree; the station
identity registers (slave 200, 100-178, 1105) are from the document alone.
Not tried on a real station.

- Function 03 reads, 06 and 16 write; all big-endian. A reserved or
  unavailable register reads 0xFFFF (a NaN float): absent, never 0.
- Slave 200 is the station (identity, number of sockets); slave 1 is the
  (left) socket, 2 the right socket of a double station.
- The EMS sets the socket's maximum current (1210, float32 A). It holds for
  the station's "validity time" (60 s unless the installer changed it;
  1208 counts down what is left), then the station falls back to its safe
  current (1212). A controller must rewrite the setpoint within that time;
  the fallback is the station's own safety net when it stops
  (``setpoint_watchdog_s``). Once the validity time has run out, or
  before anything was written, 1210 is not what the station applies: the
  settings this driver reports are the limit in force, the setpoint while
  it holds and the safe current otherwise. A station no EMS has written
  to yet charges at its safe current, and shows that.
- "Charge using 1 or 3 phases" (1215) switches phases, when the installer
  allowed it ("Allow 1- and 3-phased charging" in Alfen's Service Installer
  Application); the station reads 0xFFFF there otherwise.
- Requires the "Active load balancing" licence and the EMS data source,
  with reading and writing of maximum currents allowed.

Switching phases while a car draws current makes contactors break load and
upsets some cars. This driver refuses a phase switch while current flows;
the device-side sequence is the controller's: turn charging off
(``charger_enabled`` off: maximum current 0 A), wait until the current has
dropped to 0, switch phases, turn charging back on.
"""

from collections.abc import Callable, Collection, Mapping
import math
import time
from typing import ClassVar

from .base import ModbusDriver, Poll
from .cadence import Cadence
from .commands import Command, CommandKind, CommandRejectedError, CommandSpec
from .errors import DeviceRejectedError, WrongDeviceError
from .registers import DataType, Point, RegisterTable, make_point
from .transport.modbus import ModbusLink
from .values import Identity

STATION_UNIT = 200
_TABLE = RegisterTable.HOLDING
MIN_CURRENT_A = 6.0  # IEC 61851: a car takes no less
DEFAULT_MAX_CURRENT_A = 32.0
DEFAULT_VALIDITY_S = 60.0
# A phase draws current when it carries more than this (meter noise aside).
CURRENT_FLOWING_A = 0.5

# Station registers (slave 200): (address, registers).
MANUFACTURER = (117, 5)
FIRMWARE = (123, 17)
PLATFORM = (140, 17)
SERIAL = (157, 11)
SOCKETS = (1105, 1)

# Socket registers (slave 1 or 2).
STATUS_BLOCK = (1200, 16)  # availability .. phases, read together
MODE3_STATE = 1201  # string, 5 registers
APPLIED_MAX_CURRENT = 1206  # float32 A, what the car is offered
VALID_TIME = 1208  # uint32 s left before the safe current
MAX_CURRENT = 1210  # float32 A, R/W
SAFE_CURRENT = 1212  # float32 A
PHASES = 1215  # uint16, 1 or 3, R/W
_NAN_WORD = 0xFFFF


def _float(key: str, address: int, cadence: Cadence = Cadence.FAST) -> Point:
    """Return a float32 socket register."""
    return Point(key, _TABLE, address, DataType.FLOAT32, cadence=cadence)


SOCKET_POINTS: tuple[Point, ...] = (
    *(_float(f"ac_voltage_l{p}", 304 + 2 * p) for p in (1, 2, 3)),
    *(_float(f"ac_current_l{p}", 318 + 2 * p) for p in (1, 2, 3)),
    *(_float(f"ac_power_factor_l{p}", 326 + 2 * p) for p in (1, 2, 3)),
    _float("frequency", 336),
    _float("charger_power", 344),
    # Real energy delivered, sum: float64 Wh.
    make_point("charger_energy", _TABLE, 374, "float64", cadence=Cadence.SLOW),
)

# IEC 61851 "mode 3" states onto the value model's charger states.
MODE3_STATES: Mapping[str, str] = {
    "A": "disconnected",
    "B1": "waiting",  # plugged in, the station offers nothing (paused)
    "B2": "connected",  # offered, the car does not take it (full, timer)
    "C1": "waiting",  # the car asks, the station offers nothing
    "C2": "charging",
    "D1": "waiting",
    "D2": "charging",
    "E": "error",
    "F": "error",
}


def decode_text(registers: Collection[int]) -> str:
    """Return ASCII text from registers, two characters each, NUL-terminated."""
    raw = b"".join(word.to_bytes(2, "big") for word in registers)
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()


def _float_at(registers: list[int], offset: int) -> float | None:
    """Return the float32 at an offset of a block; None for NaN."""
    return Point("", _TABLE, 0, DataType.FLOAT32).decode(registers[offset : offset + 2])


def limit_in_force(status: list[int]) -> float | None:
    """Return the EMS-side current limit the socket applies, from its status block.

    The setpoint (1210) while its validity time (1208) runs, the safe
    current (1212) once it has run out or before anything was written;
    None when the station reads neither.
    """
    start = STATUS_BLOCK[0]
    high, low = status[VALID_TIME - start], status[VALID_TIME - start + 1]
    valid = high != _NAN_WORD and (high << 16 | low) > 0
    return _float_at(status, (MAX_CURRENT if valid else SAFE_CURRENT) - start)


def settings_of(status: list[int]) -> dict[CommandKind, float | str]:
    """Return the socket's settings, by command, from its status block."""
    settings: dict[CommandKind, float | str] = {}
    if (amps := limit_in_force(status)) is not None:
        settings[CommandKind.CHARGER_CURRENT] = amps
        settings[CommandKind.CHARGER_ENABLED] = "on" if amps >= MIN_CURRENT_A else "off"
    if (phases := status[PHASES - STATUS_BLOCK[0]]) in {1, 3}:
        settings[CommandKind.CHARGER_PHASES] = float(phases)
    return settings


class AlfenWallbox(ModbusDriver):
    """One socket of an Alfen Eve (NG9xx) charging station."""

    family: ClassVar[str] = "alfen"
    manufacturer: ClassVar[str] = "Alfen"
    model: ClassVar[str] = "Eve (NG9xx)"
    points: ClassVar[tuple[Point, ...]] = SOCKET_POINTS
    keys: ClassVar[tuple[str, ...]] = (
        *(p.key for p in SOCKET_POINTS),
        "charger_status",
        "charger_current",
        "charger_phases",
    )

    def __init__(
        self,
        link: ModbusLink,
        unit: int = 1,
        *,
        max_current_a: float = DEFAULT_MAX_CURRENT_A,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Bind the driver to a socket; ``max_current_a`` is the circuit's limit."""
        super().__init__(link, unit, wall_clock=wall_clock)
        self.max_current_a = max_current_a
        # The current "on" resumes at: the last one set, at first the least.
        self.resume_current_a = MIN_CURRENT_A
        # The station falls back to its safe current when the setpoint is
        # not rewritten within this (its default validity time).
        self.setpoint_watchdog_s = DEFAULT_VALIDITY_S
        self.safe_current_a: float | None = None

    async def _read(self, unit: int, register: tuple[int, int]) -> list[int]:
        """Read a run of holding registers."""
        address, count = register
        return await self.link.read_registers(unit, _TABLE, address, count)

    async def async_identify(self) -> Identity:
        """Read the station's identity; check it is an Alfen with this socket."""
        try:
            manufacturer = decode_text(await self._read(STATION_UNIT, MANUFACTURER))
            serial = decode_text(await self._read(STATION_UNIT, SERIAL))
            firmware = decode_text(await self._read(STATION_UNIT, FIRMWARE))
            platform = decode_text(await self._read(STATION_UNIT, PLATFORM))
            sockets = (await self._read(STATION_UNIT, SOCKETS))[0]
        except DeviceRejectedError as err:
            raise WrongDeviceError(
                f"no Alfen station answers at unit {STATION_UNIT} and socket"
                f" {self.unit} ({err})"
            ) from err
        if not manufacturer.lower().startswith("alfen"):
            raise WrongDeviceError(
                f"unit {STATION_UNIT} says it is made by {manufacturer!r}, not Alfen"
            )
        if not serial:
            raise WrongDeviceError("the station reports no serial number")
        if sockets != _NAN_WORD and not 1 <= self.unit <= sockets:
            raise WrongDeviceError(
                f"the station has {sockets} socket(s); there is no socket {self.unit}"
            )
        try:
            status = await self._read(self.unit, STATUS_BLOCK)
        except DeviceRejectedError as err:
            raise WrongDeviceError(
                f"the station's socket {self.unit} does not answer ({err})"
            ) from err
        self.safe_current_a = _float_at(status, SAFE_CURRENT - STATUS_BLOCK[0])
        phases_word = status[PHASES - STATUS_BLOCK[0]]
        voltages = await self.async_read_points()
        three_phase_supply = all(
            (voltages.get(f"ac_voltage_l{p}") or 0.0) > 100 for p in (2, 3)
        )
        self.commands = {
            CommandKind.CHARGER_CURRENT: CommandSpec(
                CommandKind.CHARGER_CURRENT,
                "A",
                MIN_CURRENT_A,
                self.max_current_a,
                0.1,
                tolerance=0.05,
            ),
            CommandKind.CHARGER_ENABLED: CommandSpec(
                CommandKind.CHARGER_ENABLED, options=("on", "off")
            ),
        }
        if phases_word in {1, 3} and three_phase_supply:
            self.commands[CommandKind.CHARGER_PHASES] = CommandSpec(
                CommandKind.CHARGER_PHASES, "", 1, 3, 2
            )
        return Identity(
            manufacturer=self.manufacturer,
            model=f"Eve ({platform})" if platform else self.model,
            serial_number=serial,
            firmware=firmware or None,
        )

    async def async_poll(self, due: Collection[Cadence]) -> Poll:
        """Read the meter points, and the socket's state at the fast cadence."""
        poll = await super().async_poll(due)
        if Cadence.FAST not in due:
            return poll
        status = await self._read(self.unit, STATUS_BLOCK)
        start = STATUS_BLOCK[0]
        state = decode_text(status[MODE3_STATE - start : MODE3_STATE - start + 5])
        phases_word = status[PHASES - start]
        values: dict[str, float | str | None] = {
            "charger_status": MODE3_STATES.get(state, "unknown"),
            "charger_current": _float_at(status, APPLIED_MAX_CURRENT - start),
            "charger_phases": phases_word if phases_word in {1, 3} else None,
        }
        for key, value in values.items():
            poll.attempted.add(key)
            if (reading := self._reading(key, value)) is not None:
                poll.readings[key] = reading
        # The setpoint runs out and the station falls back on its own: the
        # settings shown follow each poll, not only the last command.
        poll.settings = {
            kind: value
            for kind, value in settings_of(status).items()
            if kind in self.commands
        }
        return poll

    def available_keys(self) -> set[str]:
        """Return the meter keys the station did not refuse, and the state keys."""
        keys = super().available_keys() | {"charger_status", "charger_current"}
        if CommandKind.CHARGER_PHASES in self.commands:
            keys.add("charger_phases")
        return keys

    async def async_apply(self, command: Command) -> None:
        """Write a checked command to the socket."""
        if command.kind not in self.commands:
            raise CommandRejectedError(
                f"this device does not take {command.kind} commands"
            )
        if command.kind is CommandKind.CHARGER_CURRENT:
            self.resume_current_a = float(command.value)
            await self._write_current(self.resume_current_a)
        elif command.kind is CommandKind.CHARGER_ENABLED:
            on = command.value == "on"
            await self._write_current(self.resume_current_a if on else 0.0)
        else:
            await self._refuse_switch_under_load()
            await self.link.write_registers(
                self.unit, PHASES, [round(float(command.value))]
            )

    async def _write_current(self, amps: float) -> None:
        """Write the socket's maximum current (both registers, as Alfen requires)."""
        words = Point("", _TABLE, MAX_CURRENT, DataType.FLOAT32).encode(amps)
        await self.link.write_registers(self.unit, MAX_CURRENT, words)

    async def _refuse_switch_under_load(self) -> None:
        """Raise unless no current flows and the car is not charging."""
        currents = [await self._read_float(320 + 2 * phase) for phase in range(3)]
        status = await self._read(self.unit, STATUS_BLOCK)
        start = STATUS_BLOCK[0]
        state = decode_text(status[MODE3_STATE - start : MODE3_STATE - start + 5])
        flowing = max((abs(c) for c in currents if c is not None), default=0.0)
        if flowing > CURRENT_FLOWING_A or MODE3_STATES.get(state) == "charging":
            raise CommandRejectedError(
                f"phases switch only while no current flows ({flowing:.1f} A now,"
                f" state {state or '?'}): turn charging off (charger_enabled off),"
                " wait until the current is 0 A, switch, then turn charging on"
            )

    async def _read_float(self, address: int) -> float | None:
        """Read one float32 register of the socket."""
        return _float_at(await self._read(self.unit, (address, 2)), 0)

    async def async_read_back(self, command: Command) -> float | str:
        """Read the setting a command changes, as the socket applies it."""
        if command.kind not in self.commands:
            raise CommandRejectedError(
                f"this device does not take {command.kind} commands"
            )
        settings = settings_of(await self._read(self.unit, STATUS_BLOCK))
        if command.kind is CommandKind.CHARGER_ENABLED:
            return settings.get(command.kind, "off")
        return settings.get(command.kind, math.nan)

    def diagnostics(self) -> Mapping[str, object]:
        """Return the read plan, and the station's fallback settings."""
        return {
            **super().diagnostics(),
            "safe_current_a": self.safe_current_a,
            "setpoint_watchdog_s": self.setpoint_watchdog_s,
            "resume_current_a": self.resume_current_a,
        }
