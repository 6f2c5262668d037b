"""A simulated Axpert-like inverter speaking Voltronic PI30 on a TCP socket.

pyserial reaches it as ``socket://HOST:PORT``, the way an inverter on
another machine is reached through ser2net. It answers the queries a PI30
client asks (QPI, QID, QVFW, QMN, QPIGS, QPIRI, QMOD, QPIWS, QFLAG,
QMCHGCR, QMUCHGCR) from a ``Site``: the site battery is the inverter's
battery, the site PV its solar charger's, the site load its output. It takes
the setters a battery manager sends (POP, PCP, MNCHGC, MCHGC, MUCHGC, PSDV,
PCVV, PBFT) with ACK and remembers them, and answers NAK to a value outside
what a 48 V Axpert takes and to anything it does not know.

The settings are remembered, read back through QPIRI, and obeyed by the
site's battery inverter (``obey``):

- output source priority: SBU lets the battery cover the load; utility first
  and solar first keep it from discharging (the grid covers what PV does
  not);
- charger source priority: utility first, and solar and utility, charge the
  battery from the grid at the maximum AC charging current (MUCHGC); solar
  first and only solar charge it from PV surplus alone;
- the maximum charging current (MCHGC, MNCHGC) caps the charge power, at the
  battery's voltage.

Tests make it misbehave: ``silent`` stops it answering, ``fault`` raises an
inverter fault, ``refused`` lists commands answered NAK (``{"QPIRI"}``),
``knows_mnchgc`` False makes it an older firmware that only knows MCHGC.

It is a ``SerialPeer`` (``sim.devices.serial_peer``), the TCP server the
BMS emulators share. ``serve_voltronic(host, port, site)`` serves one for as
long as its ``async with`` block runs, at ``.port`` and ``.url``.
"""

from collections import deque
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass
import re

from custom_components.energy_orchestrator.lib.drivers.voltronic.codec import (
    ACK,
    CRC_LENGTH,
    END,
    NAK,
    encode_response,
    frame_end,
    pi_crc,
)
from eo_lab.sim.devices.serial_peer import SerialPeer
from eo_lab.sim.site import Site

# The latest commands the emulator keeps, for tests and troubleshooting.
_KEPT_COMMANDS = 64

RATED_VA = 5000
RATED_W = 5000
BATTERY_RATING_V = 48.0
PV_RATED_W = 6000.0
OUTPUT_VOLTAGE = 230.0
OUTPUT_FREQUENCY = 50.0
# What the inverter's output power factor is taken to be, for VA.
_OUTPUT_POWER_FACTOR = 0.95
CHARGE_CURRENTS: tuple[int, ...] = tuple(range(10, 121, 10))
AC_CHARGE_CURRENTS: tuple[int, ...] = (2, *range(10, 121, 10))
# PSDV, and PCVV/PBFT limits of a 48 V unit, from the protocol documents.
CUTOFF_RANGE = (40.0, 48.0)
CHARGE_VOLTAGE_RANGE = (48.0, 58.4)


@dataclass(slots=True)
class InverterSettings:
    """What the emulated inverter is set to, as QPIRI reports it."""

    output_source_priority: int = 2  # SBU
    charger_source_priority: int = 1  # solar first
    max_charging_current: int = 60
    max_ac_charging_current: int = 30
    battery_type: int = 2  # user
    cutoff_voltage: float = 44.0
    bulk_voltage: float = 56.4
    float_voltage: float = 54.0
    recharge_voltage: float = 48.0
    redischarge_voltage: float = 52.0


_VOLTAGE = r"([0-9][0-9]\.[0-9])"
_SBU = 2
# Charger source priorities that charge from the grid: utility first, and
# solar and utility.
_GRID_CHARGING = frozenset({0, 2})


class VoltronicEmulator(SerialPeer):
    """An Axpert-like PI30 inverter on a TCP socket, driven by a site."""

    def __init__(
        self,
        site: Site,
        *,
        sync: Callable[[], None] | None = None,
        serial_number: str = "92932105105335",
        model_name: str = "EOSIM-5000",
        firmware: str = "00072.70",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Build the inverter; ``start`` (or ``async with``) serves it."""
        super().__init__(frame_end, self.answer, host=host, port=port)
        self.site = site
        self.sync = sync
        self.serial_number = serial_number
        self.model_name = model_name
        self.firmware = firmware
        # The unit a driver is given; a PI30 inverter has no bus address.
        self.address = 1
        self.settings = InverterSettings()
        self.obey()
        self.silent = False
        self.fault = False
        self.knows_mnchgc = True
        self.refused: set[str] = set()
        # The commands asked, CRC taken off.
        self.commands: deque[str] = deque(maxlen=_KEPT_COMMANDS)
        self._setters: tuple[
            tuple[re.Pattern[str], Callable[[re.Match[str]], bool]], ...
        ] = (
            (re.compile(r"POP(0[0-2])"), self._set_output_priority),
            (re.compile(r"PCP(0[0-3])"), self._set_charger_priority),
            (re.compile(r"MNCHGC([0-9])([0-9]{3})"), self._set_charge_current_n),
            (re.compile(r"MCHGC([0-9]{3})"), self._set_charge_current),
            (re.compile(r"MUCHGC([0-9]{3})"), self._set_ac_charge_current),
            (re.compile(f"PSDV{_VOLTAGE}"), self._set_cutoff),
            (re.compile(f"PCVV{_VOLTAGE}"), self._set_bulk),
            (re.compile(f"PBFT{_VOLTAGE}"), self._set_float),
        )

    @property
    def description(self) -> str:
        """Return the inverter as a user would name it."""
        return (
            f"Voltronic PI30 inverter {self.model_name} ({RATED_VA} VA,"
            f" {BATTERY_RATING_V:g} V), serial {self.serial_number}"
        )

    def answer(self, request: bytes) -> bytes:
        """Return the answer to one request line (CR included), or nothing.

        A request's CRC is checked and taken off when it is right; a request
        without one is taken as it is, as Axpert firmware does.
        """
        if self.silent:
            return b""
        line = request.removesuffix(END)
        if len(line) > CRC_LENGTH and pi_crc(line[:-CRC_LENGTH]) == line[-CRC_LENGTH:]:
            line = line[:-CRC_LENGTH]
        try:
            command = line.decode("ascii")
        except UnicodeDecodeError:
            return encode_response(NAK)
        self.commands.append(command)
        if command in self.refused:
            return encode_response(NAK)
        payload = self._query(command)
        if payload is None:
            payload = ACK if self._setter(command) else NAK
        return encode_response(payload)

    def _query(self, command: str) -> str | None:
        """Return the payload answering a query, or None for a non-query."""
        answers: dict[str, Callable[[], str]] = {
            "QPI": lambda: "PI30",
            "QID": lambda: self.serial_number,
            "QVFW": lambda: f"VERFW:{self.firmware}",
            "QMN": lambda: self.model_name,
            "QPIGS": self._general_status,
            "QPIRI": self._ratings,
            "QMOD": self._mode,
            "QPIWS": self._warnings,
            "QFLAG": lambda: "EakxyDbjuvz",
            "QMCHGCR": lambda: " ".join(f"{a:03d}" for a in CHARGE_CURRENTS),
            "QMUCHGCR": lambda: " ".join(f"{a:03d}" for a in AC_CHARGE_CURRENTS),
        }
        answer = answers.get(command)
        return None if answer is None else answer()

    def _warnings(self) -> str:
        """Return the QPIWS payload: 32 warning bits."""
        bits = ["0"] * 32
        if self.fault:
            bits[1] = bits[9] = "1"  # inverter fault, over temperature
        return "".join(bits)

    def _setter(self, command: str) -> bool:
        """Carry out a setter; return whether it was taken."""
        for pattern, apply in self._setters:
            if match := pattern.fullmatch(command):
                self._sync()
                taken = apply(match)
                self.obey()
                return taken
        return False

    def obey(self) -> None:
        """Set the site's battery inverter as the settings say."""
        settings = self.settings
        commands = self.site.commands(f"voltronic {self.serial_number}")
        volts = self.site.battery.terminal_voltage
        commands.max_discharge_w = (
            None if settings.output_source_priority == _SBU else 0.0
        )
        commands.min_charge_w = (
            settings.max_ac_charging_current * volts
            if settings.charger_source_priority in _GRID_CHARGING
            else None
        )
        commands.max_charge_w = settings.max_charging_current * volts

    def _sync(self) -> None:
        """Bring the site up to now, when the host gave a way to."""
        if self.sync is not None:
            self.sync()

    def _battery_currents(self) -> tuple[int, int]:
        """Return the charging and the discharging current, whole amperes."""
        current = self.site.battery.measured_current
        return round(max(current, 0.0)), round(max(-current, 0.0))

    def _general_status(self) -> str:
        """Return the QPIGS payload (21 fields, 2015 firmware) from the site."""
        self._sync()
        site = self.site
        battery = site.battery
        volts = battery.terminal_voltage
        charging, discharging = self._battery_currents()
        load = min(max(site.load_w, 0.0), RATED_W)
        apparent = min(load / _OUTPUT_POWER_FACTOR, RATED_VA)
        load_percent = max(apparent / RATED_VA, load / RATED_W) * 100
        pv = min(max(site.pv_w, 0.0), PV_RATED_W)
        pv_volts = 250.0 + 60.0 * pv / PV_RATED_W if pv > 0 else 0.0
        charger_current = pv / volts if volts > 0 else 0.0
        heat_sink = 30 + (abs(battery.power) + load) / 400
        scc_charging = pv > 0 and charging > 0
        ac_charging = charging > 0 and not scc_charging
        status = "".join(
            "1" if flag else "0"
            for flag in (
                False,
                False,
                False,
                load > 0,
                False,
                charging > 0,
                scc_charging,
                ac_charging,
            )
        )
        fields = (
            f"{site.phase_voltages()[0]:05.1f}",
            f"{site.frequency():04.1f}",
            f"{OUTPUT_VOLTAGE:05.1f}",
            f"{OUTPUT_FREQUENCY:04.1f}",
            f"{round(apparent):04d}",
            f"{round(load):04d}",
            f"{round(load_percent):03d}",
            "410",
            f"{volts:05.2f}",
            f"{charging:03d}",
            f"{round(battery.soc * 100):03d}",
            f"{round(heat_sink):04d}",
            f"{round(charger_current):04d}",
            f"{pv_volts:05.1f}",
            f"{(volts if pv > 0 else 0.0):05.2f}",
            f"{discharging:05d}",
            status,
            "00",
            "00",
            f"{round(pv):05d}",
            "010",
        )
        return " ".join(fields)

    def _ratings(self) -> str:
        """Return the QPIRI payload (27 fields) from the settings."""
        s = self.settings
        fields = (
            "230.0",
            "21.7",
            f"{OUTPUT_VOLTAGE:05.1f}",
            f"{OUTPUT_FREQUENCY:04.1f}",
            "21.7",
            f"{RATED_VA:04d}",
            f"{RATED_W:04d}",
            f"{BATTERY_RATING_V:04.1f}",
            f"{s.recharge_voltage:04.1f}",
            f"{s.cutoff_voltage:04.1f}",
            f"{s.bulk_voltage:04.1f}",
            f"{s.float_voltage:04.1f}",
            str(s.battery_type),
            f"{s.max_ac_charging_current:02d}",
            f"{s.max_charging_current:03d}",
            "0",
            str(s.output_source_priority),
            str(s.charger_source_priority),
            "9",
            "01",
            "0",
            "0",
            f"{s.redischarge_voltage:04.1f}",
            "0",
            "1",
            "000",
            "0",
        )
        return " ".join(fields)

    def _mode(self) -> str:
        """Return the QMOD letter: fault, battery (inverting) or line."""
        if self.fault:
            return "F"
        self._sync()
        _, discharging = self._battery_currents()
        # Utility first keeps the loads on the grid; solar first and SBU
        # run them from the inverter while the battery gives power.
        if self.settings.output_source_priority != 0 and discharging > 0:
            return "B"
        return "L"

    def _set_output_priority(self, match: re.Match[str]) -> bool:
        """Take POP<NN>."""
        self.settings.output_source_priority = int(match.group(1))
        return True

    def _set_charger_priority(self, match: re.Match[str]) -> bool:
        """Take PCP<NN>."""
        self.settings.charger_source_priority = int(match.group(1))
        return True

    def _set_charge_current_n(self, match: re.Match[str]) -> bool:
        """Take MNCHGC<m><nnn> for the single unit (m = 0)."""
        if not self.knows_mnchgc or match.group(1) != "0":
            return False
        return self._take_charge_current(int(match.group(2)))

    def _set_charge_current(self, match: re.Match[str]) -> bool:
        """Take MCHGC<nnn>."""
        return self._take_charge_current(int(match.group(1)))

    def _take_charge_current(self, amperes: int) -> bool:
        """Set the maximum charging current if it is one of the inverter's."""
        if amperes not in CHARGE_CURRENTS:
            return False
        self.settings.max_charging_current = amperes
        return True

    def _set_ac_charge_current(self, match: re.Match[str]) -> bool:
        """Take MUCHGC<nnn>."""
        amperes = int(match.group(1))
        if amperes not in AC_CHARGE_CURRENTS:
            return False
        self.settings.max_ac_charging_current = amperes
        return True

    def _set_cutoff(self, match: re.Match[str]) -> bool:
        """Take PSDV<nn.n>."""
        volts = float(match.group(1))
        if not CUTOFF_RANGE[0] <= volts <= CUTOFF_RANGE[1]:
            return False
        self.settings.cutoff_voltage = volts
        return True

    def _set_bulk(self, match: re.Match[str]) -> bool:
        """Take PCVV<nn.n>."""
        volts = float(match.group(1))
        if not CHARGE_VOLTAGE_RANGE[0] <= volts <= CHARGE_VOLTAGE_RANGE[1]:
            return False
        self.settings.bulk_voltage = volts
        return True

    def _set_float(self, match: re.Match[str]) -> bool:
        """Take PBFT<nn.n>."""
        volts = float(match.group(1))
        if not CHARGE_VOLTAGE_RANGE[0] <= volts <= CHARGE_VOLTAGE_RANGE[1]:
            return False
        self.settings.float_voltage = volts
        return True


@contextlib.asynccontextmanager
async def serve_voltronic(
    host: str,
    port: int,
    site: Site,
    *,
    sync: Callable[[], None] | None = None,
    serial_number: str = "92932105105335",
) -> AsyncIterator[VoltronicEmulator]:
    """Serve a simulated PI30 inverter on ``host:port`` (0: a free port)."""
    async with VoltronicEmulator(
        site, sync=sync, serial_number=serial_number, host=host, port=port
    ) as inverter:
        yield inverter
