"""A simulated site: load, PV, a battery inverter, a grid meter, and a car.

The car is one of the devices on the site's supply that draw power of
their own (a simulated wallbox's car), which the grid meter sees as well.

Time is passed in, never read from a clock: ``advance_to`` moves the model to
a given simulated epoch in steps of at most one second, so the same site runs
in real time behind a Modbus server, faster than real time in a demo, and
in a few milliseconds in a test.

Power balance at the grid connection, with the value model's signs::

    grid_power = load + consumers - pv + battery_power
    (> 0 import; battery > 0 charging)

``load`` is the profile's household load; ``consumers`` what the devices
added with ``add_consumer`` draw (a simulated wallbox's car), each on the
phases it draws on. The battery inverter runs a self-consumption
controller on what the grid meter sees: it charges from PV surplus and
discharges to cover the deficit (the car's too, as a hybrid inverter whose
meter sits at the grid connection does), within its power rating and a SOC
window. Load is spread over the phases by a fixed split; PV and battery
inverters are three-phase and balanced.

The simulated devices steer that inverter through ``InverterCommands``:
each device keeps its own (``Site.commands(source)``) and the inverter
obeys them all together (``combine``): a grid setpoint the controller aims
at instead of 0, a battery power held whatever the grid (remote control),
a charge power taken from the grid if need be, caps on the charge and
discharge power, and a cap on the inverter's AC output that curtails PV.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import math
import random
from typing import Protocol

from eo_lab.sim.battery import SimBattery
from eo_lab.sim.profiles import Profile

type PhaseValues = tuple[float, float, float]

_SECONDS_PER_HOUR = 3600.0
_SECONDS_PER_DAY = 86400.0
_SQRT3_HALF = math.sqrt(3) / 2
_TWO_PI = 2 * math.pi
# Once the SOC window's edge is reached, the controller waits for the SOC to
# move this far back in before using the battery in that direction again;
# without it, self-discharge would make it toggle full power every second.
_SOC_HYSTERESIS = 0.02


@dataclass(slots=True)
class InverterCommands:
    """What one device told the site's battery inverter; the defaults ask nothing.

    Signs as the value model's: battery > 0 charging, grid > 0 importing.
    """

    # The grid power the self-consumption controller aims at (ESS setpoint).
    grid_setpoint_w: float = 0.0
    # A battery power held whatever the grid does (remote control, passthru).
    battery_power_w: float | None = None
    # A charge power taken from the grid when PV gives less (grid charging).
    min_charge_w: float | None = None
    max_charge_w: float | None = None
    max_discharge_w: float | None = None
    # A cap on PV minus the battery, the hybrid inverter's AC output.
    ac_limit_w: float | None = None

    @property
    def steers(self) -> bool:
        """Return whether the battery is asked for more than self-consumption."""
        return (
            self.battery_power_w is not None
            or self.min_charge_w is not None
            or self.grid_setpoint_w > 0
        )


def _lowest(values: Iterable[float | None]) -> float | None:
    """Return the lowest of the values given, None when none is."""
    given = [value for value in values if value is not None]
    return min(given) if given else None


def _capped(rating_w: float, cap_w: float | None) -> float:
    """Return the power allowed: the rating, or the cap when lower (never < 0)."""
    return rating_w if cap_w is None else max(min(rating_w, cap_w), 0.0)


def combine(commands: Iterable[InverterCommands]) -> InverterCommands:
    """Return what an inverter told by several devices does.

    Caps hold together (the lowest wins), setpoints add up, the first
    battery power held wins, the largest grid charge is taken.
    """
    every = list(commands)
    held = [c.battery_power_w for c in every if c.battery_power_w is not None]
    charges = [c.min_charge_w for c in every if c.min_charge_w is not None]
    return InverterCommands(
        grid_setpoint_w=sum(c.grid_setpoint_w for c in every),
        battery_power_w=held[0] if held else None,
        min_charge_w=max(charges) if charges else None,
        max_charge_w=_lowest(c.max_charge_w for c in every),
        max_discharge_w=_lowest(c.max_discharge_w for c in every),
        ac_limit_w=_lowest(c.ac_limit_w for c in every),
    )


class Consumer(Protocol):
    """A device on the site's supply that draws power the profile knows nothing of.

    A device that produces returns negative powers.
    """

    @property
    def label(self) -> str:
        """Return what a console calls it ("wallbox")."""
        ...

    def phase_powers(self, at: float) -> PhaseValues:
        """Return the power it draws on each phase at a simulated epoch (W)."""
        ...


class Site:
    """The physics of a grid-connected home with PV and a battery.

    ``start_time`` is the simulated epoch the site starts at. The profile is
    aligned so its time of day matches the simulated time of day (UTC),
    unless ``profile_offset_s`` says where in the profile to start.
    """

    def __init__(
        self,
        profile: Profile,
        battery: SimBattery,
        *,
        start_time: float,
        battery_max_power_w: float = 5000.0,
        phase_load_split: Sequence[float] = (0.5, 0.3, 0.2),
        seed: int = 0,
        soc_min: float = 0.10,
        soc_max: float = 0.95,
        max_step_s: float = 1.0,
        profile_offset_s: float | None = None,
        nominal_voltage: float = 230.0,
        nominal_frequency: float = 50.0,
        power_factor: float = 0.97,
        grid_resistance_ohm: float = 0.25,
        initial_import_wh: float = 0.0,
        initial_export_wh: float = 0.0,
    ) -> None:
        """Build the site at ``start_time`` (simulated epoch, seconds).

        ``initial_import_wh`` and ``initial_export_wh`` are what the grid
        meter had counted before; the per-phase counters start with the
        import split like the load and the export split evenly.
        """
        if len(phase_load_split) != 3 or any(s < 0 for s in phase_load_split):
            raise ValueError("phase_load_split needs three shares >= 0")
        total_share = sum(phase_load_split)
        if total_share <= 0:
            raise ValueError("phase_load_split must not be all zero")
        if max_step_s <= 0:
            raise ValueError("max_step_s must be > 0")
        self.profile = profile
        self.battery = battery
        self.battery_max_power_w = battery_max_power_w
        self.phase_load_split: PhaseValues = (
            phase_load_split[0] / total_share,
            phase_load_split[1] / total_share,
            phase_load_split[2] / total_share,
        )
        self.soc_min = soc_min
        self.soc_max = soc_max
        self.max_step_s = max_step_s
        self.nominal_voltage = nominal_voltage
        self.nominal_frequency = nominal_frequency
        self.power_factor = power_factor
        self.grid_resistance_ohm = grid_resistance_ohm
        self.start_time = start_time
        if profile_offset_s is None:
            profile_start = profile.start_epoch or 0.0
            profile_offset_s = (start_time - profile_start) % _SECONDS_PER_DAY
        self.profile_offset_s = profile_offset_s
        # Slow wander of the grid's voltage and frequency: sums of sines at
        # seeded phases, so values are a pure function of time and seed.
        rng = random.Random(seed)
        self._voltage_phases = [
            (rng.uniform(0, _TWO_PI), rng.uniform(0, _TWO_PI)) for _ in range(3)
        ]
        self._frequency_phases = (rng.uniform(0, _TWO_PI), rng.uniform(0, _TWO_PI))

        self._time = start_time
        self._charge_blocked = False
        self._discharge_blocked = False
        self.consumers: list[Consumer] = []
        self._commands: dict[str, InverterCommands] = {}
        # What the inverter obeys now: every device's commands together.
        self.obeyed = InverterCommands()
        self.load_w = 0.0
        self.consumer_power_w = 0.0
        self.consumer_power_phases: PhaseValues = (0.0, 0.0, 0.0)
        self.pv_w = 0.0
        self.battery_power_w = 0.0
        self.grid_power_w = 0.0
        self.grid_power_phases: PhaseValues = (0.0, 0.0, 0.0)
        # Energy counters, Wh. The grid ones are what the meter shows; the
        # others let tests check that the grid ones balance.
        self.grid_import_energy_wh = initial_import_wh
        self.grid_export_energy_wh = initial_export_wh
        self._import_phases = [initial_import_wh * s for s in self.phase_load_split]
        self._export_phases = [initial_export_wh / 3] * 3
        self.load_energy_wh = 0.0
        self.consumer_energy_wh = 0.0
        self.pv_energy_wh = 0.0
        self.battery_charge_energy_wh = 0.0
        self.battery_discharge_energy_wh = 0.0
        self._set_powers(start_time, 0.0)

    @property
    def time(self) -> float:
        """Return the simulated epoch the site is at."""
        return self._time

    @property
    def grid_import_energy_phases(self) -> PhaseValues:
        """Return the energy imported per phase (Wh)."""
        return (self._import_phases[0], self._import_phases[1], self._import_phases[2])

    @property
    def grid_export_energy_phases(self) -> PhaseValues:
        """Return the energy exported per phase (Wh)."""
        return (self._export_phases[0], self._export_phases[1], self._export_phases[2])

    def add_consumer(self, consumer: Consumer) -> None:
        """Put a device on the site's supply: the grid meter sees what it draws."""
        self.consumers.append(consumer)

    def commands(self, source: str) -> InverterCommands:
        """Return the commands a device (``source``) gives the battery inverter.

        The device changes them in place when it is told something; the
        inverter obeys from the next step on.
        """
        return self._commands.setdefault(source, InverterCommands())

    def profile_time(self, sim_time: float) -> float:
        """Return the profile time (s since its start) for a simulated epoch."""
        return sim_time - self.start_time + self.profile_offset_s

    def advance_to(self, sim_time: float) -> None:
        """Run the model up to ``sim_time``, in equal steps of at most max_step_s.

        Asking for a time in the past does nothing: physics does not rewind.
        """
        span = sim_time - self._time
        if span <= 0:
            return
        steps = math.ceil(span / self.max_step_s)
        dt = span / steps
        start = self._time
        for index in range(1, steps):
            self._step(start + index * dt, dt)
        # The last step lands exactly on the asked time, whatever rounding
        # the multiplications above left.
        self._step(sim_time, sim_time - (start + (steps - 1) * dt))

    def _step(self, end_time: float, dt: float) -> None:
        """Advance one step ending at ``end_time`` and integrate the counters."""
        self._time = end_time
        self._set_powers(end_time, dt)
        hours = dt / _SECONDS_PER_HOUR
        grid = self.grid_power_w
        if grid > 0:
            self.grid_import_energy_wh += grid * hours
        else:
            self.grid_export_energy_wh -= grid * hours
        imports = self._import_phases
        exports = self._export_phases
        for phase, power in enumerate(self.grid_power_phases):
            if power > 0:
                imports[phase] += power * hours
            else:
                exports[phase] -= power * hours
        self.load_energy_wh += self.load_w * hours
        self.consumer_energy_wh += self.consumer_power_w * hours
        self.pv_energy_wh += self.pv_w * hours
        battery = self.battery_power_w
        if battery > 0:
            self.battery_charge_energy_wh += battery * hours
        else:
            self.battery_discharge_energy_wh -= battery * hours

    def _set_powers(self, at: float, dt: float) -> None:
        """Set the powers for a step of ``dt`` ending at ``at`` (rectangle rule)."""
        t = self.profile_time(at)
        load = self.profile.load_w(t)
        pv = self.profile.pv_w(t)
        drawn = [0.0, 0.0, 0.0]
        for consumer in self.consumers:
            for phase, power in enumerate(consumer.phase_powers(at)):
                drawn[phase] += power
        consumers = sum(drawn)
        commands = self.obeyed = combine(self._commands.values())
        battery_power = 0.0
        if dt > 0:
            battery_power = self._run_battery(
                self._battery_target(pv - load - consumers, commands), dt
            )
        limit = commands.ac_limit_w
        if limit is not None and pv - battery_power > limit:
            # The inverter curtails PV; the battery keeps its power.
            pv = max(limit + battery_power, 0.0)
        self.load_w = load
        self.consumer_power_w = consumers
        self.consumer_power_phases = (drawn[0], drawn[1], drawn[2])
        self.pv_w = pv
        self.battery_power_w = battery_power
        grid = load + consumers - pv + battery_power
        self.grid_power_w = grid
        # PV and battery inverters are balanced three-phase, load is not.
        shared = (battery_power - pv) / 3
        split = self.phase_load_split
        self.grid_power_phases = (
            load * split[0] + drawn[0] + shared,
            load * split[1] + drawn[1] + shared,
            load * split[2] + drawn[2] + shared,
        )

    def _battery_target(self, surplus_w: float, commands: InverterCommands) -> float:
        """Return the battery power the inverter wants, as it was told.

        Left alone it charges from the surplus and covers the deficit, within
        the SOC window. Told to charge (a power held, grid charging, a grid
        setpoint above 0) it charges on to full; it never discharges below
        the window's floor.
        """
        ceiling = 1.0 if commands.steers else self.soc_max
        soc = self.battery.soc
        if soc >= ceiling:
            self._charge_blocked = True
        elif soc < ceiling - _SOC_HYSTERESIS:
            self._charge_blocked = False
        if soc <= self.soc_min:
            self._discharge_blocked = True
        elif soc > self.soc_min + _SOC_HYSTERESIS:
            self._discharge_blocked = False
        if commands.battery_power_w is not None:
            target = commands.battery_power_w
        else:
            target = surplus_w + commands.grid_setpoint_w
            if commands.min_charge_w is not None:
                target = max(target, commands.min_charge_w)
        most_charge = _capped(self.battery_max_power_w, commands.max_charge_w)
        most_discharge = _capped(self.battery_max_power_w, commands.max_discharge_w)
        target = min(max(target, -most_discharge), most_charge)
        if (target > 0 and self._charge_blocked) or (
            target < 0 and self._discharge_blocked
        ):
            return 0.0
        return target

    def _run_battery(self, target_w: float, dt: float) -> float:
        """Drive the battery at ``target_w`` for ``dt``; return the real power.

        The power is what flowed at the terminals at the step's opening
        voltage, so an unclamped step delivers exactly the target.
        """
        battery = self.battery
        if target_w == 0:
            battery.step(0.0, dt)
            return 0.0
        ocv = battery.ocv
        current = battery.step(battery.current_for_power(target_w), dt)
        return current * (ocv + current * battery.internal_resistance_ohm)

    def phase_voltages(self) -> PhaseValues:
        """Return the phase-to-neutral voltages at the meter now.

        A slow deterministic wander of a few volts around nominal, minus the
        drop over the grid's resistance under each phase's current (export
        lifts the voltage).
        """
        hours = self._time / _SECONDS_PER_HOUR
        nominal = self.nominal_voltage
        resistance = self.grid_resistance_ohm
        volts: list[float] = []
        for phase in range(3):
            slow, fast = self._voltage_phases[phase]
            source = (
                nominal
                + 2.0 * math.sin(_TWO_PI * hours / 5.0 + slow)
                + 0.6 * math.sin(_TWO_PI * hours * 7.0 + fast)
            )
            current = self.grid_power_phases[phase] / (source * self.power_factor)
            volts.append(source - resistance * current)
        return (volts[0], volts[1], volts[2])

    def frequency(self) -> float:
        """Return the grid frequency now: nominal ± at most 0.05 Hz."""
        minutes = self._time / 60.0
        slow, fast = self._frequency_phases
        wander = 0.7 * math.sin(_TWO_PI * minutes / 13.0 + slow) + 0.3 * math.sin(
            _TWO_PI * minutes / 1.7 + fast
        )
        return self.nominal_frequency + 0.05 * wander

    def grid_meter_values(self) -> dict[str, float]:
        """Return what a three-phase grid meter reads now, by canonical key."""
        volts = self.phase_voltages()
        powers = self.grid_power_phases
        pf = self.power_factor
        values: dict[str, float] = {}
        currents: list[float] = []
        apparent_total = 0.0
        reactive_total = 0.0
        for phase in range(3):
            name = f"l{phase + 1}"
            power = powers[phase]
            current = abs(power) / (volts[phase] * pf)
            apparent = volts[phase] * current
            reactive = math.sqrt(max(apparent * apparent - power * power, 0.0))
            currents.append(math.copysign(current, power))
            apparent_total += apparent
            reactive_total += reactive
            values[f"ac_voltage_{name}"] = volts[phase]
            values[f"ac_current_{name}"] = current
            values[f"grid_power_{name}"] = power
            # IEC convention: the power factor takes the active power's sign.
            values[f"ac_power_factor_{name}"] = math.copysign(pf, power)
            values[f"grid_import_energy_{name}"] = self._import_phases[phase]
            values[f"grid_export_energy_{name}"] = self._export_phases[phase]
        total = powers[0] + powers[1] + powers[2]
        values["grid_power"] = total
        values["grid_apparent_power"] = apparent_total
        values["grid_reactive_power"] = reactive_total
        values["grid_power_factor"] = total / apparent_total if apparent_total else 1.0
        values["frequency"] = self.frequency()
        values["grid_import_energy"] = self.grid_import_energy_wh
        values["grid_export_energy"] = self.grid_export_energy_wh
        for first, second in ((0, 1), (1, 2), (2, 0)):
            # Phasors 120° apart: |Va - Vb|² = Va² + Vb² + Va·Vb.
            va, vb = volts[first], volts[second]
            values[f"ac_voltage_l{first + 1}_l{second + 1}"] = math.sqrt(
                va * va + vb * vb + va * vb
            )
        # Phase currents share one power factor angle, so the neutral current
        # is the magnitude of their sum at 0°, -120° and +120°.
        real = currents[0] - 0.5 * (currents[1] + currents[2])
        imaginary = _SQRT3_HALF * (currents[2] - currents[1])
        values["ac_current_neutral"] = math.hypot(real, imaginary)
        return values
