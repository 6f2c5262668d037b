"""Victron GX device (Cerbo GX, Venus GX, CCGX, Ekrano) over Modbus TCP.

The GX serves its whole system through one Modbus-TCP server: the system
overview and the ESS settings at unit 100, and every device behind it at a
unit id of its own (Victron's table "Unit ID mapping"): the battery (225 for
a CAN-bus BMS), the VE.Bus inverter/charger (227 on a Cerbo), grid meters
(30, 31), solar chargers on the VE.Direct ports (224, 226 ...). Which of
them a system has is found by asking: a unit id with no such device answers
"gateway path unavailable" (dbus_modbustcp's ServiceError) or "illegal data
address", and is left out. Each device found is a sub-device, polled on its
own, so a silent solar charger does not blank the battery.

ESS control, and the GX's safety net:

- ESS modes 1 and 2 (optimised / keep charged, ``/Settings/CGwacs/Hub4Mode``
  1 or 2): the GX runs the control loop itself and holds the grid meter at
  the grid setpoint (register 2700, W, > 0 import: the value model's sign).
  The maximum discharge power (2704) and the DVCC maximum charge current
  (2705) bound it. These are settings: the GX keeps them until rewritten,
  across reboots, with no watchdog. A controller that stops must write its
  safe values back (the guard's safe state: setpoint 0 W, limits as the
  installer left them).
- ESS mode 3 (external control): the GX runs no loop; the setpoint goes to
  the inverter/charger's AC input per phase (vebus ``/Hub4/L1/AcPowerSetpoint``
  and L2/L3, registers 37, 40, 41). The VE.Bus system drops these setpoints
  and goes back to passthru (no battery charge or discharge) when they are
  not refreshed for about 60 s. That figure is recalled from Victron's
  "ESS mode 2 and 3" page, not found in the register data here nor measured:
  confirm it on hardware before relying on the exact time. It is a
  device-side revert timer: the driver states it in ``setpoint_watchdog_s``,
  so the guard refreshes the setpoint well within it while it trusts its own
  control, and simply stops writing to let the inverter fall back to a safe
  state when it does not.
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
import time
from typing import ClassVar

from ..base import MAIN, Driver, ModbusDriver, Poll, SubDevice, SubDeviceKind
from ..cadence import Cadence
from ..commands import Command, CommandKind, CommandRejectedError, CommandSpec
from ..errors import (
    DeviceError,
    DeviceRejectedError,
    DeviceSilentError,
    LinkError,
    WrongDeviceError,
)
from ..registers import Point, ReadPlanner
from ..transport.modbus import ModbusLink
from ..values import Identity, sub_device_key
from .readings import (
    BATTERY_READINGS,
    GRID_READINGS,
    SOLAR_CHARGER_READINGS,
    SYSTEM_READINGS,
    Derived,
    vebus_readings,
)
from .table import (
    GX_TABLE,
    VictronRegister,
    VictronTable,
    decode_firmware,
    decode_string,
    gx_table,
)

SYSTEM_UNIT = 100
# ESS modes (/Settings/CGwacs/Hub4Mode).
ESS_MODES_WITH_GX_LOOP = frozenset({1, 2})
ESS_EXTERNAL_CONTROL = 3
# VE.Bus drops an external-control setpoint not refreshed within this time.
EXTERNAL_CONTROL_WATCHDOG_S = 60.0

_VE_BUS_PORTS = (227, 228, 242, 246)  # Cerbo, MultiPlus-II GX, Venus GX, CCGX
# VE.Direct ports of a Cerbo, MultiPlus-II GX, Venus GX and CCGX, then the
# first USB VE.Direct cables (ttyUSB0-3).
_VE_DIRECT_PORTS = (223, 224, 226, 229, 230, 243, 245, 247, 239, 238, 237, 236)
_CAN_BMS = 225


@dataclass(frozen=True, slots=True)
class ServiceKind:
    """A kind of device behind the GX, and where to look for it.

    ``probe`` is a register every such device serves; ``units`` the unit
    ids it is looked for at, in order (the unit-id map's defaults).
    ``model`` is the kind of product, as the Modbus table names no product.
    """

    service: str
    sub_key: str
    name: str
    probe: str | int
    units: tuple[int, ...]
    model: str
    sub_device_kind: SubDeviceKind
    # Sub-device keys are numbered from 1 (mppt1) rather than from the
    # second one (battery, battery2).
    numbered: bool = False


SERVICE_KINDS: tuple[ServiceKind, ...] = (
    ServiceKind(
        "vebus",
        "vebus",
        "VE.Bus inverter/charger",
        "/Ac/Out/L1/V",
        _VE_BUS_PORTS,
        "VE.Bus inverter/charger",
        SubDeviceKind.OTHER,
    ),
    # 2600 is /Ac/L1/Power, served by every GX since grid meters were added.
    ServiceKind(
        "grid",
        "grid_meter",
        "Grid meter",
        2600,
        (30, 31),
        "Energy meter",
        SubDeviceKind.METER,
    ),
    # A BMS on the CAN bus and a shunt (BMV, SmartShunt) are both a battery
    # monitor to the GX.
    ServiceKind(
        "battery",
        "battery",
        "Battery monitor",
        "/Soc",
        (_CAN_BMS, *_VE_DIRECT_PORTS),
        "Battery monitor",
        SubDeviceKind.BATTERY,
    ),
    ServiceKind(
        "solarcharger",
        "mppt",
        "Solar charger",
        "/Pv/V",
        _VE_DIRECT_PORTS,
        "MPPT solar charger",
        SubDeviceKind.PV,
        numbered=True,
    ),
)


class ServiceReader(ModbusDriver):
    """One part of the GX (a service at a unit id) read as a unit of its own.

    It is not a driver users pick: ``VictronGX`` identifies the GX and owns
    the parts; this reuses the read planning (merged requests, holes and
    breaks learned from "illegal data address") for each of them.
    """

    points: ClassVar[tuple[Point, ...]] = ()
    keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        link: ModbusLink,
        unit: int,
        points: Sequence[Point],
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Plan the reads of the part's points."""
        super().__init__(link, unit, wall_clock=wall_clock)
        self.planner = ReadPlanner(points, max_registers=self.max_registers)

    async def async_identify(self) -> Identity:
        """Refuse: a part's identity is the GX's (``VictronGX.async_identify``)."""
        raise NotImplementedError("a GX part is identified by its VictronGX")


@dataclass(slots=True)
class GXPart:
    """A service at a unit id, the keys it yields, and its reader."""

    key: str  # MAIN or the sub-device key
    service: str
    unit: int
    readings: tuple[Derived, ...]
    reader: ServiceReader

    def full_key(self, key: str) -> str:
        """Return a reading's key with the part's sub-device prefix."""
        return key if self.key == MAIN else sub_device_key(self.key, key)

    def keys_due(self, due: Collection[Cadence]) -> set[str]:
        """Return the keys a poll of the due cadences asks this part for."""
        return {self.full_key(d.key) for d in self.readings if d.cadence in due}


def build_part(
    table: VictronTable,
    link: ModbusLink,
    *,
    key: str,
    service: str,
    unit: int,
    readings: tuple[Derived, ...],
    wall_clock: Callable[[], float],
) -> GXPart:
    """Return a part whose points are the table's registers its readings use.

    A register shared by several readings is one point, read at the faster
    of their cadences, and read as absent at 0 only if all of them say so.
    """
    registers: dict[str | int, VictronRegister] = {}
    cadences: dict[str | int, Cadence] = {}
    zero_absent: dict[str | int, bool] = {}
    for derived in readings:
        for ref in derived.refs:
            registers[ref] = table.ref(service, ref)
            cadences[ref] = min(cadences.get(ref, derived.cadence), derived.cadence)
            zero_absent[ref] = zero_absent.get(ref, True) and derived.zero_is_absent
    points = [
        register.point(cadences[ref], key=str(ref), zero_is_absent=zero_absent[ref])
        for ref, register in registers.items()
    ]
    reader = ServiceReader(link, unit, points, wall_clock=wall_clock)
    return GXPart(key, service, unit, readings, reader)


class VictronGX(Driver):
    """A Victron GX device and the devices behind it.

    ``units`` overrides where each kind of device is looked for (by dbus
    service: ``{"battery": (225,), "solarcharger": (224, 226)}``).
    """

    family: ClassVar[str] = "victron_gx"
    manufacturer: ClassVar[str] = "Victron Energy"
    model: ClassVar[str] = "GX device"
    keys: ClassVar[tuple[str, ...]] = tuple(d.key for d in SYSTEM_READINGS)
    link: ModbusLink

    def __init__(
        self,
        link: ModbusLink,
        unit: int = SYSTEM_UNIT,
        *,
        units: Mapping[str, Sequence[int]] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Bind the driver to the GX's system unit on a link."""
        super().__init__(wall_clock=wall_clock)
        self.link = link
        self.unit = unit
        self.table = gx_table()
        self.candidate_units: dict[str, tuple[int, ...]] = {
            kind.service: tuple(kind.units) for kind in SERVICE_KINDS
        }
        if units is not None:
            self.candidate_units.update({k: tuple(v) for k, v in units.items()})
        self.ess_mode: int | None = None
        self.vebus_phases = 1
        self.vebus_nominal_power_w: float | None = None
        # Seconds within which a setpoint must be rewritten before the
        # device reverts on its own; None when the setpoint never expires.
        self.setpoint_watchdog_s: float | None = None
        self.parts: list[GXPart] = [self._main_part()]

    def _main_part(self) -> GXPart:
        """Return the system overview at the GX's own unit."""
        return build_part(
            self.table,
            self.link,
            key=MAIN,
            service="system",
            unit=self.unit,
            readings=SYSTEM_READINGS,
            wall_clock=self._wall_clock,
        )

    def _register(self, service: str, ref: str | int) -> VictronRegister:
        """Return a register of the table."""
        return self.table.ref(service, ref)

    async def _read(self, unit: int, register: VictronRegister) -> list[int]:
        """Read one register of the table at a unit."""
        return await self.link.read_registers(
            unit, GX_TABLE, register.address, register.count
        )

    async def _read_value(self, unit: int, service: str, ref: str | int) -> float:
        """Read and decode one numeric register; raise if it is absent."""
        register = self._register(service, ref)
        value = register.point().decode(await self._read(unit, register))
        if value is None:
            raise DeviceRejectedError(0, f"{service}{register.path} is not a number")
        return value

    async def async_identify(self) -> Identity:
        """Read the GX's serial and firmware, then find the devices behind it.

        Something other than a GX at the unit answers the serial registers
        with an exception or with no printable serial; either way it is not
        a GX, and saying so beats guessing.
        """
        serial_register = self._register("system", "/Serial")
        firmware_register = self._register("system", "/FirmwareVersion")
        try:
            serial = decode_string(await self._read(self.unit, serial_register))
            firmware_words = await self._read(self.unit, firmware_register)
        except DeviceRejectedError as err:
            raise WrongDeviceError(
                f"unit {self.unit} does not serve a GX's system registers ({err})"
            ) from err
        serial = serial.strip()
        if not serial or not serial.isalnum() or not serial.isascii():
            raise WrongDeviceError(
                f"unit {self.unit} answers, but with no GX serial number ({serial!r})"
            )
        firmware = decode_firmware(firmware_words[0], firmware_words[1])
        self.ess_mode = await self._read_ess_mode()
        await self._find_parts()
        self.commands = self._declare_commands()
        return Identity(
            manufacturer=self.manufacturer,
            model=self.model,
            serial_number=serial,
            firmware=firmware,
        )

    async def _read_ess_mode(self) -> int | None:
        """Return the ESS mode (1-3), or None for a system without ESS."""
        try:
            mode = await self._read_value(
                self.unit, "settings", "/Settings/CGwacs/Hub4Mode"
            )
        except DeviceRejectedError, DeviceSilentError:
            return None
        return round(mode)

    async def _answers(self, unit: int, service: str, ref: str | int) -> bool:
        """Return whether a unit id serves a kind of device.

        The GX answers a unit id without that device with "gateway path
        unavailable" (read as silent) or "illegal data address".
        """
        try:
            await self._read(unit, self._register(service, ref))
        except DeviceRejectedError, DeviceSilentError:
            return False
        return True

    async def _find_parts(self) -> None:
        """Probe the candidate unit ids and build a part for each device found."""
        self.parts = [self._main_part()]
        self.sub_devices = []
        claimed: set[int] = {self.unit}
        for kind in SERVICE_KINDS:
            found = 0
            for unit in self.candidate_units.get(kind.service, ()):
                if unit in claimed or not await self._answers(
                    unit, kind.service, kind.probe
                ):
                    continue
                claimed.add(unit)
                found += 1
                await self._add_part(kind, unit, found)

    async def _add_part(self, kind: ServiceKind, unit: int, number: int) -> None:
        """Add the part for a device found at a unit id."""
        key = kind.sub_key
        if kind.numbered or number > 1:
            key = f"{kind.sub_key}{number}"
        serial: str | None = None
        if kind.service == "vebus":
            readings = await self._vebus_readings(unit)
        elif kind.service == "grid":
            readings = GRID_READINGS
            serial = await self._read_text(unit, "grid", "/Serial")
        elif kind.service == "battery":
            readings = BATTERY_READINGS
        else:
            readings = SOLAR_CHARGER_READINGS
        self.parts.append(
            build_part(
                self.table,
                self.link,
                key=key,
                service=kind.service,
                unit=unit,
                readings=readings,
                wall_clock=self._wall_clock,
            )
        )
        name = (
            kind.name if number == 1 and not kind.numbered else f"{kind.name} {number}"
        )
        self.sub_devices.append(
            SubDevice(
                key=key,
                name=name,
                manufacturer=self.manufacturer,
                model=kind.model,
                serial_number=serial,
                kind=kind.sub_device_kind,
            )
        )

    async def _vebus_readings(self, unit: int) -> tuple[Derived, ...]:
        """Learn the inverter's phases and rating; return what to read from it."""
        try:
            phases = await self._read_value(unit, "vebus", "/Ac/NumberOfPhases")
            self.vebus_phases = max(1, min(3, round(phases)))
        except DeviceRejectedError, DeviceSilentError:
            self.vebus_phases = 1
        try:
            self.vebus_nominal_power_w = await self._read_value(
                unit, "vebus", "/Ac/Out/NominalInverterPower"
            )
        except DeviceRejectedError, DeviceSilentError:
            self.vebus_nominal_power_w = None
        return vebus_readings(self.vebus_phases)

    async def _read_text(self, unit: int, service: str, path: str) -> str | None:
        """Read a string register, or None when it is not there."""
        try:
            text = decode_string(await self._read(unit, self._register(service, path)))
        except DeviceRejectedError, DeviceSilentError:
            return None
        return text.strip() or None

    def _vebus_part(self) -> GXPart | None:
        """Return the VE.Bus inverter/charger's part, if there is one."""
        return next((p for p in self.parts if p.service == "vebus"), None)

    def _declare_commands(self) -> dict[CommandKind, CommandSpec]:
        """Return the ESS commands this system takes, with their limits."""
        commands: dict[CommandKind, CommandSpec] = {}
        self.setpoint_watchdog_s = None
        vebus = self._vebus_part()
        if self.ess_mode in ESS_MODES_WITH_GX_LOOP:
            commands[CommandKind.GRID_SETPOINT] = CommandSpec(
                CommandKind.GRID_SETPOINT, "W", -32768, 32767, 1, tolerance=1
            )
            nominal = self.vebus_nominal_power_w if vebus is not None else None
            commands[CommandKind.BATTERY_DISCHARGE_POWER] = CommandSpec(
                CommandKind.BATTERY_DISCHARGE_POWER,
                "W",
                0,
                nominal if nominal else 327670,
                # Register 2704 counts tens of watts.
                tolerance=5,
            )
            commands[CommandKind.BATTERY_CHARGE_CURRENT] = CommandSpec(
                CommandKind.BATTERY_CHARGE_CURRENT, "A", 0, 32767, 1, tolerance=0.5
            )
        elif self.ess_mode == ESS_EXTERNAL_CONTROL and vebus is not None:
            phases = self.vebus_phases
            commands[CommandKind.GRID_SETPOINT] = CommandSpec(
                CommandKind.GRID_SETPOINT,
                "W",
                -32768 * phases,
                32767 * phases,
                1,
                # Split evenly over the phases, each rounded to a watt.
                tolerance=phases,
            )
            self.setpoint_watchdog_s = EXTERNAL_CONTROL_WATCHDOG_S
        return commands

    def _setpoint_registers(self) -> tuple[int, list[VictronRegister]]:
        """Return the unit and registers the grid setpoint is written to."""
        vebus = self._vebus_part()
        if self.ess_mode == ESS_EXTERNAL_CONTROL and vebus is not None:
            # 37, 40, 41: /Hub4/L1..L3/AcPowerSetpoint (96-101 are 32-bit copies).
            addresses = (37, 40, 41)[: self.vebus_phases]
            return vebus.unit, [self._register("vebus", a) for a in addresses]
        return self.unit, [self._register("settings", 2700)]

    def _setting_register(self, kind: CommandKind) -> VictronRegister:
        """Return the settings register behind an ESS limit command."""
        if kind is CommandKind.BATTERY_DISCHARGE_POWER:
            return self._register("settings", 2704)
        if kind is CommandKind.BATTERY_CHARGE_CURRENT:
            return self._register("settings", 2705)
        raise CommandRejectedError(f"this device does not take {kind} commands")

    async def async_apply(self, command: Command) -> None:
        """Write a checked ESS command."""
        if command.kind not in self.commands or isinstance(command.value, str):
            raise CommandRejectedError(
                f"this device does not take {command.kind} commands"
            )
        value = float(command.value)
        if command.kind is CommandKind.GRID_SETPOINT:
            unit, registers = self._setpoint_registers()
            share = value / len(registers)
            for register in registers:
                await self.link.write_registers(
                    unit, register.address, register.point().encode(share)
                )
            return
        register = self._setting_register(command.kind)
        await self.link.write_registers(
            self.unit, register.address, register.point().encode(value)
        )

    async def async_read_back(self, command: Command) -> float:
        """Read the setting a command changes."""
        if command.kind not in self.commands:
            raise CommandRejectedError(
                f"this device does not take {command.kind} commands"
            )
        if command.kind is CommandKind.GRID_SETPOINT:
            unit, registers = self._setpoint_registers()
            total = 0.0
            for register in registers:
                total += await self._read_value(
                    unit, register.service, register.address
                )
            return total
        register = self._setting_register(command.kind)
        return await self._read_value(self.unit, "settings", register.address)

    async def async_poll(self, due: Collection[Cadence]) -> Poll:
        """Read every part; a part that does not answer goes into ``failed``.

        A lost connection is the whole GX gone and raises; so does the GX's
        own unit failing when no part answered either.
        """
        poll = Poll()
        for part in self.parts:
            keys_due = part.keys_due(due)
            if not keys_due:
                continue
            try:
                values, attempted = await part.reader.async_read_due(due)
            except LinkError:
                raise
            except DeviceError as err:
                poll.failed[part.key] = err
                poll.attempted.update(keys_due)
                continue
            for derived in part.readings:
                # A point's key is its register reference, as text.
                if not any(str(ref) in attempted for ref in derived.refs):
                    continue
                key = part.full_key(derived.key)
                poll.attempted.add(key)
                value = derived.combine({r: values.get(str(r)) for r in derived.refs})
                if (reading := self._reading(key, value)) is not None:
                    poll.readings[key] = reading
        if MAIN in poll.failed and not poll.readings:
            raise poll.failed[MAIN]
        return poll

    def available_keys(self) -> set[str]:
        """Return the keys of every part whose registers the GX did not refuse."""
        keys: set[str] = set()
        for part in self.parts:
            holes = part.reader.planner.holes
            for derived in part.readings:
                if not any(str(ref) in holes for ref in derived.refs):
                    keys.add(part.full_key(derived.key))
        return keys

    def diagnostics(self) -> Mapping[str, object]:
        """Return the parts found, their read plans, and the ESS state."""
        return {
            "unit": self.unit,
            "ess_mode": self.ess_mode,
            "setpoint_watchdog_s": self.setpoint_watchdog_s,
            "link": str(self.link.endpoint),
            "link_stats": asdict(self.link.stats),
            "parts": {
                part.key or "system": {
                    "service": part.service,
                    "unit": part.unit,
                    "read_plan": [
                        {"address": block.address, "count": block.count}
                        for block in part.reader.planner.plan()
                    ],
                    "holes": sorted(part.reader.planner.holes),
                    "breaks": sorted(part.reader.planner.breaks),
                }
                for part in self.parts
            },
        }
