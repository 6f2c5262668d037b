"""Several batteries as one: the planner's battery, and the setpoint split over them.

A site with two inverters, each with its battery, is one battery to the
planner and the limiter: capacities, powers and stored energies add up.
What each battery can give or take this step (its power limit, the energy
above its SOC floor, the room under its ceiling, and its voltage limits)
bounds what the bank can do, and decides each battery's share of the
setpoint: none is asked for more than it can do while another idles, and a
battery at its lowest voltage gives nothing while the others carry the
load.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from .energy_planner import BatteryLimits
from .setpoint_limits import VoltageGuard


def battery_power_range(
    battery: BatteryLimits, energy_wh: float, step_h: float
) -> tuple[float, float]:
    """Return the setpoints (W, > 0 charging) a battery can hold for a step.

    The most it can discharge (<= 0) and charge (>= 0) with: its power
    limits, and the energy above its SOC floor and the room under its
    ceiling over the step.
    """
    available_w = (
        max(energy_wh - battery.energy_min_wh, 0.0)
        * battery.discharge_efficiency
        / step_h
    )
    room_w = (
        max(battery.energy_max_wh - energy_wh, 0.0) / battery.charge_efficiency / step_h
    )
    return -min(battery.max_discharge_w, available_w), min(battery.max_charge_w, room_w)


def split_setpoint(
    setpoint_w: float, batteries: Sequence[tuple[float, float]]
) -> list[float]:
    """Split a setpoint over several batteries by what each can take or give.

    ``batteries`` holds, per battery, the power it can charge with and the
    power it can discharge with now (both >= 0, what its SOC and limits
    allow). Each gets a share proportional to its headroom in the needed
    direction, so none is asked for more than it can do while another idles.
    """
    index = 0 if setpoint_w >= 0 else 1
    capacities = [max(limits[index], 0.0) for limits in batteries]
    total = sum(capacities)
    if total <= 0:
        return [0.0] * len(batteries)
    wanted = min(abs(setpoint_w), total)
    sign = 1.0 if setpoint_w >= 0 else -1.0
    return [sign * wanted * capacity / total for capacity in capacities]


@dataclass(frozen=True)
class BatteryReading:
    """One battery now: its power (> 0 charging), SOC (%) and voltage."""

    power_w: float | None
    soc: float | None
    voltage_v: float | None = None


@dataclass(frozen=True)
class BankState:
    """The bank now: as one battery, and what each battery can do this step."""

    power_w: float
    energy_wh: float
    # Per battery: the most it can discharge (<= 0) and charge (>= 0) with.
    ranges: tuple[tuple[float, float], ...]
    # A voltage limit holds back a battery that could otherwise discharge
    # (charge): the limiter says so rather than "empty" ("full").
    discharge_stopped: bool = False
    charge_stopped: bool = False

    @property
    def power_range_w(self) -> tuple[float, float]:
        """Return the most the whole bank can discharge and charge with now."""
        return (
            sum(lowest for lowest, _ in self.ranges),
            sum(highest for _, highest in self.ranges),
        )


class BatteryBank:
    """One or more batteries, each with its limits and optional voltage limits."""

    def __init__(
        self,
        batteries: Sequence[BatteryLimits],
        guards: Sequence[VoltageGuard | None] | None = None,
    ) -> None:
        """Take the batteries; raise ValueError for a bank that cannot work."""
        if not batteries:
            raise ValueError("peak shaving needs at least one battery")
        self.batteries = tuple(batteries)
        self.guards = tuple(guards) if guards is not None else (None,) * len(batteries)
        if len(self.guards) != len(self.batteries):
            raise ValueError("one voltage guard (or None) per battery")
        for battery in self.batteries:
            battery.validate()
        for guard in self.guards:
            if guard is not None:
                guard.validate()

    @property
    def limits(self) -> BatteryLimits:
        """Return the bank as one battery, for the planner.

        Capacities and powers add up; the SOC range is the one the summed
        floors and ceilings make; the efficiencies are the capacity-weighted
        means.
        """
        capacity = sum(battery.capacity_wh for battery in self.batteries)
        if capacity <= 0:
            return self.batteries[0]

        def weighted(values: Sequence[float]) -> float:
            return (
                sum(
                    value * battery.capacity_wh
                    for value, battery in zip(values, self.batteries, strict=True)
                )
                / capacity
            )

        return BatteryLimits(
            capacity_wh=capacity,
            max_charge_w=sum(battery.max_charge_w for battery in self.batteries),
            max_discharge_w=sum(battery.max_discharge_w for battery in self.batteries),
            soc_min=weighted([battery.soc_min for battery in self.batteries]),
            soc_max=weighted([battery.soc_max for battery in self.batteries]),
            charge_efficiency=weighted(
                [battery.charge_efficiency for battery in self.batteries]
            ),
            discharge_efficiency=weighted(
                [battery.discharge_efficiency for battery in self.batteries]
            ),
        )

    def read(
        self, readings: Sequence[BatteryReading], step_h: float
    ) -> BankState | None:
        """Return the bank now; None if a reading it needs is unknown.

        A battery whose power or SOC is unknown cannot be counted, and one
        with voltage limits and no voltage cannot be watched: the bank is
        then left alone rather than steered half blind.
        """
        if len(readings) != len(self.batteries):
            raise ValueError("one reading per battery")
        ranges: list[tuple[float, float]] = []
        power = energy = 0.0
        discharge_stopped = charge_stopped = False
        for battery, guard, reading in zip(
            self.batteries, self.guards, readings, strict=True
        ):
            if reading.power_w is None or reading.soc is None:
                return None
            stored = reading.soc / 100 * battery.capacity_wh
            lowest, highest = battery_power_range(battery, stored, step_h)
            if guard is not None:
                if reading.voltage_v is None:
                    return None
                guard.update(reading.voltage_v)
                discharge_stopped |= guard.discharge_stopped and lowest < 0
                charge_stopped |= guard.charge_stopped and highest > 0
                lowest, highest = guard.clamp(lowest), guard.clamp(highest)
            power += reading.power_w
            energy += stored
            ranges.append((lowest, highest))
        return BankState(
            power, energy, tuple(ranges), discharge_stopped, charge_stopped
        )

    def split(self, setpoint_w: float, state: BankState) -> list[float]:
        """Return each battery's share of the bank's setpoint."""
        return split_setpoint(
            setpoint_w, [(highest, -lowest) for lowest, highest in state.ranges]
        )
