"""``eo backtest``: peak-shaving strategies replayed on a measured profile.

Every strategy runs the same battery over the profile (``profile``) in
simulated time, the controller seeing the grid meter at the start of each
step and setting the battery for the step:

- ``none``: no battery.
- ``reactive``: the common threshold controller. It discharges when the
  grid exceeds its limit and recharges when the grid is below 80 % of it,
  through a PI filter on the measured grid power. Without an import limit
  it sets its own each midnight by the usual sizing rule: the highest
  interval average of the past seven days less 80 % of the battery's power.
- ``orchestrator``: ``PeakShaver``, the code Home Assistant runs: the
  limiter on the billed interval, re-planning every hour from forecasts it
  builds from the past it has seen (never the future).
- ``perfect_forecast``: the orchestrator again, its forecaster replaced by
  one that knows the real net load of the next 48 hours. It tells what the
  forecasts cost: the gap from ``orchestrator`` to it is theirs, the gap
  from it to ``optimal`` is the limiter's and the horizon's.
- ``optimal``: perfect foresight, the lower bound: the energy planner run
  once over the whole profile with the real values, at interval resolution.

The profile's warm-up is history: the orchestrator is given it (and the
reactive controller its sizing days), and every strategy, ``optimal``
included, is scored on the rest, starting with a full battery.

Energy balances at every step (grid = load - PV + charge - discharge); the
backtest checks it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
import math
from typing import Any

from custom_components.energy_orchestrator.lib.control.billing import BillingPeriod
from custom_components.energy_orchestrator.lib.control.energy_planner import (
    BatteryLimits,
    hold,
    plan_peak,
)
from custom_components.energy_orchestrator.lib.control.forecast import SlotHistory
from custom_components.energy_orchestrator.lib.control.forecast_caution import (
    ForecastCaution,
)
from custom_components.energy_orchestrator.lib.control.peak_shaving import (
    PeakShaver,
    PeakShavingSettings,
)
from eo_lab.backtest.battery import Battery, battery_limits
from eo_lab.backtest.profile import (
    Series,
    interval_averages,
    scored_window,
    split_warmup,
)

# The reactive controller's PI gains (per step, on the error in W) and its
# recharge threshold as a share of its limit.
REACTIVE_KP = 0.6
REACTIVE_KI = 0.2
REACTIVE_RECHARGE_SHARE = 0.8
REACTIVE_SIZING_DAYS = 7
REACTIVE_SIZING_SHARE = 0.8
STRATEGIES = ("none", "reactive", "orchestrator", "perfect_forecast", "optimal")


@dataclass
class Tally:
    """Figures of one strategy's run."""

    interval_steps: int
    step_h: float
    import_limit_w: float | None
    grid: list[float]
    throughput_wh: float = 0.0
    soc_min: float = math.inf
    soc_max: float = -math.inf

    @classmethod
    def of(cls, series: Series, per: int, limit: float | None) -> Tally:
        """Return an empty tally for a run over ``series``."""
        return cls(per, series.step.total_seconds() / 3600, limit, [])

    def book(self, load: float, pv: float, battery_w: float, soc: float) -> None:
        """Book one step, checking the balance."""
        grid = load - pv + battery_w
        charge, discharge = max(battery_w, 0.0), max(-battery_w, 0.0)
        if not math.isclose(grid, load - pv + charge - discharge, abs_tol=1e-6):
            raise AssertionError("energy does not balance")
        self.grid.append(grid)
        self.throughput_wh += abs(battery_w) * self.step_h
        self.soc_min = min(self.soc_min, soc)
        self.soc_max = max(self.soc_max, soc)

    def figures(self) -> dict[str, Any]:
        """Return the figures the benchmarks' table (docs/benchmarks.md) shows."""
        per = self.interval_steps
        averages = [
            sum(self.grid[i : i + per]) / len(self.grid[i : i + per])
            for i in range(0, len(self.grid), per)
        ]
        limit = self.import_limit_w
        return {
            "peak_import_w": round(max(*averages, 0.0), 1),
            "import_kwh": round(
                sum(max(g, 0.0) for g in self.grid) * self.step_h / 1000, 2
            ),
            "export_kwh": round(
                sum(max(-g, 0.0) for g in self.grid) * self.step_h / 1000, 2
            ),
            "battery_throughput_kwh": round(self.throughput_wh / 1000, 2),
            "soc_min": round(self.soc_min, 1),
            "soc_max": round(self.soc_max, 1),
            "limit_violations": 0
            if limit is None
            else sum(1 for a in averages if a > limit + 1),
        }


def run_backtest(
    series: Series,
    *,
    battery_kwh: float,
    battery_kw: float,
    import_limit_w: float | None = None,
    interval: timedelta = timedelta(minutes=15),
) -> dict[str, Any]:
    """Run every strategy over the series; return the scored window and ``strategies``."""
    if interval.total_seconds() % series.step.total_seconds():
        raise ValueError(f"the billing interval must be a multiple of {series.step}")
    limits = battery_limits(battery_kwh, battery_kw)
    per = int(interval / series.step)
    history, scored = split_warmup(series, interval)
    orchestrate = partial(
        _run_orchestrator,
        history,
        scored,
        limits=limits,
        per=per,
        import_limit=import_limit_w,
        interval=interval,
    )
    return {
        **scored_window(scored),
        "strategies": {
            "none": _run_none(scored, limits, per, import_limit_w),
            "reactive": _run_reactive(history, scored, limits, per, import_limit_w),
            "orchestrator": orchestrate(),
            "perfect_forecast": orchestrate(perfect_forecast=True),
            "optimal": _run_optimal(scored, limits, per, import_limit_w, interval),
        },
    }


def _run_none(
    series: Series, limits: BatteryLimits, per: int, limit: float | None
) -> dict[str, Any]:
    """Run the site without a battery."""
    tally = Tally.of(series, per, limit)
    soc = limits.soc_max
    for load, pv in zip(series.load_w, series.pv_w, strict=True):
        tally.book(load, pv, 0.0, soc)
    figures = tally.figures()
    figures["battery_throughput_kwh"] = 0.0
    return figures


def _run_reactive(
    history: Series,
    series: Series,
    limits: BatteryLimits,
    per: int,
    import_limit: float | None,
) -> dict[str, Any]:
    """Run the threshold controller with a PI filter (see the module doc)."""
    tally = Tally.of(series, per, import_limit)
    step_h = tally.step_h
    battery = Battery(limits, limits.energy_max_wh)
    steps_per_day = round(24 / step_h)
    integral = 0.0
    setpoint = 0.0
    charge_filtered = 0.0
    averages = interval_averages(history, per)
    limit = import_limit if import_limit is not None else math.inf
    if import_limit is None and averages:
        limit = max(max(averages) - REACTIVE_SIZING_SHARE * limits.max_discharge_w, 0.0)
    for index, (load, pv) in enumerate(zip(series.load_w, series.pv_w, strict=True)):
        if import_limit is None and index and index % steps_per_day == 0:
            recent = averages[-REACTIVE_SIZING_DAYS * steps_per_day // per :]
            limit = max(
                max(recent) - REACTIVE_SIZING_SHARE * limits.max_discharge_w, 0.0
            )
        # The meter shows the new load with the battery still at its last setpoint.
        grid = load - pv + setpoint
        error = grid - limit if math.isfinite(limit) else -math.inf
        if error > 0 or integral > 0:
            integral = min(
                max(integral + REACTIVE_KI * error, 0.0), limits.max_discharge_w
            )
            discharge = min(
                max(REACTIVE_KP * error + integral, 0.0), limits.max_discharge_w
            )
            wanted = setpoint - discharge if setpoint < 0 else -discharge
            wanted = max(wanted, -limits.max_discharge_w)
            charge_filtered = 0.0
        elif math.isfinite(limit) and grid < REACTIVE_RECHARGE_SHARE * limit:
            room = REACTIVE_RECHARGE_SHARE * limit - (load - pv)
            charge_filtered = 0.5 * charge_filtered + 0.5 * max(
                min(room, limits.max_charge_w), 0.0
            )
            wanted = charge_filtered
        else:
            wanted = 0.0
        setpoint = battery.run(wanted, step_h)
        tally.book(load, pv, setpoint, battery.soc)
        if (index + 1) % per == 0:
            averages.append(sum(tally.grid[-per:]) / per)
    return tally.figures()


class PerfectForecaster:
    """A forecaster that knows the real net load ahead.

    With nothing left to hedge against it offers no past-day scenarios and
    no heavy stretch, and learns no caution: the plan aims at the lowest
    peak of the real horizon, and everything else, the limiter, spare
    energy, re-planning, is the orchestrator's own.
    """

    def __init__(self, future: SlotHistory) -> None:
        """Know the real net load, averaged per billing interval."""
        self.future = future
        self.caution = ForecastCaution()
        self.load_scale = 1.0
        self.pv_forecast: list[tuple[datetime, float]] = []

    def observe(self, now: datetime, load_w: float | None, pv_w: float | None) -> None:
        """Take nothing from the past: the future is known."""

    def forecast(
        self, now: datetime, start: datetime, steps: int
    ) -> list[float] | None:
        """Return the real net load of the horizon (shorter at the profile's end)."""
        first = self.future.slot_of(start)
        values: list[float] = []
        for slot in range(first, first + steps):
            value = self.future.mean(slot)
            if value is None:
                break
            values.append(value)
        return values or None

    def scenarios(self, start: datetime, steps: int) -> list[list[float]]:
        """Return none: a known future needs no scenarios."""
        return []

    def heavy_stretch(self, start: datetime, steps: int) -> tuple[int, float] | None:
        """Return None: a known future needs no insurance."""
        return None

    def forget(self, now: datetime) -> None:
        """Keep the future: it holds no history."""


class OrchestratorReplay:
    """``PeakShaver`` driven step by step over a profile, with its battery and tally.

    A copy (``copy.deepcopy``) carries on from where the original stands:
    ``eo backtest-bound`` runs the orchestrator once up to each branch point
    and each branch from a copy.
    """

    def __init__(
        self,
        history: Series,
        start: datetime,
        *,
        limits: BatteryLimits,
        per: int,
        import_limit: float | None,
        interval: timedelta,
        future: Series | None = None,
    ) -> None:
        """Start at ``start`` with a full battery, having seen ``history``.

        With ``future`` (the scored profile), the forecasts are its real net
        load ahead: the perfect-forecast strategy.
        """
        self.tally = Tally.of(history, per, import_limit)
        self.battery = Battery(limits, limits.energy_max_wh)
        settings = PeakShavingSettings(
            import_limit_w=import_limit,
            billing_interval=interval,
            # The figures are the whole profile's peak: one billing period.
            billing_period=BillingPeriod.NONE,
        )
        forecaster = None
        if future is not None:
            known = SlotHistory(interval)
            known.extend(
                (future.start + index * future.step, net)
                for index, net in enumerate(future.net_w)
            )
            forecaster = PerfectForecaster(known)
        self.shaver = PeakShaver(settings, limits, now=start, forecaster=forecaster)
        for index, (load, pv) in enumerate(
            zip(history.load_w, history.pv_w, strict=True)
        ):
            self.shaver.observe(history.start + index * history.step, load, pv)
        self.step = history.step
        self.setpoint = 0.0
        self.previous_grid: float | None = None

    def run(self, now: datetime, load: float, pv: float) -> None:
        """Run one step of the profile, starting at ``now``."""
        status = self.shaver.update(
            now,
            grid_w=load - pv + self.setpoint,
            battery_power_w=self.setpoint,
            energy_wh=self.battery.energy_wh,
            step=self.step,
            pv_w=pv,
            grid_since_last_w=self.previous_grid,
        )
        self.setpoint = self.battery.run(status.battery_setpoint_w, self.tally.step_h)
        self.tally.book(load, pv, self.setpoint, self.battery.soc)
        self.previous_grid = self.tally.grid[-1]


def _run_orchestrator(
    history: Series,
    series: Series,
    *,
    limits: BatteryLimits,
    per: int,
    import_limit: float | None,
    interval: timedelta,
    perfect_forecast: bool = False,
) -> dict[str, Any]:
    """Run ``PeakShaver``, seeing only the past (or, told so, the real future)."""
    replay = OrchestratorReplay(
        history,
        series.start,
        limits=limits,
        per=per,
        import_limit=import_limit,
        interval=interval,
        future=series if perfect_forecast else None,
    )
    for index, (load, pv) in enumerate(zip(series.load_w, series.pv_w, strict=True)):
        replay.run(series.start + index * series.step, load, pv)
    return replay.tally.figures()


def _run_optimal(
    series: Series,
    limits: BatteryLimits,
    per: int,
    import_limit: float | None,
    interval: timedelta,
) -> dict[str, Any]:
    """Run perfect foresight at interval resolution: the lower bound."""
    load, pv = series.load_w, series.pv_w
    intervals = interval_averages(series, per)
    plan = plan_peak(series.start, interval, intervals, limits, limits.energy_max_wh)
    step_h = interval.total_seconds() / 3600
    energies, _, _ = hold(
        intervals, step_h, limits, energy_wh=limits.energy_max_wh, peak_w=plan.peak_w
    )
    tally = Tally.of(series, per, import_limit)
    tally.step_h = series.step.total_seconds() / 3600
    for k in range(len(intervals)):
        stored = energies[k + 1] - energies[k]
        battery_w = (
            stored / limits.charge_efficiency / step_h
            if stored >= 0
            else stored * limits.discharge_efficiency / step_h
        )
        soc = 100 * energies[k + 1] / limits.capacity_wh if limits.capacity_wh else 0.0
        for i in range(k * per, (k + 1) * per):
            tally.book(load[i], pv[i], battery_w, soc)
    return tally.figures()
