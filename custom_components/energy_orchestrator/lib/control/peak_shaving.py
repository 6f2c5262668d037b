"""Peak shaving: keep the grid connection under its limits, on the billed quantity.

Demand is billed on interval averages (often 15 minutes), so the limiter
works on those: within the running interval it keeps the import *energy*
within the limit times the interval, whatever the power does for a moment.
Each step it computes the grid power the rest of the interval may still
average (the budget, from the meter in ``billing``) and sets the battery
to the difference with the net load it measures. That is a feedforward,
not an integrating loop: a load step is answered in one step, with nothing
wound up to overshoot with, and a deadband keeps measurement noise from
moving the setpoint.

The limit comes from the user (an import limit, optionally for a time
window) or, without one, from the energy planner: the lowest peak the
battery can hold over the forecast horizon, never below the peak already
billed (going below it saves nothing and spends the battery).
``PeakShaver`` ties the limiter, the planner and the forecasts together; it
is what Home Assistant and ``eo backtest`` drive.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
import math
from typing import Any

from .battery_bank import BankState, battery_power_range
from .billing import (
    BillingPeriod,
    IntervalMeter,
    billing_period_key,
    import_budget_w,
    interval_start_of,
)
from .energy_planner import BatteryLimits, Plan, check_limit, plan_peak
from .forecast import (
    SlotHistory,
    day_scenarios,
    heavy_stretch,
    measured_share,
    net_forecast,
    pv_override,
)
from .forecast_caution import ForecastCaution
from .setpoint_limits import BatteryPhases, PhaseRange, phase_range

# Setpoint changes smaller than this are not made: a meter's noise must not
# move the battery. The limiter aims this far under its budget, which is
# also all the margin recharging keeps: the limiter runs every few seconds
# on the interval's energy, so a load step while the battery charges is
# answered at the next step and the rest of the interval takes the few
# watt-hours back. A wider margin only leaves the battery emptier for the
# next peak.
DEADBAND_W = 25.0
# Days of history kept: yesterday and the seven days before it, for the
# forecasts and for learning their caution, and today.
HISTORY_DAYS = 9
# Energy the battery holds beyond what the plan needs (its floor) is spare:
# it holds the grid at the billed peak instead of the higher planned one, so
# the billed peak does not creep up to a plan made from cautious forecasts
# while the battery is still well charged. A share of the capacity stays on
# top of the floor for forecasts that were not cautious enough, and the
# level spare energy holds is at least this share of the planned peak:
# spending it far below the plan only cycles the battery.
SPARE_RESERVE_SHARE = 0.1
SPARE_LEVEL_SHARE = 0.9
# The top of the battery is spare whenever the battery is in it, whatever
# the floor says: a full battery that lets the billed peak rise, because a
# cautious plan claims all of it for later, raises the peak for certain to
# save a few watt-hours the next headroom gives back. Only once the forecast
# caution has a record, which says the plan over-states most days; before
# that, the plan is all the site knows.
SPARE_TOP_SHARE = 0.05
# A day running lighter than its forecast scales the rest of the forecast
# down: the load measured over the last hours against what the forecast
# said for them, never below the floor (one quiet stretch is no proof) and
# never above one (a heavy stretch already re-plans at once, as soon as the
# battery falls behind the plan; scaling the forecast up as well raised the
# billed peak for evenings that calmed down). The upper forecast a cautious
# site needs is the past days' slot maximum, a day with every day's peaks
# at once; without this a re-plan in the middle of a busy day kept planning
# for that day and raised the peak early. Only once the caution has been
# learned: the first days' forecast has no record to be scaled by.
LOAD_SCALE_WINDOW = timedelta(hours=6)
LOAD_SCALE_FLOOR = 0.9
# A battery this share of its capacity below the plan's floor means the
# load is heavier than forecast: the plan is made again at once (at most
# once per billing interval), not at the next hour, while there is still
# energy to hold a higher peak with instead of running empty.
BEHIND_PLAN_SHARE = 0.02
# Until the caution has a record (the first days, with a day or two of
# history), a load that has run above its forecast for this long is
# insured against: the plan's level also holds the stretch going on as long
# again at its mean. Without it, each re-plan trusts the forecast that the
# heavy stretch ends now, raises the level a little, and runs the battery
# empty while the load is still high (the ratchet). Recharging stops at the
# level the forecast alone needs: the insured rest is for a stretch that may
# not come. Once the record exists it says how far the forecast is to be
# trusted; insuring then as well raised the level on household evenings
# that calmed down (docs/peak-shaving-backtests.md). Shorter stretches are
# what an evening's cooking looks like.
HEAVY_STRETCH_MIN = timedelta(hours=2)
HEAVY_STRETCH_LOOKBACK = timedelta(hours=6)
# The cautious forecast is a day with every past day's peaks at once. For
# the next 24 hours that is the hedge the site needs; a second such day on
# top claims the battery for peaks even less likely to come in a row, and
# the billed peak rose for them on evenings the battery could have held
# (the EMHASS 10 days on 16 March, the SimBench household on Christmas
# evening). A heavy second day is still planned for: each past day
# repeated over the whole horizon is a scenario of the robust peak. So the
# forecast from a day ahead on is this share of the caution.
LATER_DAY_CAUTION_SHARE = 0.75


class ShavingState(StrEnum):
    """What peak shaving is doing."""

    IDLE = "idle"
    SHAVING = "shaving"
    RECHARGING = "recharging"
    CANNOT_HOLD = "cannot_hold"
    STOPPED = "stopped"


@dataclass(frozen=True)
class PeakShavingSettings:
    """What the user sets."""

    import_limit_w: float | None = None
    export_limit_w: float | None = None
    billing_interval: timedelta = timedelta(minutes=15)
    billing_period: BillingPeriod = BillingPeriod.MONTH
    # The site's time zone: billing periods start at its local midnight.
    time_zone: tzinfo = UTC
    horizon: timedelta = timedelta(hours=48)
    replan_every: timedelta = timedelta(hours=1)
    # The most one phase may carry either way (the main fuse), held at every
    # step where the meter measures the phases; and which phases the
    # battery's inverter feeds.
    phase_limit_w: float | None = None
    battery_phases: BatteryPhases = BatteryPhases.THREE

    def validate(self) -> None:
        """Raise ValueError naming what cannot work."""
        if self.import_limit_w is not None and not (
            math.isfinite(self.import_limit_w) and self.import_limit_w >= 0
        ):
            raise ValueError("the import limit must be a number >= 0 W")
        if self.export_limit_w is not None and not (
            math.isfinite(self.export_limit_w) and self.export_limit_w >= 0
        ):
            raise ValueError("the export limit must be a number >= 0 W")
        minutes = self.billing_interval.total_seconds() / 60
        if minutes < 1 or 1440 % minutes:
            raise ValueError(
                "the billing interval must divide a day into whole minutes"
            )
        if self.horizon < timedelta(hours=24):
            raise ValueError("the planning horizon must be at least 24 hours")
        if self.phase_limit_w is not None and not (
            math.isfinite(self.phase_limit_w) and self.phase_limit_w > 0
        ):
            raise ValueError("the phase limit must be a number > 0 W")


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


@dataclass(frozen=True)
class PeakShavingStatus:
    """What peak shaving shows after a step."""

    state: ShavingState
    reason: str
    battery_setpoint_w: float
    active_import_limit_w: float | None
    active_export_limit_w: float | None
    headroom_w: float | None
    billed_average_w: float
    billed_peak_w: float
    planned_peak_w: float | None
    planned_soc_now: float | None
    cannot_hold_from: datetime | None
    plan: tuple[tuple[datetime, float, float], ...] = ()
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


@dataclass
class _LimitOverride:
    """A user's limits, for a while or until changed."""

    import_limit_w: float | None
    export_limit_w: float | None
    until: datetime | None


@dataclass
class _Memory:
    """What the shaver keeps between steps."""

    started: bool = True
    override: _LimitOverride | None = None
    last_setpoint: float = 0.0
    last_plan_at: datetime | None = None
    plan: Plan | None = None
    # The load scale the last plan was made with.
    load_scale: float = 1.0
    # The heavy stretch the last plan insures against (None: none), and the
    # peak the plan had on its forecast alone, where recharging stops.
    heavy_stretch: timedelta | None = None
    uninsured_peak_w: float | None = None
    notes: list[str] = field(default_factory=list)


class PeakShaver:
    """Limiter, planner and forecasts as one unit. See the module doc."""

    def __init__(
        self,
        settings: PeakShavingSettings,
        battery: BatteryLimits,
        *,
        now: datetime,
        saved: Mapping[str, Any] | None = None,
    ) -> None:
        """Start, or resume the billed peak and limits from ``saved``."""
        settings.validate()
        battery.validate()
        self.settings = settings
        self.battery = battery
        interval_s = settings.billing_interval.total_seconds()
        self.meter = IntervalMeter(
            interval_s, settings.billing_period, settings.time_zone
        )
        self.load_history = SlotHistory(settings.billing_interval)
        self.pv_history = SlotHistory(settings.billing_interval)
        self.pv_forecast: list[tuple[datetime, float]] = []
        self.caution = ForecastCaution()
        self.memory = _Memory()
        if saved:
            self._restore(saved, now)
        self._status = self._make_status(now, ShavingState.IDLE, "started", 0.0)

    # --- the user's requests -------------------------------------------

    def start(self, now: datetime) -> None:
        """Start shaving (the default)."""
        self.memory.started = True

    def stop(self, now: datetime) -> None:
        """Stop shaving: the battery is left alone (setpoint 0)."""
        self.memory.started = False

    def reset_billed_peak(self, now: datetime) -> None:
        """Start a new billed peak now (a billing period the calendar does not know)."""
        self.meter.billed_peak_w = 0.0
        self.meter.period_key = billing_period_key(
            now, self.settings.billing_period, self.settings.time_zone
        )
        self.memory.last_plan_at = None  # the plan's floor was the old peak

    def set_limits(
        self,
        now: datetime,
        import_limit_w: float | None,
        export_limit_w: float | None = None,
        until: datetime | None = None,
    ) -> None:
        """Hold these limits (None: from the plan / none), until ``until``."""
        for value in (import_limit_w, export_limit_w):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError("a limit is a number >= 0 W")
        if until is not None and until <= now:
            raise ValueError("the end of the limits' window is in the past")
        self.memory.override = _LimitOverride(import_limit_w, export_limit_w, until)
        self.memory.last_plan_at = None  # re-plan against the new limit

    def active_limits(self, now: datetime) -> tuple[float | None, float | None]:
        """Return the import and export limits in force now."""
        override = self.memory.override
        if (
            override is not None
            and override.until is not None
            and now >= override.until
        ):
            self.memory.override = override = None
            self.memory.last_plan_at = None
        if override is not None:
            return override.import_limit_w, override.export_limit_w
        return self.settings.import_limit_w, self.settings.export_limit_w

    # --- stepping -------------------------------------------------------

    def observe(self, now: datetime, load_w: float | None, pv_w: float | None) -> None:
        """Add a sample of load and PV to the history the forecasts use."""
        self.load_history.add(now, load_w)
        self.pv_history.add(now, pv_w)

    def update(
        self,
        now: datetime,
        *,
        grid_w: float | None,
        battery_power_w: float | None,
        energy_wh: float | None,
        step: timedelta,
        pv_w: float | None = None,
        grid_since_last_w: float | None = None,
        grid_phases_w: Sequence[float | None] | None = None,
        batteries: BankState | None = None,
    ) -> PeakShavingStatus:
        """Decide the battery setpoint for the next ``step``.

        ``grid_w`` is the grid power now, ``battery_power_w`` the battery's
        (> 0 charging), ``energy_wh`` what the battery holds. The billed
        interval books ``grid_since_last_w`` since the previous update when
        given (a backtest knows it exactly), else the reading now.
        ``grid_phases_w`` (L1, L2, L3) is read where the settings hold a
        phase limit. ``batteries`` is a bank's state (``BatteryBank.read``):
        what its batteries can do this step, voltage limits included; the
        power and energy are then the bank's.
        """
        if grid_w is None or battery_power_w is None or energy_wh is None:
            self.memory.last_setpoint = 0.0
            self._status = self._make_status(
                now, ShavingState.IDLE, "inputs_unavailable", 0.0
            )
            return self._status
        self.meter.add(now, grid_w if grid_since_last_w is None else grid_since_last_w)
        net = grid_w - battery_power_w
        self.observe(now, net + (pv_w or 0.0), pv_w or 0.0)
        if not self.memory.started:
            self.memory.last_setpoint = 0.0
            self._status = self._make_status(now, ShavingState.STOPPED, "stopped", 0.0)
            return self._status
        import_limit, export_limit = self.active_limits(now)
        if self._replan_due(now, energy_wh):
            self.replan(now, energy_wh)
        target = self._target(import_limit)
        if target is None:
            self._status = self._make_status(
                now, ShavingState.IDLE, "no_forecast_yet", 0.0
            )
            return self._status
        step_h = step.total_seconds() / 3600
        lowest, highest = battery_power_range(self.battery, energy_wh, step_h)
        if batteries is not None:
            bank_lowest, bank_highest = batteries.power_range_w
            lowest, highest = max(lowest, bank_lowest), min(highest, bank_highest)
        power_range = (lowest, highest)
        budget, setpoint = self._holding(
            now, net, target, power_range_w=power_range, export_limit=export_limit
        )
        if import_limit is None:
            setpoint = self._with_spare_energy(
                now,
                net,
                setpoint,
                target,
                energy_wh=energy_wh,
                step_h=step_h,
                power_range_w=power_range,
                export_limit=export_limit,
            )
        setpoint, bound_by, phases = self._bounded(
            setpoint,
            grid_phases_w=grid_phases_w,
            battery_power_w=battery_power_w,
            power_range_w=power_range,
        )
        last = self.memory.last_setpoint
        if (
            abs(setpoint - last) < 2 * DEADBAND_W
            and net + last <= budget
            and lowest <= last <= highest
            and (phases is None or phases.clamp(last) == last)
        ):
            setpoint = last
        self.memory.last_setpoint = setpoint
        if bound_by is None and batteries is not None:
            # What a voltage limit held back shows as such, not as "empty".
            over = net + setpoint > budget + 1
            if batteries.discharge_stopped and over:
                bound_by = "battery_voltage_low"
            elif batteries.charge_stopped and setpoint <= 0 and net < budget:
                bound_by = "battery_voltage_high"
        state, reason = self._state(net, setpoint, budget, bound_by)
        plan = self.memory.plan
        if state is not ShavingState.CANNOT_HOLD and plan and plan.cannot_hold_from:
            state, reason = ShavingState.CANNOT_HOLD, "limit_cannot_be_held_ahead"
        self._status = self._make_status(
            now,
            state,
            reason,
            setpoint,
            headroom=budget - net,
            phase_headroom=_phase_headroom(self.settings.phase_limit_w, grid_phases_w),
        )
        return self._status

    def _state(
        self, net: float, setpoint: float, budget: float, bound_by: str | None
    ) -> tuple[ShavingState, str]:
        """Return what the step does, and why, from where its setpoint leaves the grid."""
        over = net + setpoint > budget + 1
        if bound_by == "phase_limit_cannot_be_held" or (
            bound_by == "battery_voltage_low" and over
        ):
            return ShavingState.CANNOT_HOLD, bound_by
        if bound_by == "phase_limit":
            # The fuse comes first: the import limit gives way where they clash.
            return (
                ShavingState.CANNOT_HOLD if over else ShavingState.SHAVING
            ), bound_by
        if over and setpoint <= -self.battery.max_discharge_w + 1:
            return ShavingState.CANNOT_HOLD, "battery_power_too_small"
        if over:
            return ShavingState.CANNOT_HOLD, "battery_empty"
        if bound_by is not None:
            # A voltage limit or unseen phases stopped what the budget wanted.
            return ShavingState.IDLE, bound_by
        if setpoint < 0 and net > budget:
            return ShavingState.SHAVING, "above_limit"
        if setpoint < 0:
            # Under the limit, but above the billed peak: spare energy.
            return ShavingState.SHAVING, "above_billed_peak"
        if setpoint > 0:
            return ShavingState.RECHARGING, "headroom"
        return ShavingState.IDLE, "within_limit"

    def _bounded(
        self,
        setpoint: float,
        *,
        grid_phases_w: Sequence[float | None] | None,
        battery_power_w: float,
        power_range_w: tuple[float, float],
    ) -> tuple[float, str | None, PhaseRange | None]:
        """Return the setpoint within the phases' limit and what the battery can do.

        Also whether the phases moved it (a reason code, None when they did
        not) and the setpoints the phases allow (None without a phase limit).
        Unseen phases allow no recharging: charging could be what overloads
        the phase that cannot be seen; discharging never adds to an import.
        """
        bound_by: str | None = None
        allowed: PhaseRange | None = None
        limit = self.settings.phase_limit_w
        if limit is not None:
            readings = list(grid_phases_w or ())
            if len(readings) != 3 or any(value is None for value in readings):
                if setpoint > 0:
                    setpoint, bound_by = 0.0, "phases_unavailable"
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
                    bound_by = "phase_limit"
                setpoint = bounded
        if allowed is not None and (
            not allowed.holdable or allowed.clamp(setpoint) != setpoint
        ):
            bound_by = "phase_limit_cannot_be_held"
        return setpoint, bound_by, allowed

    def _holding(
        self,
        now: datetime,
        net: float,
        level: float,
        *,
        power_range_w: tuple[float, float],
        export_limit: float | None,
    ) -> tuple[float, float]:
        """Return the interval's budget at ``level`` and the setpoint holding it."""
        # What an interval saved early is not spent late: a budget above the
        # level would only make the battery ease off and come back within
        # one interval.
        budget = min(import_budget_w(self.meter, now, level), level)
        recharge_level = level
        uninsured = self.memory.uninsured_peak_w
        if uninsured is not None:
            recharge_level = min(level, max(uninsured, self.meter.billed_peak_w))
        # Aim a deadband below the budget, so that keeping the last setpoint
        # while the meter wobbles never lets the grid over it.
        setpoint = limiter_setpoint(
            net,
            budget - DEADBAND_W,
            recharge_level - DEADBAND_W,
            power_range_w,
            export_limit_w=export_limit,
        )
        return budget, setpoint

    def _with_spare_energy(
        self,
        now: datetime,
        net: float,
        setpoint: float,
        target: float,
        *,
        energy_wh: float,
        step_h: float,
        power_range_w: tuple[float, float],
        export_limit: float | None,
    ) -> float:
        """Return the setpoint that holds the billed peak with spare energy.

        ``setpoint`` holds the planned peak. Discharging beyond it is allowed
        down to the plan's floor at the end of the running plan step plus a
        reserve, and, once the caution is learned, through the battery's top
        band; recharging stops at the lower level unless the battery is
        below the floor already (the plan needs the energy back).
        """
        plan = self.memory.plan
        level = max(self.meter.billed_peak_w, SPARE_LEVEL_SHARE * target)
        if plan is None or level >= target:
            return setpoint
        _, at_level = self._holding(
            now, net, level, power_range_w=power_range_w, export_limit=export_limit
        )
        floors = plan.energy_floor_wh
        index = min(max(int((now - plan.start) / plan.step), 0), len(floors) - 2)
        if at_level < 0:
            reserve = SPARE_RESERVE_SHARE * self.battery.capacity_wh
            spare_wh = max(energy_wh - floors[index + 1] - reserve, 0.0)
            if self.caution.learned:
                top = self.battery.energy_max_wh - (
                    SPARE_TOP_SHARE * self.battery.capacity_wh
                )
                spare_wh = max(spare_wh, energy_wh - top)
            spare_w = spare_wh * self.battery.discharge_efficiency / step_h
            return -min(-at_level, max(-min(setpoint, 0.0), spare_w))
        if energy_wh < floors[index]:
            return max(setpoint, at_level)
        return at_level

    def _target(self, import_limit: float | None) -> float | None:
        """Return the import level the limiter holds."""
        if import_limit is not None:
            return import_limit
        plan = self.memory.plan
        if plan is None:
            return None
        return max(plan.peak_w, self.meter.billed_peak_w)

    def _replan_due(self, now: datetime, energy_wh: float) -> bool:
        """Return whether the plan is missing, old, or behind the battery."""
        last = self.memory.last_plan_at
        if last is None or now - last >= self.settings.replan_every:
            return True
        plan = self.memory.plan
        if plan is None or now - last < self.settings.billing_interval:
            return False
        index = int((now - plan.start) / plan.step)
        if not 0 <= index < len(plan.energy_floor_wh):
            return False
        behind = plan.energy_floor_wh[index] - energy_wh
        return behind > BEHIND_PLAN_SHARE * self.battery.capacity_wh

    def replan(self, now: datetime, energy_wh: float) -> Plan | None:
        """Plan from the forecasts now; None while there is no history yet."""
        step = self.settings.billing_interval
        steps = int(self.settings.horizon / step)
        start = interval_start_of(now, step.total_seconds())
        self.memory.last_plan_at = now
        self.memory.heavy_stretch = self.memory.uninsured_peak_w = None
        net = self._forecast_net(now, start, steps)
        if net is None:
            return None
        import_limit, export_limit = self.active_limits(now)
        if import_limit is not None:
            plan = check_limit(
                start,
                step,
                net,
                self.battery,
                energy_wh=energy_wh,
                limit_w=import_limit,
                export_limit_w=export_limit,
            )
        else:
            plan = plan_peak(
                start,
                step,
                net,
                self.battery,
                energy_wh,
                export_limit_w=export_limit,
                at_least_w=self._robust_peak(start, steps, energy_wh, export_limit),
            )
            plan = self._insured(start, net, plan, energy_wh, export_limit)
        self.memory.plan = plan
        # History older than needed goes.
        oldest = self.load_history.slot_of(now - timedelta(days=HISTORY_DAYS))
        self.load_history.forget_before(oldest)
        self.pv_history.forget_before(oldest)
        return plan

    def _forecast_net(
        self, now: datetime, start: datetime, steps: int
    ) -> list[float] | None:
        """Return the net load (load - PV) forecast per step, None without history."""
        self.caution.learn(now, self.load_history, self.pv_history, self.battery)
        self.memory.load_scale = self._load_scale(start)
        step = self.settings.billing_interval
        caution = self.caution.caution
        return net_forecast(
            self.load_history,
            self.pv_history,
            start,
            steps,
            caution=caution,
            later_caution=LATER_DAY_CAUTION_SHARE * caution,
            load_scale=self.memory.load_scale,
            pv_override=pv_override(start, step, self.pv_forecast)
            if self.pv_forecast
            else None,
        )

    def _load_scale(self, start: datetime) -> float:
        """Return the scale of the load forecast: how the last hours ran against it."""
        if not self.caution.learned:
            return 1.0
        steps = int(LOAD_SCALE_WINDOW / self.settings.billing_interval)
        share = measured_share(
            self.load_history, start, steps, upper_share=self.caution.caution
        )
        if share is None:
            return 1.0
        return min(max(share, LOAD_SCALE_FLOOR), 1.0)

    def _insured(
        self,
        start: datetime,
        net: list[float],
        plan: Plan,
        energy_wh: float,
        export_limit: float | None,
    ) -> Plan:
        """Return ``plan`` with its level raised to hold a heavy stretch going on.

        Only before the caution has a record, and only for a stretch of at
        least ``HEAVY_STRETCH_MIN``: it is planned to last as long again at
        its mean net load. The plan keeps its forecast's floors at the
        raised level; the level it had is kept for recharging.
        """
        if self.caution.learned:
            return plan
        step = self.settings.billing_interval
        stretch = heavy_stretch(
            self.load_history,
            self.pv_history,
            start,
            int(HEAVY_STRETCH_LOOKBACK / step),
            upper_share=self.caution.caution,
            load_scale=self.memory.load_scale,
        )
        if stretch is None or stretch[0] * step < HEAVY_STRETCH_MIN:
            return plan
        length, mean_net_w = stretch
        going_on = [
            max(value, mean_net_w) if index < length else value
            for index, value in enumerate(net)
        ]
        insured = plan_peak(
            start,
            step,
            going_on,
            self.battery,
            energy_wh,
            export_limit_w=export_limit,
            at_least_w=plan.peak_w,
            tolerance_w=5.0,
        )
        # Within the bisection's tolerance the stretch costs nothing.
        if insured.peak_w <= plan.peak_w + 1:
            return plan
        self.memory.heavy_stretch = length * step
        self.memory.uninsured_peak_w = plan.peak_w
        return plan_peak(
            start,
            step,
            net,
            self.battery,
            energy_wh,
            export_limit_w=export_limit,
            at_least_w=insured.peak_w,
        )

    def _robust_peak(
        self,
        start: datetime,
        steps: int,
        energy_wh: float,
        export_limit: float | None,
    ) -> float:
        """Return the peak to aim at: one every recent day could be held at.

        Each past day, repeated over the horizon, is a scenario; the battery
        is planned to hold the worst of their lowest peaks, never below the
        peak already billed. Aiming at the mean forecast's peak instead
        spends the battery on a quiet day and leaves it empty for a heavy
        one.
        """
        step = self.settings.billing_interval
        load = day_scenarios(self.load_history, start, steps)
        pv = (
            day_scenarios(self.pv_history, start, steps) if not self.pv_forecast else []
        )
        # The scale the forecast was made with a moment ago, in this re-plan.
        scale = self.memory.load_scale
        peak = self.meter.billed_peak_w
        for index, scenario in enumerate(load):
            supply = pv[index] if index < len(pv) else [0.0] * steps
            net = [
                scale * demand - power
                for demand, power in zip(scenario, supply, strict=True)
            ]
            plan = plan_peak(
                start,
                step,
                net,
                self.battery,
                energy_wh,
                export_limit_w=export_limit,
                at_least_w=peak,
                tolerance_w=5.0,
            )
            peak = max(peak, plan.peak_w)
        return peak

    # --- showing and keeping ---------------------------------------------

    @property
    def status(self) -> PeakShavingStatus:
        """Return the status of the last step."""
        return self._status

    def _make_status(
        self,
        now: datetime,
        state: ShavingState,
        reason: str,
        setpoint: float,
        *,
        headroom: float | None = None,
        phase_headroom: float | None = None,
    ) -> PeakShavingStatus:
        """Assemble the status."""
        import_limit, export_limit = self.active_limits(now)
        plan = self.memory.plan
        planned_soc = None
        rows: tuple[tuple[datetime, float, float], ...] = ()
        if plan is not None and self.battery.capacity_wh > 0:
            index = int((now - plan.start) / plan.step)
            if 0 <= index < len(plan.energy_ceiling_wh):
                planned_soc = (
                    100 * plan.energy_ceiling_wh[index] / self.battery.capacity_wh
                )
            rows = tuple(
                (
                    plan.start + i * plan.step,
                    100 * plan.energy_ceiling_wh[i] / self.battery.capacity_wh,
                    plan.grid_w[i],
                )
                for i in range(len(plan.grid_w))
            )
        return PeakShavingStatus(
            state=state,
            reason=reason,
            battery_setpoint_w=setpoint,
            active_import_limit_w=import_limit
            if import_limit is not None
            else (self._target(None) if self.memory.started else None),
            active_export_limit_w=export_limit,
            headroom_w=headroom,
            billed_average_w=self.meter.average_import_w(),
            billed_peak_w=self.meter.billed_peak_w,
            planned_peak_w=plan.peak_w if plan else None,
            planned_soc_now=planned_soc,
            cannot_hold_from=plan.cannot_hold_from if plan else None,
            plan=rows,
            forecast_caution=self.caution.caution,
            load_scale=self.memory.load_scale,
            heavy_stretch_h=self.memory.heavy_stretch.total_seconds() / 3600
            if self.memory.heavy_stretch
            else 0.0,
            phase_headroom_w=phase_headroom,
        )

    def snapshot(self) -> dict[str, Any]:
        """Return what a restart must keep: the billed peak, limits, started.

        And what was learned of the forecasts' caution: the recorder seeds
        only the past week, too short to learn it again.
        """
        override = self.memory.override
        return {
            "version": 1,
            "billed_peak_w": self.meter.billed_peak_w,
            "billing_period": self.meter.period_key,
            "started": self.memory.started,
            "forecast_caution": self.caution.snapshot(),
            "override": None
            if override is None
            else {
                "import_limit_w": override.import_limit_w,
                "export_limit_w": override.export_limit_w,
                "until": override.until.isoformat() if override.until else None,
            },
        }

    def _restore(self, saved: Mapping[str, Any], now: datetime) -> None:
        """Take a snapshot back; raise ValueError if it is not one."""
        if saved.get("version") != 1:
            raise ValueError(
                f"saved peak-shaving state has version {saved.get('version')!r}"
            )
        peak = float(saved["billed_peak_w"])
        if not (math.isfinite(peak) and peak >= 0):
            raise ValueError("saved billed peak is not a power")
        self.meter.billed_peak_w = peak
        # Older snapshots carry no period: their peak counts for the running one.
        key = saved.get("billing_period")
        self.meter.period_key = (
            str(key)
            if key is not None
            else billing_period_key(
                now, self.settings.billing_period, self.settings.time_zone
            )
        )
        self.memory.started = bool(saved["started"])
        # Older snapshots learned nothing yet: the caution starts at its maximum.
        caution = saved.get("forecast_caution")
        if caution is not None:
            if not isinstance(caution, Mapping):
                raise ValueError("saved forecast caution is not a coverage record")
            self.caution = ForecastCaution.restore(caution)
        override = saved.get("override")
        if override is not None:
            until = override.get("until")
            self.memory.override = _LimitOverride(
                override.get("import_limit_w"),
                override.get("export_limit_w"),
                datetime.fromisoformat(until) if until else None,
            )


def _phase_headroom(
    limit_w: float | None, grid_phases_w: Sequence[float | None] | None
) -> float | None:
    """Return how far the busiest phase is from the limit, None if unknown."""
    if limit_w is None or not grid_phases_w or None in grid_phases_w:
        return None
    return min(limit_w - abs(value) for value in grid_phases_w if value is not None)
