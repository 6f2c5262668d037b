"""The planning passes: the peak the battery is planned to hold, and when to plan again.

A user's import limit is only checked against the forecast. Without one,
the level is the lowest peak the battery can hold over the horizon, in
passes: the robust peak (one every recent day repeated could be held at,
never below the peak already billed), the plan on the forecast at least at
that peak, and, before the forecast caution has a record, that plan raised
to insure a heavy stretch going on.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..energy_planner import BatteryLimits, Plan, check_limit, plan_peak
from .forecaster import Forecaster
from .settings import PeakShavingSettings

# A battery this share of its capacity below the plan's floor means the
# load is heavier than forecast: the plan is made again at once (at most
# once per billing interval), while there is still energy to hold a higher
# peak with.
BEHIND_PLAN_SHARE = 0.02
# Before the caution has a record, a load above its forecast for this long
# is insured against, planned to go on as long again at its mean: each
# re-plan trusting that it ends now would run the battery empty. Shorter
# stretches are what an evening's cooking looks like.
HEAVY_STRETCH_MIN = timedelta(hours=2)
HEAVY_STRETCH_LOOKBACK = timedelta(hours=6)


@dataclass(frozen=True)
class Insurance:
    """The heavy stretch a plan insures against, and its peak without it."""

    # How long the stretch had run.
    stretch: timedelta
    # The plan's peak on the forecast alone: recharging stops there, the
    # insured rest is for a stretch that may not come.
    uninsured_peak_w: float


class Planner:
    """The planning passes over the forecasts (see the module doc)."""

    def __init__(
        self,
        settings: PeakShavingSettings,
        battery: BatteryLimits,
        forecaster: Forecaster,
    ) -> None:
        """Plan for this site and battery, on these forecasts."""
        self.settings = settings
        self.battery = battery
        self.forecaster = forecaster

    def due(
        self,
        now: datetime,
        energy_wh: float,
        *,
        last_plan_at: datetime | None,
        plan: Plan | None,
    ) -> bool:
        """Return whether the plan is missing, old, or behind the battery."""
        if last_plan_at is None or now - last_plan_at >= self.settings.replan_every:
            return True
        if plan is None or now - last_plan_at < self.settings.billing_interval:
            return False
        index = int((now - plan.start) / plan.step)
        if not 0 <= index < len(plan.energy_floor_wh):
            return False
        behind = plan.energy_floor_wh[index] - energy_wh
        return behind > BEHIND_PLAN_SHARE * self.battery.capacity_wh

    def plan(
        self,
        start: datetime,
        steps: int,
        net: list[float],
        *,
        energy_wh: float,
        billed_peak_w: float,
        import_limit_w: float | None,
        export_limit_w: float | None,
    ) -> tuple[Plan, Insurance | None]:
        """Return the plan over the net load forecast ``net`` and what it insures.

        ``steps`` is the horizon's length in billing intervals (``net`` may
        be shorter where the forecast ends).
        """
        step = self.settings.billing_interval
        if import_limit_w is not None:
            plan = check_limit(
                start,
                step,
                net,
                self.battery,
                energy_wh=energy_wh,
                limit_w=import_limit_w,
                export_limit_w=export_limit_w,
            )
            return plan, None
        plan = plan_peak(
            start,
            step,
            net,
            self.battery,
            energy_wh,
            export_limit_w=export_limit_w,
            at_least_w=self._robust_peak(
                start, steps, energy_wh, billed_peak_w, export_limit_w
            ),
        )
        return self._insured(start, net, plan, energy_wh, export_limit_w)

    def _robust_peak(
        self,
        start: datetime,
        steps: int,
        energy_wh: float,
        billed_peak_w: float,
        export_limit_w: float | None,
    ) -> float:
        """Return the peak to aim at: one every recent day could be held at.

        Each past day, repeated over the horizon, is a scenario; the battery
        is planned to hold the worst of their lowest peaks, never below the
        peak already billed. Aiming at the mean forecast's peak instead
        spends the battery on a quiet day and leaves it empty for a heavy
        one.
        """
        step = self.settings.billing_interval
        peak = billed_peak_w
        for net in self.forecaster.scenarios(start, steps):
            plan = plan_peak(
                start,
                step,
                net,
                self.battery,
                energy_wh,
                export_limit_w=export_limit_w,
                at_least_w=peak,
                tolerance_w=5.0,
            )
            peak = max(peak, plan.peak_w)
        return peak

    def _insured(
        self,
        start: datetime,
        net: list[float],
        plan: Plan,
        energy_wh: float,
        export_limit_w: float | None,
    ) -> tuple[Plan, Insurance | None]:
        """Return ``plan`` with its level raised to hold a heavy stretch going on.

        Only before the caution has a record, and only for a stretch of at
        least ``HEAVY_STRETCH_MIN``: it is planned to last as long again at
        its mean net load. The plan keeps its forecast's floors at the
        raised level; the level it had is kept for recharging.
        """
        if self.forecaster.caution.learned:
            return plan, None
        step = self.settings.billing_interval
        stretch = self.forecaster.heavy_stretch(
            start, int(HEAVY_STRETCH_LOOKBACK / step)
        )
        if stretch is None or stretch[0] * step < HEAVY_STRETCH_MIN:
            return plan, None
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
            export_limit_w=export_limit_w,
            at_least_w=plan.peak_w,
            tolerance_w=5.0,
        )
        # Within the bisection's tolerance the stretch costs nothing.
        if insured.peak_w <= plan.peak_w + 1:
            return plan, None
        raised = plan_peak(
            start,
            step,
            net,
            self.battery,
            energy_wh,
            export_limit_w=export_limit_w,
            at_least_w=insured.peak_w,
        )
        return raised, Insurance(length * step, plan.peak_w)
