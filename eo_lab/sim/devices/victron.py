"""A Victron GX device's Modbus-TCP server, answering as dbus_modbustcp does.

The GX publishes dbus values (by service and path) through Victron's
register table. This emulator keeps such values per unit id and answers
every request the way dbus_modbustcp's ``Mappings`` does:

- the first register not in the table: "illegal data address";
- the first register's service not at that unit id: "gateway path
  unavailable" (its ServiceError);
- a later register missing, or of a service the unit lacks: "illegal data
  address"; a write to a read-only register: "illegal data address";
- a value the service does not have: 0; a reserved register: 0xFFFF;
- numbers as round(value x scale), strings two Latin-1 bytes a register.

``VictronGXEmulator.sim_devices()`` returns the pymodbus devices for
``serve_devices``, including a catch-all for unit ids nobody has.
``site_gx_emulator(site)`` builds one that follows a simulated site.

The VE.Bus external-control setpoints (/Hub4/L*/AcPowerSetpoint) fall back
to 0 when not rewritten within ``watchdog_s``, as the real inverter drops to
passthru; the emulator's clock is passed in so tests move it by hand. A
write outside what the setting takes (an ESS mode other than 1-3, a limit
below -1) is refused with "illegal data value", and nothing changes.

``site_gx_emulator`` obeys its ESS settings on the site's battery inverter
(``obey_ess``): in ESS modes 1 and 2 the inverter aims the grid at the
setpoint (2700), within the maximum discharge power (2704, W) and the DVCC
maximum charge current (2705, A at the battery's voltage); in mode 3 it
holds the grid at the sum of the phase setpoints while they are rewritten,
and goes to passthru (the battery idle) when they are not.
"""

from collections.abc import Callable, Iterable, Mapping
import csv
import functools
import io
import math
import time

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from custom_components.energy_orchestrator.lib.drivers.victron.table import (
    VictronRegister,
    VictronTable,
    encode_string,
    gx_table,
)
from eo_lab.sim.site import Site

type DbusValue = float | int | str | None
type ServiceValues = dict[str, DbusValue]
# unit id -> dbus service ("battery") -> path -> value
type GXValues = dict[int, dict[str, ServiceValues]]

_BIT_FUNCTIONS = frozenset({1, 2, 5, 15})
_WRITE_FUNCTIONS = frozenset({6, 16})
_INTEGER_DBUS_TYPES = frozenset("ybnqiuxt")
_EXTERNAL_SETPOINTS = (
    "/Hub4/L1/AcPowerSetpoint",
    "/Hub4/L2/AcPowerSetpoint",
    "/Hub4/L3/AcPowerSetpoint",
)
_HUB4_MODE = "/Settings/CGwacs/Hub4Mode"
_GRID_SETPOINT = "/Settings/CGwacs/AcPowerSetPoint"
_MAX_DISCHARGE_POWER = "/Settings/CGwacs/MaxDischargePower"
_MAX_CHARGE_CURRENT = "/Settings/SystemSetup/MaxChargeCurrent"
# What localsettings takes for the settings a controller writes; -1 is
# Victron's "no limit".
_SETTING_RANGES: Mapping[str, tuple[float, float]] = {
    _HUB4_MODE: (1, 3),
    _MAX_DISCHARGE_POWER: (-1, math.inf),
    _MAX_CHARGE_CURRENT: (-1, math.inf),
}
ESS_EXTERNAL_CONTROL = 3

DEFAULT_GX_SERIAL = "c0619ab2e5f1"
# Venus v3.14, as /FirmwareVersion holds it: major, minor, beta (0 = release).
DEFAULT_GX_FIRMWARE = 0x031400
VE_BUS_WATCHDOG_S = 60.0

_TYPE_RANGES: Mapping[str, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}


def parse_dbus_dump(text: str) -> tuple[str, ServiceValues]:
    """Parse a dbus_modbustcp test dump (test/sim/*.csv) into service and values.

    The first line names the service (``com.victronenergy.vebus.ttyO1``);
    every further line is ``path,dbus type,value``; an empty value is an
    invalid item.
    """
    rows = list(csv.reader(io.StringIO(text)))
    service = rows[0][0].removeprefix("com.victronenergy.").split(".")[0]
    values: ServiceValues = {}
    for row in rows[1:]:
        if len(row) < 3:
            continue
        path, dbus_type, raw = row[0], row[1], row[2].strip()
        if not raw:
            values[path] = None
        elif dbus_type == "s":
            values[path] = raw
        elif dbus_type in _INTEGER_DBUS_TYPES:
            values[path] = int(raw)
        else:
            values[path] = float(raw)
    return service, values


def register_words(register: VictronRegister, value: DbusValue) -> list[int]:
    """Return the registers dbus_modbustcp sends for a value."""
    if register.kind == "reserved":
        return [0xFFFF] * register.count
    if value is None:
        return [0] * register.count
    if register.kind == "string":
        return encode_string(str(value), register.count)
    if isinstance(value, str):
        return [0] * register.count
    raw = round(value * register.scale)
    low, high = _TYPE_RANGES[register.kind]
    # dbus_modbustcp clamps integers to the type's range.
    raw = max(low, min(high, raw)) % (1 << (16 * register.count))
    return [
        (raw >> (16 * (register.count - 1 - index))) & 0xFFFF
        for index in range(register.count)
    ]


def written_value(register: VictronRegister, words: list[int]) -> float:
    """Return the dbus value written as ``words`` to a numeric register."""
    raw = 0
    for word in words:
        raw = (raw << 16) | word
    bits = 16 * register.count
    if register.kind.startswith("int") and raw >= 1 << (bits - 1):
        raw -= 1 << bits
    value = raw / register.scale
    return float(round(value)) if register.dbus_type in _INTEGER_DBUS_TYPES else value


class VictronGXEmulator:
    """A GX device: dbus values by unit id and service, served over Modbus.

    ``values`` is the dbus: ``{unit: {service: {path: value}}}``. Unit 100
    holds ``system``, ``settings`` and ``hub4``, as on a real GX. ``refresh``
    is called before each request (to follow a simulated site); writes go
    into ``values`` and stay.
    """

    def __init__(
        self,
        values: GXValues,
        *,
        refresh: Callable[[VictronGXEmulator], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        watchdog_s: float = VE_BUS_WATCHDOG_S,
        table: VictronTable | None = None,
        after_write: Callable[[VictronGXEmulator], None] | None = None,
    ) -> None:
        """Describe the GX; ``sim_devices`` builds its Modbus devices.

        ``after_write`` runs after every write taken (to act on it).
        """
        self.values = values
        self.refresh = refresh
        self.after_write = after_write
        self.clock = clock
        self.watchdog_s = watchdog_s
        self.table = table if table is not None else gx_table()
        self.requests = 0
        self.writes: list[tuple[int, str, str, float]] = []
        self._setpoint_written: dict[int, float] = {}
        self._span = max(register.end for register in self.table)
        self._covering: dict[int, VictronRegister] = {}
        for register in self.table:
            for address in range(register.address, register.end):
                self._covering[address] = register

    def sim_devices(self) -> dict[int, SimDevice]:
        """Return a pymodbus device per unit id, and one for every other id.

        Serve them with ``serve_devices(..., silent_unknown_units=False)``
        or as they are: unit 0 stands for "any unit id not listed" in
        pymodbus, and answers "gateway path unavailable" like a GX.
        """
        devices = {unit: self._device(unit) for unit in self.values}
        devices[0] = self._device(None)
        return devices

    def _device(self, unit: int | None) -> SimDevice:
        """Return the pymodbus device answering for a unit id (None: nobody)."""
        return SimDevice(
            id=unit or 0,
            # Registers past the table are illegal on a GX too, and pymodbus
            # answers them so before calling the action.
            simdata=[SimData(0, count=self._span, datatype=DataType.UINT16)],
            action=functools.partial(self._action, unit),
        )

    def service_values(self, unit: int, service: str) -> ServiceValues:
        """Return the dbus values of a service at a unit (created if missing)."""
        return self.values.setdefault(unit, {}).setdefault(service, {})

    async def _action(  # noqa: PLR0917 - pymodbus' SimAction signature, plus the unit
        self,
        unit: int | None,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Answer one request as dbus_modbustcp would."""
        self.requests += 1
        if function_code in _BIT_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        if self.refresh is not None:
            self.refresh(self)
        self._expire_setpoints()
        services = self.values.get(unit, {}) if unit is not None else {}
        walked = self._walk(services, address, count)
        if isinstance(walked, ExcCodes):
            return walked
        if function_code in _WRITE_FUNCTIONS:
            words = [int(v) for v in set_values or []]
            refused = self._write(unit, services, walked, address, words)
            if refused is None and self.after_write is not None:
                self.after_write(self)
            return refused
        for register in walked:
            words = register_words(register, self._dbus_value(services, register))
            for index, word in enumerate(words):
                at = register.address + index
                if address <= at < address + count:
                    registers[at - start_address] = word
        return None

    def _walk(
        self,
        services: Mapping[str, ServiceValues],
        address: int,
        count: int,
    ) -> list[VictronRegister] | ExcCodes:
        """Return the registers a request spans, or the GX's exception."""
        first = self._covering.get(address)
        if first is None:
            return ExcCodes.ILLEGAL_ADDRESS
        if first.service not in services:
            return ExcCodes.GATEWAY_PATH_UNAVIABLE
        walked = [first]
        while walked[-1].end < address + count:
            following = self._covering.get(walked[-1].end)
            if (
                following is None
                or following.address != walked[-1].end
                or following.service not in services
            ):
                return ExcCodes.ILLEGAL_ADDRESS
            walked.append(following)
        return walked

    def _dbus_value(
        self, services: Mapping[str, ServiceValues], register: VictronRegister
    ) -> DbusValue:
        """Return the dbus value a register shows, computed ones included."""
        values = services.get(register.service, {})
        if register.service == "solarcharger" and register.address == 777:
            # dbus_modbustcp divides /Yield/Power by /Pv/V for /Pv/I.
            power, volts = values.get("/Yield/Power"), values.get("/Pv/V")
            if not isinstance(power, float | int) or not isinstance(volts, float | int):
                return None
            return power / volts if volts else None
        if register.service == "system" and register.address == 834:
            version = values.get("/FirmwareVersion")
            if not isinstance(version, int):
                return None
            return ((version << 8) & 0xFFFF0000) + (version & 0xFF)
        if register.service == "system" and register.address == 830:
            return int(time.time())
        return values.get(register.path)

    def _write(
        self,
        unit: int | None,
        services: Mapping[str, ServiceValues],
        walked: list[VictronRegister],
        address: int,
        words: list[int],
    ) -> ExcCodes | None:
        """Store written registers as dbus values; whole registers only."""
        if unit is None:
            return ExcCodes.GATEWAY_PATH_UNAVIABLE
        if walked[0].address != address or sum(r.count for r in walked) != len(words):
            return ExcCodes.ILLEGAL_VALUE
        if any(not r.writable for r in walked if r.kind != "reserved"):
            return ExcCodes.ILLEGAL_ADDRESS
        offset = 0
        taken: list[tuple[VictronRegister, float]] = []
        for register in walked:
            chunk = words[offset : offset + register.count]
            offset += register.count
            if register.kind in {"reserved", "string"}:
                continue
            value = written_value(register, chunk)
            low, high = _SETTING_RANGES.get(register.path, (-math.inf, math.inf))
            if not low <= value <= high:
                return ExcCodes.ILLEGAL_VALUE
            taken.append((register, value))
        for register, value in taken:
            services[register.service][register.path] = value
            self.writes.append((unit, register.service, register.path, value))
            if register.path in _EXTERNAL_SETPOINTS:
                self._setpoint_written[unit] = self.clock()
        return None

    def setpoints_held(self, unit: int) -> bool:
        """Return whether a unit's external-control setpoints are fresh."""
        self._expire_setpoints()
        return unit in self._setpoint_written

    def _expire_setpoints(self) -> None:
        """Drop external-control setpoints not refreshed within the watchdog."""
        now = self.clock()
        for unit, written in list(self._setpoint_written.items()):
            if now - written > self.watchdog_s:
                vebus = self.values.get(unit, {}).get("vebus", {})
                for path in _EXTERNAL_SETPOINTS:
                    if path in vebus:
                        vebus[path] = 0.0
                del self._setpoint_written[unit]


def gx_values_from_dumps(
    dumps: Iterable[str], units: Mapping[str, int], *, system_unit: int = 100
) -> GXValues:
    """Return GX values from dbus dumps, each service placed at a unit id.

    ``units`` maps a service to its unit id; ``system``, ``settings`` and
    ``hub4`` go to the system unit unless mapped.
    """
    values: GXValues = {}
    for text in dumps:
        service, service_values = parse_dbus_dump(text)
        unit = units.get(service, system_unit)
        values.setdefault(unit, {})[service] = service_values
    values.setdefault(system_unit, {}).setdefault("hub4", {})
    values[system_unit].setdefault("settings", {})
    return values


# Where site_gx_emulator puts the devices (a Cerbo GX's defaults).
SITE_UNITS: Mapping[str, int] = {
    "battery": 225,
    "vebus": 227,
    "grid": 30,
    "solarcharger": 226,
}


def site_gx_emulator(
    site: Site,
    *,
    serial: str = DEFAULT_GX_SERIAL,
    clock: Callable[[], float] | None = None,
    sync: Callable[[], None] | None = None,
    ess_mode: int = 1,
) -> VictronGXEmulator:
    """Return a GX whose system, battery, inverter, grid meter and MPPT follow a site.

    ``sync`` brings the site up to date before each request (a running
    ``SimulatedSite``'s ``sync``). The ESS settings start as a fresh ESS
    install leaves them, in ``ess_mode``; the site's battery inverter obeys
    them (``obey_ess``). The GX runs on the site's clock unless given one.
    """
    values: GXValues = {
        100: {
            "system": {"/Serial": serial, "/FirmwareVersion": DEFAULT_GX_FIRMWARE},
            "settings": {
                "/Settings/CGwacs/Hub4Mode": ess_mode,
                "/Settings/CGwacs/AcPowerSetPoint": 0.0,
                "/Settings/CGwacs/MaxDischargePower": -1.0,
                "/Settings/SystemSetup/MaxChargeCurrent": -1.0,
                "/Settings/CGwacs/BatteryLife/State": 10,
            },
            "hub4": {},
        },
        SITE_UNITS["battery"]: {"battery": {}},
        SITE_UNITS["vebus"]: {"vebus": {"/Ac/NumberOfPhases": 3, "/Mode": 3}},
        SITE_UNITS["grid"]: {"grid": {"/Serial": "GRID0001"}},
        SITE_UNITS["solarcharger"]: {"solarcharger": {}},
    }

    def refresh(gx: VictronGXEmulator) -> None:
        if sync is not None:
            sync()
        obey_ess(gx, site)
        _update_from_site(gx, site)

    gx = VictronGXEmulator(
        values,
        refresh=refresh,
        clock=clock if clock is not None else (lambda: site.time),
        after_write=lambda written: obey_ess(written, site),
    )
    obey_ess(gx, site)
    return gx


def _number(values: ServiceValues, path: str, default: float) -> float:
    """Return a dbus value as a number, ``default`` when it is not one."""
    value = values.get(path)
    return float(value) if isinstance(value, int | float) else default


def obey_ess(gx: VictronGXEmulator, site: Site) -> None:
    """Set the site's battery inverter as the GX's ESS settings say.

    Modes 1 and 2 aim the grid at the setpoint within the limits; mode 3
    holds the grid at the phase setpoints while they are fresh, and idles
    the battery (passthru) when they are not.
    """
    settings = gx.service_values(100, "settings")
    commands = site.commands("victron_gx")
    vebus_unit = SITE_UNITS["vebus"]
    if _number(settings, _HUB4_MODE, 1) == ESS_EXTERNAL_CONTROL:
        vebus = gx.service_values(vebus_unit, "vebus")
        if gx.setpoints_held(vebus_unit):
            commands.grid_setpoint_w = sum(
                _number(vebus, path, 0.0) for path in _EXTERNAL_SETPOINTS
            )
            commands.battery_power_w = None
        else:
            commands.grid_setpoint_w = 0.0
            commands.battery_power_w = 0.0
    else:
        commands.grid_setpoint_w = _number(settings, _GRID_SETPOINT, 0.0)
        commands.battery_power_w = None
    discharge = _number(settings, _MAX_DISCHARGE_POWER, -1.0)
    commands.max_discharge_w = discharge if discharge >= 0 else None
    charge_a = _number(settings, _MAX_CHARGE_CURRENT, -1.0)
    commands.max_charge_w = (
        charge_a * site.battery.terminal_voltage if charge_a >= 0 else None
    )


def _update_from_site(gx: VictronGXEmulator, site: Site) -> None:
    """Write the site's state into the GX's dbus values."""
    battery = site.battery
    volts = battery.terminal_voltage
    system = gx.service_values(100, "system")
    load_split = site.phase_load_split
    for phase in range(3):
        name = f"L{phase + 1}"
        system[f"/Ac/Grid/{name}/Power"] = site.grid_power_phases[phase]
        # The inverter's AC-out loads and, on its input side, the car.
        system[f"/Ac/Consumption/{name}/Power"] = (
            site.load_w * load_split[phase] + site.consumer_power_phases[phase]
        )
        system[f"/Ac/PvOnGrid/{name}/Power"] = 0.0
        system[f"/Ac/PvOnOutput/{name}/Power"] = 0.0
        system[f"/Ac/PvOnGenset/{name}/Power"] = 0.0
    system["/Dc/Pv/Power"] = site.pv_w
    system["/Dc/Battery/Voltage"] = volts
    system["/Dc/Battery/Current"] = battery.current
    system["/Dc/Battery/Power"] = site.battery_power_w
    system["/Dc/Battery/Soc"] = battery.soc * 100

    pack = gx.service_values(SITE_UNITS["battery"], "battery")
    pack.update(
        {
            "/Dc/0/Voltage": volts,
            "/Dc/0/Current": battery.current,
            "/Dc/0/Power": site.battery_power_w,
            "/Dc/0/Temperature": 25.0,
            "/Soc": battery.soc * 100,
            "/Soh": 100.0,
            "/Capacity": battery.capacity_ah,
            "/Info/MaxChargeVoltage": 3.55 * battery.cells_in_series,
            "/Info/BatteryLowVoltage": 2.9 * battery.cells_in_series,
            "/Info/MaxChargeCurrent": 100.0,
            "/Info/MaxDischargeCurrent": 150.0,
            "/System/MinCellVoltage": battery.cell_ocv - 0.005,
            "/System/MaxCellVoltage": battery.cell_ocv + 0.005,
            "/History/ChargedEnergy": site.battery_charge_energy_wh / 1000,
            "/History/DischargedEnergy": site.battery_discharge_energy_wh / 1000,
        }
    )

    vebus = gx.service_values(SITE_UNITS["vebus"], "vebus")
    voltages = site.phase_voltages()
    frequency = site.frequency()
    for phase in range(3):
        name = f"L{phase + 1}"
        out_power = site.load_w * load_split[phase]
        vebus[f"/Ac/Out/{name}/V"] = voltages[phase]
        vebus[f"/Ac/Out/{name}/P"] = out_power
        vebus[f"/Ac/Out/{name}/I"] = out_power / voltages[phase]
        vebus[f"/Ac/ActiveIn/{name}/V"] = voltages[phase]
    vebus["/Ac/Out/L1/F"] = frequency
    vebus["/Ac/ActiveIn/L1/F"] = frequency
    vebus["/Dc/0/Voltage"] = volts
    vebus["/Dc/0/Current"] = battery.current
    vebus["/State"] = (
        9 if site.battery_power_w < 0 else 3 if site.battery_power_w > 0 else 8
    )

    meter = site.grid_meter_values()
    grid = gx.service_values(SITE_UNITS["grid"], "grid")
    for phase in range(3):
        name = f"L{phase + 1}"
        lower = f"l{phase + 1}"
        grid[f"/Ac/{name}/Power"] = meter[f"grid_power_{lower}"]
        grid[f"/Ac/{name}/Voltage"] = meter[f"ac_voltage_{lower}"]
        grid[f"/Ac/{name}/Current"] = math.copysign(
            meter[f"ac_current_{lower}"], meter[f"grid_power_{lower}"]
        )
        grid[f"/Ac/{name}/PowerFactor"] = meter[f"ac_power_factor_{lower}"]
        grid[f"/Ac/{name}/Energy/Forward"] = meter[f"grid_import_energy_{lower}"] / 1000
        grid[f"/Ac/{name}/Energy/Reverse"] = meter[f"grid_export_energy_{lower}"] / 1000
    grid["/Ac/Frequency"] = meter["frequency"]
    grid["/Ac/PowerFactor"] = meter["grid_power_factor"]
    grid["/Ac/Energy/Forward"] = meter["grid_import_energy"] / 1000
    grid["/Ac/Energy/Reverse"] = meter["grid_export_energy"] / 1000

    mppt = gx.service_values(SITE_UNITS["solarcharger"], "solarcharger")
    pv_volts = 90.0 if site.pv_w > 0 else 0.0
    mppt.update(
        {
            "/Pv/V": pv_volts,
            "/Yield/Power": site.pv_w,
            "/Yield/User": site.pv_energy_wh / 1000,
            "/Dc/0/Voltage": volts,
            "/Dc/0/Current": site.pv_w / volts if volts else 0.0,
        }
    )
