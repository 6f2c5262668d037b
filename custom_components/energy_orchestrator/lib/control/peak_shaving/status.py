"""What peak shaving shows after a step: its state, why, and the plan."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ..energy_planner import Plan


class ShavingState(StrEnum):
    """What peak shaving is doing."""

    IDLE = "idle"
    SHAVING = "shaving"
    RECHARGING = "recharging"
    CANNOT_HOLD = "cannot_hold"
    STOPPED = "stopped"


class ShavingReason(StrEnum):
    """Why peak shaving is in its state: the state's ``reason`` attribute shows the value."""

    STARTED = "started"
    STOPPED = "stopped"
    INPUTS_UNAVAILABLE = "inputs_unavailable"
    NO_FORECAST_YET = "no_forecast_yet"
    # Where the step leaves the grid against the interval's budget.
    ABOVE_LIMIT = "above_limit"
    ABOVE_BILLED_PEAK = "above_billed_peak"  # under the limit: spare energy
    HEADROOM = "headroom"
    WITHIN_LIMIT = "within_limit"
    BATTERY_EMPTY = "battery_empty"
    BATTERY_POWER_TOO_SMALL = "battery_power_too_small"
    # The plan says the limit cannot be held further on.
    LIMIT_CANNOT_BE_HELD_AHEAD = "limit_cannot_be_held_ahead"
    # What held the setpoint back: the battery's voltage or the phases.
    BATTERY_VOLTAGE_LOW = "battery_voltage_low"
    BATTERY_VOLTAGE_HIGH = "battery_voltage_high"
    PHASE_LIMIT = "phase_limit"
    PHASE_LIMIT_CANNOT_BE_HELD = "phase_limit_cannot_be_held"
    PHASES_UNAVAILABLE = "phases_unavailable"


@dataclass(frozen=True)
class PlanRow:
    """One step of the plan, as a chart draws it."""

    start: datetime
    # The SOC (%) the plan has the battery at when the step starts.
    soc: float
    # The grid power (W) if the plan is followed, and without the battery.
    grid_w: float
    net_load_w: float | None


@dataclass(frozen=True)
class PeakShavingStatus:
    """What peak shaving shows after a step."""

    state: ShavingState
    reason: ShavingReason
    battery_setpoint_w: float
    active_import_limit_w: float | None
    active_export_limit_w: float | None
    headroom_w: float | None
    billed_average_w: float
    billed_peak_w: float
    planned_peak_w: float | None
    planned_soc_now: float | None
    cannot_hold_from: datetime | None
    plan: tuple[PlanRow, ...] = ()
    # How far from the past days' mean to their maximum the load forecast is.
    forecast_caution: float = 1.0
    # The scale of the last plan's load forecast (the day so far against it).
    load_scale: float = 1.0
    # How long the heavy stretch the last plan insures against had run (h),
    # 0 when it insures none.
    heavy_stretch_h: float = 0.0
    # How far the busiest phase is from the phase limit now (W), where the
    # limit is set and the phases are measured.
    phase_headroom_w: float | None = None
    # The least SOC (%) that still holds the planned peak from now on: the
    # reserve other controllers leave in the battery (None: no plan).
    reserve_soc: float | None = None
    # How far the level is raised for requests above the peak limit (W; a
    # deadline car's), and who asked.
    peak_lift_w: float = 0.0
    lifted_by: tuple[str, ...] = ()
    # How far the site's import before the battery is from the grid
    # connection's limit (W), where one is set: the room no request lifts.
    connection_headroom_w: float | None = None


def classify(
    net_w: float,
    setpoint_w: float,
    budget_w: float,
    bound_by: ShavingReason | None,
    *,
    max_discharge_w: float,
) -> tuple[ShavingState, ShavingReason]:
    """Return what a step does, and why, from where its setpoint leaves the grid.

    ``bound_by`` is what held the setpoint back (the phases, the battery's
    voltage), None when nothing did.
    """
    over = net_w + setpoint_w > budget_w + 1
    if bound_by is ShavingReason.PHASE_LIMIT_CANNOT_BE_HELD or (
        bound_by is ShavingReason.BATTERY_VOLTAGE_LOW and over
    ):
        return ShavingState.CANNOT_HOLD, bound_by
    if bound_by is ShavingReason.PHASE_LIMIT:
        # The fuse comes first: the import limit gives way where they clash.
        return (ShavingState.CANNOT_HOLD if over else ShavingState.SHAVING), bound_by
    if over and setpoint_w <= -max_discharge_w + 1:
        return ShavingState.CANNOT_HOLD, ShavingReason.BATTERY_POWER_TOO_SMALL
    if over:
        return ShavingState.CANNOT_HOLD, ShavingReason.BATTERY_EMPTY
    if bound_by is not None:
        # A voltage limit or unseen phases stopped what the budget wanted.
        return ShavingState.IDLE, bound_by
    if setpoint_w < 0 and net_w > budget_w:
        return ShavingState.SHAVING, ShavingReason.ABOVE_LIMIT
    if setpoint_w < 0:
        # Under the limit, but above the billed peak: spare energy.
        return ShavingState.SHAVING, ShavingReason.ABOVE_BILLED_PEAK
    if setpoint_w > 0:
        return ShavingState.RECHARGING, ShavingReason.HEADROOM
    return ShavingState.IDLE, ShavingReason.WITHIN_LIMIT


def planned_soc(plan: Plan | None, capacity_wh: float, now: datetime) -> float | None:
    """Return the SOC (%) the plan has the battery at now, None outside it."""
    if plan is None or capacity_wh <= 0:
        return None
    index = int((now - plan.start) / plan.step)
    if 0 <= index < len(plan.energy_ceiling_wh):
        return 100 * plan.energy_ceiling_wh[index] / capacity_wh
    return None


def reserve_soc(plan: Plan | None, capacity_wh: float, now: datetime) -> float | None:
    """Return the SOC (%) the plan needs held from now on, None when it needs none.

    The higher of the floors at both ends of the running step: energy sold
    during the step must not leave the next one short. A floor at the
    battery's minimum (the plan's last floor) holds nothing for later.
    """
    if plan is None or capacity_wh <= 0:
        return None
    floors = plan.energy_floor_wh
    index = int((now - plan.start) / plan.step)
    if not 0 <= index < len(floors) - 1:
        return None
    needed_wh = max(floors[index], floors[index + 1])
    if needed_wh <= floors[-1] + 1e-6:
        return None
    return 100 * needed_wh / capacity_wh


def reserve_ahead(
    plan: Plan | None, capacity_wh: float, now: datetime
) -> tuple[tuple[datetime, float], ...]:
    """Return the SOC (%) the plan needs held from each step's start on, from now.

    What a price plan on the same battery charges to in the cheap hours
    before the peak needs it; empty without a plan.
    """
    if plan is None or capacity_wh <= 0:
        return ()
    floors = plan.energy_floor_wh
    first = max(int((now - plan.start) / plan.step), 0)
    return tuple(
        (plan.start + index * plan.step, 100 * floors[index] / capacity_wh)
        for index in range(first, len(floors))
    )


def plan_rows(plan: Plan | None, capacity_wh: float) -> tuple[PlanRow, ...]:
    """Return the plan step by step, for a chart."""
    if plan is None or capacity_wh <= 0:
        return ()
    return tuple(
        PlanRow(
            start=plan.start + i * plan.step,
            soc=100 * plan.energy_ceiling_wh[i] / capacity_wh,
            grid_w=plan.grid_w[i],
            net_load_w=plan.net_w[i] if i < len(plan.net_w) else None,
        )
        for i in range(len(plan.grid_w))
    )
