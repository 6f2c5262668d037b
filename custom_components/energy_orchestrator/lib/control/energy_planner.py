"""The energy planner: the lowest grid peak a battery can hold, and its SOC plan.

On a time grid (a step per billing interval, typically 15 minutes), given
the site's forecast net load (load - PV, W) and the battery, the planner
finds the lowest import peak P the battery can hold over the horizon and the
SOC schedule that holds it.

Exactly: for a given P the question "can it be held?" has an exact answer
by simulating the battery greedily, discharging what exceeds P and
recharging whenever the net load is below P, as much as the headroom, the
charger and the battery allow. Charging as early as possible leaves the
battery at least as full at every step as any other schedule that holds P,
so if the greedy battery runs short, every battery does. The lowest P is
then found by bisection, to a watt. An export limit adds forced charging
where PV would export more than allowed.

The greedy trajectory is the plan's SOC ceiling (where the battery can be);
the backward pass gives its floor (the least SOC that still holds P from
each step on). A limiter that keeps the SOC between them holds the peak.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
import math


@dataclass(frozen=True)
class BatteryLimits:
    """The battery as the planner and the limiter see it."""

    capacity_wh: float
    max_charge_w: float
    max_discharge_w: float
    soc_min: float = 0.0  # % of capacity
    soc_max: float = 100.0  # % of capacity
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95

    def validate(self) -> None:
        """Raise ValueError for a battery that cannot exist."""
        if not (self.capacity_wh >= 0 and math.isfinite(self.capacity_wh)):
            raise ValueError("battery capacity must be >= 0 Wh")
        if self.max_charge_w < 0 or self.max_discharge_w < 0:
            raise ValueError("battery power limits must be >= 0 W")
        if not 0 <= self.soc_min < self.soc_max <= 100:
            raise ValueError("battery SOC limits must satisfy 0 <= min < max <= 100")
        for efficiency in (self.charge_efficiency, self.discharge_efficiency):
            if not 0 < efficiency <= 1:
                raise ValueError("battery efficiencies must be in (0, 1]")

    @property
    def energy_min_wh(self) -> float:
        """Return the stored energy at the SOC floor."""
        return self.capacity_wh * self.soc_min / 100

    @property
    def energy_max_wh(self) -> float:
        """Return the stored energy at the SOC ceiling."""
        return self.capacity_wh * self.soc_max / 100


@dataclass(frozen=True)
class Plan:
    """A plan over the horizon, step by step."""

    start: datetime
    step: timedelta
    # The lowest import peak the battery can hold (W, an interval average).
    peak_w: float
    # Stored energy at the start of each step and after the last (Wh).
    energy_ceiling_wh: tuple[float, ...]
    energy_floor_wh: tuple[float, ...]
    # Grid power per step if the plan is followed (W).
    grid_w: tuple[float, ...]
    # When a requested limit cannot be held: the first step it fails at.
    cannot_hold_from: datetime | None = None
    # The forecast net load (load - PV, W) per step the plan was made on.
    net_w: tuple[float, ...] = ()

    def soc_floor_at(self, index: int, capacity_wh: float) -> float:
        """Return the least SOC (%) that still holds the peak from a step on."""
        if capacity_wh <= 0:
            return 0.0
        return 100 * self.energy_floor_wh[index] / capacity_wh


def hold(
    net_w: Sequence[float],
    step_h: float,
    battery: BatteryLimits,
    *,
    energy_wh: float,
    peak_w: float,
    export_limit_w: float | None = None,
) -> tuple[list[float], list[float], int | None]:
    """Simulate the greedy battery holding ``peak_w``.

    Returns the stored energy at every step boundary, the grid power per
    step, and the index of the first step that cannot be held (None if all
    can). After a failing step the battery does what it can and goes on.
    """
    energy = min(max(energy_wh, 0.0), battery.capacity_wh)
    energies = [energy]
    grid: list[float] = []
    failed: int | None = None
    e_min, e_max = battery.energy_min_wh, battery.energy_max_wh
    eta_c, eta_d = battery.charge_efficiency, battery.discharge_efficiency
    for index, net in enumerate(net_w):
        if net > peak_w:
            wanted = min(net - peak_w, battery.max_discharge_w)
            available = max(energy - e_min, 0.0) * eta_d / step_h
            power = -min(wanted, available)
            if net + power > peak_w + 1e-6 and failed is None:
                failed = index
        else:
            room = max(e_max - energy, 0.0) / eta_c / step_h
            power = min(peak_w - net, battery.max_charge_w, room)
            # Even charging flat out, the site may export too much.
            exporting = (
                export_limit_w is not None and net + power < -export_limit_w - 1e-6
            )
            if exporting and failed is None:
                failed = index
        if power >= 0:
            energy += power * step_h * eta_c
        else:
            energy += power * step_h / eta_d
        energies.append(energy)
        grid.append(net + power)
    return energies, grid, failed


def _floor(
    net_w: Sequence[float], step_h: float, battery: BatteryLimits, peak_w: float
) -> list[float]:
    """Return the least stored energy at each step that still holds the peak."""
    floor = [battery.energy_min_wh] * (len(net_w) + 1)
    eta_c, eta_d = battery.charge_efficiency, battery.discharge_efficiency
    for index in range(len(net_w) - 1, -1, -1):
        net = net_w[index]
        after = floor[index + 1]
        if net > peak_w:
            need = after + min(net - peak_w, battery.max_discharge_w) * step_h / eta_d
        else:
            gain = min(peak_w - net, battery.max_charge_w) * step_h * eta_c
            need = after - gain
        floor[index] = min(max(need, battery.energy_min_wh), battery.energy_max_wh)
    return floor


def plan_peak(
    start: datetime,
    step: timedelta,
    net_w: Sequence[float],
    battery: BatteryLimits,
    energy_wh: float,
    *,
    export_limit_w: float | None = None,
    at_least_w: float = 0.0,
    tolerance_w: float = 1.0,
) -> Plan:
    """Return the plan holding the lowest peak (never below ``at_least_w``).

    ``at_least_w`` is the peak already billed in the period: going below it
    saves nothing and spends the battery for no gain.
    """
    if not net_w:
        raise ValueError("a plan needs at least one step")
    step_h = step.total_seconds() / 3600
    high = max(*net_w, at_least_w)
    low = min(max(max(net_w) - battery.max_discharge_w, at_least_w, 0.0), high)
    if hold(net_w, step_h, battery, energy_wh=energy_wh, peak_w=low)[2] is not None:
        while high - low > tolerance_w:
            middle = (low + high) / 2
            if (
                hold(net_w, step_h, battery, energy_wh=energy_wh, peak_w=middle)[2]
                is None
            ):
                high = middle
            else:
                low = middle
        peak = high
    else:
        peak = low
    energies, grid, _ = hold(
        net_w,
        step_h,
        battery,
        energy_wh=energy_wh,
        peak_w=peak,
        export_limit_w=export_limit_w,
    )
    return Plan(
        start=start,
        step=step,
        peak_w=peak,
        energy_ceiling_wh=tuple(energies),
        energy_floor_wh=tuple(_floor(net_w, step_h, battery, peak)),
        grid_w=tuple(grid),
        net_w=tuple(net_w),
    )


def check_limit(
    start: datetime,
    step: timedelta,
    net_w: Sequence[float],
    battery: BatteryLimits,
    *,
    energy_wh: float,
    limit_w: float,
    export_limit_w: float | None = None,
) -> Plan:
    """Return the plan for a given import limit, saying from when it fails."""
    step_h = step.total_seconds() / 3600
    energies, grid, failed = hold(
        net_w,
        step_h,
        battery,
        energy_wh=energy_wh,
        peak_w=limit_w,
        export_limit_w=export_limit_w,
    )
    return Plan(
        start=start,
        step=step,
        peak_w=limit_w,
        energy_ceiling_wh=tuple(energies),
        energy_floor_wh=tuple(_floor(net_w, step_h, battery, limit_w)),
        grid_w=tuple(grid),
        cannot_hold_from=None if failed is None else start + failed * step,
        net_w=tuple(net_w),
    )
