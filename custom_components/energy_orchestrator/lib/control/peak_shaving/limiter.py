"""The real-time step: the battery setpoint that keeps the grid in the interval's budget.

Each step the limiter computes the grid power the rest of the billing
interval may still average at the level it holds (the budget, from the
meter in ``billing``) and sets the battery to the difference with the net
load it measures. That is a feedforward, not an integrating loop: a load
step is answered in one step, with nothing wound up to overshoot with, and
a deadband keeps measurement noise from moving the setpoint. Energy the
battery holds beyond the plan's needs holds the billed peak instead of the
planned one, and the phases' limit bounds every setpoint.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..battery_bank import BankState, battery_power_range
from ..billing import IntervalMeter, import_budget_w
from ..energy_planner import BatteryLimits, Plan
from ..setpoint_limits import PhaseRange, phase_range
from .settings import PeakShavingSettings
from .status import ShavingReason

# Setpoint changes smaller than this are not made: a meter's noise must not
# move the battery. The limiter aims this far under its budget, which is
# all the margin recharging keeps: a load step is answered at the next step.
DEADBAND_W = 25.0
# Spare energy (beyond the plan's floor and this share of the capacity on
# top of it, for forecasts not cautious enough) holds the billed peak, so it
# does not creep up to a cautious plan; never below this share of the
# planned peak, where spending it only cycles the battery.
SPARE_RESERVE_SHARE = 0.1
SPARE_LEVEL_SHARE = 0.9
# Once the caution has a record, the battery's top is spare whatever the
# floor says: a full battery that lets the billed peak rise for a cautious
# plan raises it for certain to save what the next headroom gives back.
SPARE_TOP_SHARE = 0.05


def limiter_setpoint(
    net_w: float,
    budget_w: float,
    limit_w: float,
    power_range_w: tuple[float, float],
    *,
    export_limit_w: float | None = None,
    recharge: bool = True,
) -> float:
    """Return the battery power (W, > 0 charging) that keeps the grid in budget.

    Discharges what the net load exceeds the budget by, within what the
    battery can give (``power_range_w``: the most it can discharge, <= 0, and
    charge, >= 0, this step); otherwise recharges with the headroom up to
    the budget (and never above ``limit_w``). Absorbs an export beyond the
    export limit when it can.
    """
    most_discharge_w, most_charge_w = power_range_w
    if net_w > budget_w:
        return max(budget_w - net_w, most_discharge_w)
    setpoint = 0.0
    if recharge:
        headroom = min(budget_w, limit_w) - net_w
        setpoint = max(min(headroom, most_charge_w), 0.0)
    if export_limit_w is not None and net_w + setpoint < -export_limit_w:
        setpoint = min(-export_limit_w - net_w, most_charge_w)
    return setpoint


def interval_budget_w(meter: IntervalMeter, now: datetime, level_w: float) -> float:
    """Return the import the rest of the billing interval may average at ``level_w``.

    Never above the level: what an interval saved early is not spent late
    (a budget above the level would only make the battery ease off and
    come back within one interval). The headroom peak shaving posts is
    this less the import before the battery.
    """
    return min(import_budget_w(meter, now, level_w), level_w)


def phase_headroom(
    limit_w: float | None, grid_phases_w: Sequence[float | None] | None
) -> float | None:
    """Return how far the busiest phase is from the limit, None if unknown."""
    if limit_w is None or not grid_phases_w or None in grid_phases_w:
        return None
    return min(limit_w - abs(value) for value in grid_phases_w if value is not None)


@dataclass(frozen=True)
class LimiterStep:
    """A step's setpoint, the budget it holds, and what held it back (None: nothing)."""

    budget_w: float
    setpoint_w: float
    bound_by: ShavingReason | None


class Limiter:
    """The setpoint each step (see the module doc); it keeps the last one."""

    def __init__(
        self,
        settings: PeakShavingSettings,
        battery: BatteryLimits,
        meter: IntervalMeter,
    ) -> None:
        """Limit on this meter with this battery."""
        self.settings = settings
        self.battery = battery
        self.meter = meter
        self.last_setpoint_w = 0.0

    def step(
        self,
        now: datetime,
        net_w: float,
        level_w: float,
        *,
        energy_wh: float,
        battery_power_w: float,
        step: timedelta,
        export_limit_w: float | None,
        grid_phases_w: Sequence[float | None] | None,
        batteries: BankState | None,
        plan: Plan | None,
        uninsured_peak_w: float | None,
        spare_energy: bool,
        top_is_spare: bool,
    ) -> LimiterStep:
        """Return the setpoint that holds ``level_w`` for the next ``step``.

        ``spare_energy``: energy beyond the plan's needs holds the billed
        peak (only without a user's limit); ``top_is_spare``: the battery's
        top band is spare as well (once the caution has a record).
        ``uninsured_peak_w`` is where recharging stops when the plan insures
        a heavy stretch.
        """
        step_h = step.total_seconds() / 3600
        lowest, highest = battery_power_range(self.battery, energy_wh, step_h)
        if batteries is not None:
            bank_lowest, bank_highest = batteries.power_range_w
            lowest, highest = max(lowest, bank_lowest), min(highest, bank_highest)
        power_range = (lowest, highest)
        budget, setpoint = self._holding(
            now,
            net_w,
            level_w,
            power_range_w=power_range,
            export_limit_w=export_limit_w,
            uninsured_peak_w=uninsured_peak_w,
        )
        if spare_energy:
            setpoint = self._with_spare_energy(
                now,
                net_w,
                setpoint,
                level_w,
                energy_wh=energy_wh,
                step_h=step_h,
                power_range_w=power_range,
                export_limit_w=export_limit_w,
                plan=plan,
                uninsured_peak_w=uninsured_peak_w,
                top_is_spare=top_is_spare,
            )
        setpoint, bound_by, phases = self._bounded(
            setpoint,
            grid_phases_w=grid_phases_w,
            battery_power_w=battery_power_w,
            power_range_w=power_range,
        )
        last = self.last_setpoint_w
        if (
            abs(setpoint - last) < 2 * DEADBAND_W
            and net_w + last <= budget
            and lowest <= last <= highest
            and (phases is None or phases.clamp(last) == last)
        ):
            setpoint = last
        self.last_setpoint_w = setpoint
        if bound_by is None and batteries is not None:
            # What a voltage limit held back shows as such, not as "empty".
            over = net_w + setpoint > budget + 1
            if batteries.discharge_stopped and over:
                bound_by = ShavingReason.BATTERY_VOLTAGE_LOW
            elif batteries.charge_stopped and setpoint <= 0 and net_w < budget:
                bound_by = ShavingReason.BATTERY_VOLTAGE_HIGH
        return LimiterStep(budget, setpoint, bound_by)

    def _bounded(
        self,
        setpoint: float,
        *,
        grid_phases_w: Sequence[float | None] | None,
        battery_power_w: float,
        power_range_w: tuple[float, float],
    ) -> tuple[float, ShavingReason | None, PhaseRange | None]:
        """Return the setpoint within the phases' limit and what the battery can do.

        Also whether the phases moved it (None when they did not) and the
        setpoints the phases allow (None without a phase limit). Unseen
        phases allow no recharging: charging could be what overloads the
        phase that cannot be seen; discharging never adds to an import.
        """
        bound_by: ShavingReason | None = None
        allowed: PhaseRange | None = None
        limit = self.settings.phase_limit_w
        if limit is not None:
            readings = list(grid_phases_w or ())
            if len(readings) != 3 or any(value is None for value in readings):
                if setpoint > 0:
                    setpoint, bound_by = 0.0, ShavingReason.PHASES_UNAVAILABLE
            else:
                phases = [float(value) for value in readings if value is not None]
                battery_phases = self.settings.battery_phases
                aimed = phase_range(
                    phases, battery_power_w, battery_phases, limit, DEADBAND_W
                )
                allowed = phase_range(phases, battery_power_w, battery_phases, limit)
                most_discharge, most_charge = power_range_w
                bounded = min(max(aimed.clamp(setpoint), most_discharge), most_charge)
                if bounded != setpoint:
                    bound_by = ShavingReason.PHASE_LIMIT
                setpoint = bounded
        if allowed is not None and (
            not allowed.holdable or allowed.clamp(setpoint) != setpoint
        ):
            bound_by = ShavingReason.PHASE_LIMIT_CANNOT_BE_HELD
        return setpoint, bound_by, allowed

    def _holding(
        self,
        now: datetime,
        net_w: float,
        level_w: float,
        *,
        power_range_w: tuple[float, float],
        export_limit_w: float | None,
        uninsured_peak_w: float | None,
    ) -> tuple[float, float]:
        """Return the interval's budget at ``level_w`` and the setpoint holding it."""
        budget = interval_budget_w(self.meter, now, level_w)
        recharge_level = level_w
        if uninsured_peak_w is not None:
            recharge_level = min(
                level_w, max(uninsured_peak_w, self.meter.billed_peak_w)
            )
        # Aim a deadband below the budget, so that keeping the last setpoint
        # while the meter wobbles never lets the grid over it.
        setpoint = limiter_setpoint(
            net_w,
            budget - DEADBAND_W,
            recharge_level - DEADBAND_W,
            power_range_w,
            export_limit_w=export_limit_w,
        )
        return budget, setpoint

    def _with_spare_energy(
        self,
        now: datetime,
        net_w: float,
        setpoint: float,
        level_w: float,
        *,
        energy_wh: float,
        step_h: float,
        power_range_w: tuple[float, float],
        export_limit_w: float | None,
        plan: Plan | None,
        uninsured_peak_w: float | None,
        top_is_spare: bool,
    ) -> float:
        """Return the setpoint that holds the billed peak with spare energy.

        ``setpoint`` holds the planned level. Discharging beyond it is
        allowed down to the plan's floor at the end of the running plan step
        plus a reserve, and, with ``top_is_spare``, through the battery's top
        band; recharging stops at the lower level unless the battery is
        below the floor already (the plan needs the energy back).
        """
        spare_level = max(self.meter.billed_peak_w, SPARE_LEVEL_SHARE * level_w)
        if plan is None or spare_level >= level_w:
            return setpoint
        _, at_level = self._holding(
            now,
            net_w,
            spare_level,
            power_range_w=power_range_w,
            export_limit_w=export_limit_w,
            uninsured_peak_w=uninsured_peak_w,
        )
        floors = plan.energy_floor_wh
        index = min(max(int((now - plan.start) / plan.step), 0), len(floors) - 2)
        if at_level < 0:
            reserve = SPARE_RESERVE_SHARE * self.battery.capacity_wh
            spare_wh = max(energy_wh - floors[index + 1] - reserve, 0.0)
            if top_is_spare:
                top = self.battery.energy_max_wh - (
                    SPARE_TOP_SHARE * self.battery.capacity_wh
                )
                spare_wh = max(spare_wh, energy_wh - top)
            spare_w = spare_wh * self.battery.discharge_efficiency / step_h
            return -min(-at_level, max(-min(setpoint, 0.0), spare_w))
        if energy_wh < floors[index]:
            return max(setpoint, at_level)
        return at_level
