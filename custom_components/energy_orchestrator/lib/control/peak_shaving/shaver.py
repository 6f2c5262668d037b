"""``PeakShaver``: the limiter, the planner and the forecasts as one unit."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ...rounding import PERCENT_DECIMALS, WATT_DECIMALS, rounded, rounded_or_none
from ..battery_bank import BankState
from ..billing import IntervalMeter, billing_period_key, interval_start_of
from ..energy_planner import BatteryLimits, Plan
from ..ev_deadline import RoomAhead
from .forecaster import Forecaster, HistoryForecaster
from .limiter import Limiter, phase_headroom
from .planner import Planner
from .settings import LimitOverride, PeakShavingSettings
from .snapshot import Snapshot
from .status import (
    PeakShavingStatus,
    ShavingReason,
    ShavingState,
    classify,
    plan_rows,
    planned_soc,
    reserve_soc,
)


@dataclass
class ShaverMemory:
    """What the shaver keeps between steps: the user's requests and the plan."""

    started: bool = True
    override: LimitOverride | None = None
    # None: plan again at the next step.
    last_plan_at: datetime | None = None
    plan: Plan | None = None
    # The heavy stretch the plan insures against (None: none), and the peak
    # the plan had on its forecast alone, where recharging stops.
    heavy_stretch: timedelta | None = None
    uninsured_peak_w: float | None = None


class PeakShaver:
    """Limiter, planner and forecasts as one unit; what Home Assistant and ``eo backtest`` drive."""

    def __init__(
        self,
        settings: PeakShavingSettings,
        battery: BatteryLimits,
        *,
        now: datetime,
        saved: Mapping[str, Any] | None = None,
        forecaster: Forecaster | None = None,
    ) -> None:
        """Start, or resume the billed peak and limits from ``saved``.

        ``forecaster`` replaces the forecasts from the site's history.
        """
        settings.validate()
        battery.validate()
        self.settings = settings
        self.battery = battery
        interval_s = settings.billing_interval.total_seconds()
        self.meter = IntervalMeter(
            interval_s, settings.billing_period, settings.time_zone
        )
        self.forecaster: Forecaster = (
            forecaster
            if forecaster is not None
            else HistoryForecaster(settings.billing_interval, battery)
        )
        self.memory = ShaverMemory()
        # The level the last step held before any lift (None: none held),
        # and the lifts it held on top, by who asked (W).
        self.held_level_w: float | None = None
        self.lifts_w: dict[str, float] = {}
        self.planner = Planner(settings, battery, self.forecaster)
        self.limiter = Limiter(settings, battery, self.meter)
        if saved:
            self._restore(Snapshot.read(saved, now=now, settings=settings))
        self._status = self._make_status(
            now, ShavingState.IDLE, ShavingReason.STARTED, 0.0
        )

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
        self.memory.override = LimitOverride.asked(
            now, import_limit_w, export_limit_w, until
        )
        self.memory.last_plan_at = None  # re-plan against the new limit

    def active_limits(self, now: datetime) -> tuple[float | None, float | None]:
        """Return the import and export limits in force now."""
        override = self.memory.override
        if override is not None and override.expired(now):
            self.memory.override = override = None
            self.memory.last_plan_at = None
        if override is not None:
            return override.import_limit_w, override.export_limit_w
        return self.settings.import_limit_w, self.settings.export_limit_w

    # --- the forecasts' inputs -------------------------------------------

    @property
    def pv_forecast(self) -> list[tuple[datetime, float]]:
        """Return the PV forecast the forecasts use, (start, W) per period."""
        return self.forecaster.pv_forecast

    @pv_forecast.setter
    def pv_forecast(self, series: list[tuple[datetime, float]]) -> None:
        """Use this PV forecast (empty: PV from its history)."""
        self.forecaster.pv_forecast = series

    def observe(self, now: datetime, load_w: float | None, pv_w: float | None) -> None:
        """Add a sample of load and PV to the history the forecasts use."""
        self.forecaster.observe(now, load_w, pv_w)

    # --- stepping -------------------------------------------------------

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
        lifts_w: Mapping[str, float] | None = None,
        controllable_w: float = 0.0,
    ) -> PeakShavingStatus:
        """Decide the battery setpoint for the next ``step``.

        ``grid_w`` is the grid power now, ``battery_power_w`` the battery's
        (> 0 charging), ``energy_wh`` what the battery holds. The billed
        interval books ``grid_since_last_w`` since the previous update when
        given (a backtest knows it exactly), else the reading now.
        ``grid_phases_w`` (L1, L2, L3) is read where the settings hold a
        phase limit. ``batteries`` is a bank's state (``BatteryBank.read``):
        what its batteries can do this step, voltage limits included; the
        power and energy are then the bank's. ``lifts_w``: the lifts of the
        level a request above the peak limit needs (a deadline car's), by
        who asks: the level is raised by their sum for this step.
        ``controllable_w``: what other controllers' loads (a car, flexible
        loads) draw now; they take the room rather than make it, so the load
        learned leaves them out.
        """
        self.held_level_w, self.lifts_w = None, {}
        if grid_w is None or battery_power_w is None or energy_wh is None:
            self.limiter.last_setpoint_w = 0.0
            self._status = self._make_status(
                now, ShavingState.IDLE, ShavingReason.INPUTS_UNAVAILABLE, 0.0
            )
            return self._status
        self.meter.add(now, grid_w if grid_since_last_w is None else grid_since_last_w)
        net = grid_w - battery_power_w
        self.observe(now, net - controllable_w + (pv_w or 0.0), pv_w or 0.0)
        if not self.memory.started:
            self.limiter.last_setpoint_w = 0.0
            self._status = self._make_status(
                now, ShavingState.STOPPED, ShavingReason.STOPPED, 0.0
            )
            return self._status
        import_limit, export_limit = self.active_limits(now)
        if self.planner.due(
            now,
            energy_wh,
            last_plan_at=self.memory.last_plan_at,
            plan=self.memory.plan,
        ):
            self.replan(now, energy_wh)
        level = self._level(import_limit)
        if level is None:
            self._status = self._make_status(
                now, ShavingState.IDLE, ShavingReason.NO_FORECAST_YET, 0.0
            )
            return self._status
        self.held_level_w = level
        connection = self.settings.connection_limit_w
        self.lifts_w = {
            source: lift for source, lift in (lifts_w or {}).items() if lift > 0
        }
        limited = self.limiter.step(
            now,
            net,
            level + self.peak_lift_w,
            energy_wh=energy_wh,
            battery_power_w=battery_power_w,
            step=step,
            export_limit_w=export_limit,
            grid_phases_w=grid_phases_w,
            batteries=batteries,
            plan=self.memory.plan,
            uninsured_peak_w=self.memory.uninsured_peak_w,
            spare_energy=import_limit is None,
            top_is_spare=self.forecaster.caution.learned,
        )
        state, reason = classify(
            net,
            limited.setpoint_w,
            limited.budget_w,
            limited.bound_by,
            max_discharge_w=self.battery.max_discharge_w,
        )
        plan = self.memory.plan
        if state is not ShavingState.CANNOT_HOLD and plan and plan.cannot_hold_from:
            state = ShavingState.CANNOT_HOLD
            reason = ShavingReason.LIMIT_CANNOT_BE_HELD_AHEAD
        self._status = self._make_status(
            now,
            state,
            reason,
            limited.setpoint_w,
            headroom=limited.budget_w - net,
            phase_headroom=phase_headroom(self.settings.phase_limit_w, grid_phases_w),
            connection_headroom=None if connection is None else connection - net,
        )
        return self._status

    @property
    def peak_lift_w(self) -> float:
        """Return how far the last step raised its level for requests above it (W).

        Never past the grid connection's limit: a lift is a request, the
        connection's limit safety.
        """
        lift = sum(self.lifts_w.values())
        connection, level = self.settings.connection_limit_w, self.held_level_w
        if connection is None or level is None:
            return lift
        return min(lift, max(connection - level, 0.0))

    def room_ahead(self) -> RoomAhead | None:
        """Return the room under the level held, per plan step, before the battery.

        The level less the plan's forecast net load, without the lifts
        (they are their askers' own), and the connection's limit less it
        where one is set; None without a plan or a level.
        """
        plan = self.memory.plan
        level = self.held_level_w
        if plan is None or level is None or not plan.net_w:
            return None
        connection = self.settings.connection_limit_w
        return RoomAhead(
            plan.start,
            plan.step,
            tuple(level - net for net in plan.net_w),
            None
            if connection is None
            else tuple(connection - net for net in plan.net_w),
        )

    def _level(self, import_limit: float | None) -> float | None:
        """Return the import level the limiter holds: the user's, else the plan's.

        Never above the grid connection's limit (safety before the peak).
        """
        level = import_limit
        plan = self.memory.plan
        if level is None and plan is not None:
            level = max(plan.peak_w, self.meter.billed_peak_w)
        connection = self.settings.connection_limit_w
        if level is None or connection is None:
            return level
        return min(level, connection)

    def replan(self, now: datetime, energy_wh: float) -> Plan | None:
        """Plan from the forecasts now; None while there is no history yet."""
        step = self.settings.billing_interval
        steps = int(self.settings.horizon / step)
        start = interval_start_of(now, step.total_seconds())
        self.memory.last_plan_at = now
        self.memory.heavy_stretch = self.memory.uninsured_peak_w = None
        net = self.forecaster.forecast(now, start, steps)
        if net is None:
            return None
        import_limit, export_limit = self.active_limits(now)
        connection = self.settings.connection_limit_w
        if import_limit is not None and connection is not None:
            # The limiter holds no more than the connection: nor does the plan.
            import_limit = min(import_limit, connection)
        plan, insurance = self.planner.plan(
            start,
            steps,
            net,
            energy_wh=energy_wh,
            billed_peak_w=self.meter.billed_peak_w,
            import_limit_w=import_limit,
            export_limit_w=export_limit,
        )
        if insurance is not None:
            self.memory.heavy_stretch = insurance.stretch
            self.memory.uninsured_peak_w = insurance.uninsured_peak_w
        self.memory.plan = plan
        self.forecaster.forget(now)
        return plan

    # --- showing and keeping ---------------------------------------------

    @property
    def status(self) -> PeakShavingStatus:
        """Return the status of the last step."""
        return self._status

    def _make_status(
        self,
        now: datetime,
        state: ShavingState,
        reason: ShavingReason,
        setpoint: float,
        *,
        headroom: float | None = None,
        phase_headroom: float | None = None,
        connection_headroom: float | None = None,
    ) -> PeakShavingStatus:
        """Assemble the status, its figures rounded to what they are worth.

        Powers are sums and averages of measured ones: 0.1 W, as the meters
        they come from, so no -4e-12 W and no 968.000000000004 W. The
        setpoint is a command, not a figure: it goes out as computed, and the
        driver writes it at its register's resolution.
        """
        import_limit, export_limit = self.active_limits(now)
        plan = self.memory.plan
        capacity = self.battery.capacity_wh
        if import_limit is not None or self.memory.started:
            import_limit = self._level(import_limit)
        return PeakShavingStatus(
            state=state,
            reason=reason,
            battery_setpoint_w=setpoint,
            active_import_limit_w=rounded_or_none(
                None if import_limit is None else import_limit + self.peak_lift_w,
                WATT_DECIMALS,
            ),
            active_export_limit_w=rounded_or_none(export_limit, WATT_DECIMALS),
            headroom_w=rounded_or_none(headroom, WATT_DECIMALS),
            billed_average_w=rounded(self.meter.average_import_w(), WATT_DECIMALS),
            billed_peak_w=rounded(self.meter.billed_peak_w, WATT_DECIMALS),
            planned_peak_w=rounded(plan.peak_w, WATT_DECIMALS) if plan else None,
            planned_soc_now=rounded_or_none(
                planned_soc(plan, capacity, now), PERCENT_DECIMALS
            ),
            cannot_hold_from=plan.cannot_hold_from if plan else None,
            plan=plan_rows(plan, capacity),
            forecast_caution=self.forecaster.caution.caution,
            load_scale=self.forecaster.load_scale,
            heavy_stretch_h=self.memory.heavy_stretch.total_seconds() / 3600
            if self.memory.heavy_stretch
            else 0.0,
            phase_headroom_w=rounded_or_none(phase_headroom, WATT_DECIMALS),
            reserve_soc=rounded_or_none(
                reserve_soc(plan, capacity, now) if self.memory.started else None,
                PERCENT_DECIMALS,
            ),
            peak_lift_w=rounded(self.peak_lift_w, WATT_DECIMALS),
            lifted_by=tuple(sorted(self.lifts_w)),
            connection_headroom_w=rounded_or_none(connection_headroom, WATT_DECIMALS),
        )

    def snapshot(self) -> dict[str, Any]:
        """Return what a restart must keep (see ``snapshot``)."""
        return Snapshot(
            billed_peak_w=self.meter.billed_peak_w,
            billing_period=self.meter.period_key,
            started=self.memory.started,
            forecast_caution=self.forecaster.caution,
            override=self.memory.override,
        ).as_dict()

    def _restore(self, saved: Snapshot) -> None:
        """Take a snapshot back."""
        self.meter.billed_peak_w = saved.billed_peak_w
        self.meter.period_key = saved.billing_period
        self.memory.started = saved.started
        if saved.forecast_caution is not None:
            self.forecaster.caution = saved.forecast_caution
        if saved.override is not None:
            self.memory.override = saved.override
