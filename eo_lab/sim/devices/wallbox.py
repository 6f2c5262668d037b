"""An Alfen Eve (NG9xx) charging station with a car plugged in, over Modbus TCP.

It answers as Alfen's "Modbus Slave TCP/IP" document describes: the station
at slave 200, the socket at slave 1; function 03 to read, 06 and 16 to
write; reserved or unavailable registers read 0xFFFF; a float written with
one of its two registers is refused; the maximum current written by the EMS
holds for the validity time, then the station falls back to its safe
current.

The car: when plugged in and wanting energy, it draws the current the
station offers (at least 6 A, else nothing), up to its own limit, on one
phase or on three as the station is switched (and as many as the car's
charger has): power = current x voltage x phases x power factor. A car with
a battery (``capacity_kwh``) counts what it takes into its SOC and stops
wanting energy at its target SOC; one without never gets full. Energy is
counted over the emulator's clock. A phase switch
while current flows is carried out (as a station would) but counted in
``switches_under_load``, so a test can check a controller never does it.

``site_wallbox`` puts the station on a simulated site's supply: it runs on
the site's clock, and what the car draws shows in the site's grid meter.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
import functools
import itertools
import math
import struct
import time

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from custom_components.energy_orchestrator.lib.drivers.wallbox import (
    APPLIED_MAX_CURRENT,
    FIRMWARE,
    MANUFACTURER,
    MAX_CURRENT,
    MIN_CURRENT_A,
    MODE3_STATE,
    PHASES,
    PLATFORM,
    SAFE_CURRENT,
    SERIAL,
    SOCKETS,
    STATION_UNIT,
    VALID_TIME,
)
from eo_lab.sim.site import PhaseValues, Site

_READ = 3
_WRITES = frozenset({6, 16})
_SPAN = 1500  # registers 0..1499 cover every register the station has
_NAN = 0xFFFF
_POWER_FACTOR = 0.99


def _text(text: str, count: int) -> list[int]:
    """Return ``count`` registers holding NUL-padded ASCII text."""
    raw = text.encode("ascii")[: 2 * count - 1].ljust(2 * count, b"\0")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, 2 * count, 2)]


def _f32(value: float) -> list[int]:
    """Return a float32 as two registers, most significant first."""
    return list(struct.unpack(">2H", struct.pack(">f", value)))


def _f64(value: float) -> list[int]:
    """Return a float64 as four registers, most significant first."""
    return list(struct.unpack(">4H", struct.pack(">d", value)))


@dataclass
class Car:
    """The car at the socket."""

    plugged_in: bool = True
    wants_energy: bool = True
    max_current_a: float = 16.0
    phases: int = 3  # what its on-board charger can use
    capacity_kwh: float | None = None  # None: a battery that never fills
    soc: float = 0.5  # 0..1, when it has a battery
    target_soc: float = 1.0  # where it stops charging
    charge_efficiency: float = 0.9  # what reaches the battery of what it draws

    def take(self, energy_wh: float) -> None:
        """Count energy drawn from the station into the battery, if it has one."""
        if self.capacity_kwh is None or energy_wh <= 0:
            return
        stored = energy_wh * self.charge_efficiency / (self.capacity_kwh * 1000)
        self.soc = min(self.soc + stored, 1.0)
        if self.soc >= self.target_soc:
            self.wants_energy = False


@dataclass
class AlfenEmulator:
    """An Alfen Eve station with one socket, and the car plugged into it.

    ``voltages`` returns the three phase voltages (from a site, or fixed);
    ``clock`` is monotonic seconds, passed in so tests move time by hand;
    ``sync``, when given, runs before each request (it brings a site up to
    the moment). ``phase_switching`` False makes register 1215 unavailable,
    as on a station whose installer did not allow 1/3-phase switching.
    """

    serial: str = "ACE0123456"
    platform: str = "NG910"
    firmware: str = "6.4.0-4210"
    manufacturer: str = "Alfen NV"
    car: Car = field(default_factory=Car)
    phases: int = 3
    safe_current_a: float = 6.0
    validity_s: float = 60.0
    phase_switching: bool = True
    voltages: Callable[[], tuple[float, float, float]] = lambda: (230.0, 230.0, 230.0)
    clock: Callable[[], float] = time.monotonic
    sync: Callable[[], None] | None = None
    max_current_a: float | None = None  # the EMS setpoint (1210), None: unset
    energy_wh: tuple[float, float, float] = (1_000_000.0, 0.0, 0.0)
    switches_under_load: int = field(default=0, init=False)
    requests: int = field(default=0, init=False)
    _set_at: float = field(default=-math.inf, init=False, repr=False)
    _last_time: float | None = field(default=None, init=False, repr=False)

    def sim_devices(self) -> dict[int, SimDevice]:
        """Return the station (slave 200) and its socket (slave 1)."""
        return {STATION_UNIT: self._device(STATION_UNIT), 1: self._device(1)}

    def _device(self, unit: int) -> SimDevice:
        """Return the pymodbus device for the station or the socket."""
        return SimDevice(
            id=unit,
            simdata=[SimData(0, count=_SPAN, datatype=DataType.UINT16)],
            action=functools.partial(self._action, unit),
        )

    # The physics.

    @property
    def label(self) -> str:
        """Return what a console calls the station."""
        return "wallbox"

    def phase_powers(self, at: float) -> PhaseValues:
        """Return what the car draws on each phase at a moment of the clock (W).

        The site asks at the end of each of its steps: the station counts
        the energy up to then first, so the car's SOC follows the site.
        """
        self._advance(at)
        volts = self.voltages()
        amps = self._currents_at(at)
        return (
            volts[0] * amps[0] * _POWER_FACTOR,
            volts[1] * amps[1] * _POWER_FACTOR,
            volts[2] * amps[2] * _POWER_FACTOR,
        )

    def offered_current(self, at: float | None = None) -> float:
        """Return the current the station offers the car (0: paused), now or ``at``."""
        moment = self.clock() if at is None else at
        valid = moment - self._set_at <= self.validity_s
        amps = (
            self.max_current_a
            if valid and self.max_current_a is not None
            else self.safe_current_a
        )
        return amps if amps >= MIN_CURRENT_A else 0.0

    def remaining_valid_s(self) -> float:
        """Return the seconds the EMS setpoint still holds."""
        return max(0.0, self.validity_s - (self.clock() - self._set_at))

    def phase_currents(self) -> tuple[float, float, float]:
        """Return the current the car draws on each phase now."""
        return self._currents_at(self.clock())

    def _currents_at(self, at: float) -> tuple[float, float, float]:
        """Return the current the car draws on each phase at a moment."""
        car = self.car
        offered = self.offered_current(at)
        if not (car.plugged_in and car.wants_energy) or offered <= 0:
            return (0.0, 0.0, 0.0)
        amps = min(offered, car.max_current_a)
        active = min(self.phases, car.phases)
        return (amps, amps if active >= 2 else 0.0, amps if active >= 3 else 0.0)

    def mode3_state(self) -> str:
        """Return the IEC 61851 state of the socket."""
        car = self.car
        if not car.plugged_in:
            return "A"
        if self.offered_current() <= 0:
            return "C1" if car.wants_energy else "B1"
        return "C2" if car.wants_energy else "B2"

    def _advance(self, now: float) -> None:
        """Count the energy delivered up to ``now`` into the meter and the car.

        The draw is constant between calls but for the moment the EMS
        setpoint expires, where the interval is split.
        """
        last = self._last_time
        self._last_time = now
        if last is None or now <= last:
            return
        expiry = self._set_at + self.validity_s
        cuts = [last, *([expiry] if last < expiry < now else []), now]
        for start, end in itertools.pairwise(cuts):
            amps = self._currents_at((start + end) / 2)
            volts = self.voltages()
            hours = (end - start) / 3600
            drawn = [
                v * a * _POWER_FACTOR * hours for v, a in zip(volts, amps, strict=True)
            ]
            self.energy_wh = (
                self.energy_wh[0] + drawn[0],
                self.energy_wh[1] + drawn[1],
                self.energy_wh[2] + drawn[2],
            )
            self.car.take(sum(drawn))

    # The registers.

    def _station_registers(self) -> dict[int, int]:
        """Return the station's registers (slave 200)."""
        registers: dict[int, int] = {}
        for (address, count), text in (
            ((100, 17), "ALF_1000"),
            (MANUFACTURER, self.manufacturer),
            (FIRMWARE, self.firmware),
            (PLATFORM, self.platform),
            (SERIAL, self.serial),
        ):
            registers.update(
                zip(range(address, address + count), _text(text, count), strict=True)
            )
        registers[122] = 1  # Modbus table version
        registers.update(zip(range(1100, 1102), _f32(32.0), strict=True))
        registers.update(zip(range(1102, 1104), _f32(35.0), strict=True))
        registers[1104] = 1
        registers[SOCKETS[0]] = 1
        return registers

    def _socket_registers(self) -> dict[int, int]:
        """Return the socket's registers (slave 1)."""
        volts = self.voltages()
        amps = self.phase_currents()
        powers = [v * a * _POWER_FACTOR for v, a in zip(volts, amps, strict=True)]
        apparent = [v * a for v, a in zip(volts, amps, strict=True)]
        registers: dict[int, int] = {300: 0x03, 305: 0}
        registers.update(zip(range(301, 305), [0, 0, 0, 100], strict=True))

        def put32(address: int, value: float) -> None:
            registers.update(zip(range(address, address + 2), _f32(value), strict=True))

        def put64(address: int, value: float) -> None:
            registers.update(zip(range(address, address + 4), _f64(value), strict=True))

        for phase in range(3):
            put32(306 + 2 * phase, volts[phase])
            put32(312 + 2 * phase, volts[phase] * math.sqrt(3))
            put32(320 + 2 * phase, amps[phase])
            put32(328 + 2 * phase, _POWER_FACTOR if amps[phase] else 1.0)
            put32(338 + 2 * phase, powers[phase])
            put32(346 + 2 * phase, apparent[phase])
            put32(354 + 2 * phase, 0.0)
            put64(362 + 4 * phase, self.energy_wh[phase])
            put64(378 + 4 * phase, 0.0)
            put64(394 + 4 * phase, self.energy_wh[phase] / _POWER_FACTOR)
            put64(410 + 4 * phase, 0.0)
        put32(318, 0.0)
        put32(326, sum(amps))
        put32(334, _POWER_FACTOR if any(amps) else 1.0)
        put32(336, 50.0)
        put32(344, sum(powers))
        put32(352, sum(apparent))
        put32(360, 0.0)
        put64(374, sum(self.energy_wh))
        put64(390, 0.0)
        put64(406, sum(self.energy_wh) / _POWER_FACTOR)
        put64(422, 0.0)
        registers[1200] = 1
        registers.update(
            zip(
                range(MODE3_STATE, MODE3_STATE + 5),
                _text(self.mode3_state(), 5),
                strict=True,
            )
        )
        put32(APPLIED_MAX_CURRENT, self.offered_current())
        remaining = round(self.remaining_valid_s())
        registers[VALID_TIME], registers[VALID_TIME + 1] = (
            remaining >> 16,
            remaining & 0xFFFF,
        )
        put32(
            MAX_CURRENT, self.max_current_a if self.max_current_a is not None else 0.0
        )
        put32(SAFE_CURRENT, self.safe_current_a)
        registers[1214] = int(self.remaining_valid_s() > 0)
        registers[PHASES] = self.phases if self.phase_switching else _NAN
        return registers

    async def _action(  # noqa: PLR0917 - pymodbus' SimAction signature, plus the unit
        self,
        unit: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Answer a request as the station does."""
        self.requests += 1
        if self.sync is not None:
            self.sync()
        self._advance(self.clock())
        if function_code in _WRITES:
            return self._write(unit, address, [int(v) for v in set_values or []])
        if function_code != _READ:
            return ExcCodes.ILLEGAL_FUNCTION
        values = (
            self._station_registers()
            if unit == STATION_UNIT
            else self._socket_registers()
        )
        for at in range(address, address + count):
            registers[at - start_address] = values.get(at, _NAN)
        return None

    def _write(self, unit: int, address: int, words: list[int]) -> ExcCodes | None:
        """Take a write of the EMS setpoint or of the phases; refuse others."""
        if unit == STATION_UNIT:
            return ExcCodes.ILLEGAL_ADDRESS
        if address == MAX_CURRENT:
            if len(words) != 2:
                return ExcCodes.ILLEGAL_VALUE  # both registers in one request
            (amps,) = struct.unpack(">f", struct.pack(">2H", *words))
            if not math.isfinite(amps) or not 0 <= amps <= 80:
                return ExcCodes.ILLEGAL_VALUE
            self.max_current_a = amps
            self._set_at = self.clock()
            return None
        if address == PHASES and len(words) == 1 and self.phase_switching:
            if words[0] not in {1, 3}:
                return ExcCodes.ILLEGAL_VALUE
            if any(self.phase_currents()) and words[0] != self.phases:
                self.switches_under_load += 1
            self.phases = words[0]
            return None
        return ExcCodes.ILLEGAL_ADDRESS


def site_wallbox(
    site: Site, *, sync: Callable[[], None] | None = None, car: Car | None = None
) -> AlfenEmulator:
    """Return a station on the site's supply, with a car that wants energy.

    The station runs on the site's clock, so its setpoint's validity time
    is simulated time; what the car draws is part of the site's balance.
    ``sync`` brings the site up to the moment of each request (a running
    ``SimulatedSite``'s ``sync``); ``car`` is the car plugged in (by
    default one whose battery never fills).
    """
    station = AlfenEmulator(
        voltages=site.phase_voltages,
        clock=lambda: site.time,
        sync=sync,
        car=car if car is not None else Car(),
    )
    site.add_consumer(station)
    return station
