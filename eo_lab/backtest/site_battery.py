"""``orchestrator`` for a site with only a battery and a tariff: the battery's price plan.

What Home Assistant's battery manager runs with a tariff: every hour (and
when a new day's prices come) ``plan_battery`` plans the battery over the
prices known, and the state machine follows the plan's state of the slot
(charge, rest, sell), the limits first. The plan sees the load's forecast
(the past days' means) and prices only as a day-ahead market publishes
them: today's, and from ``DAY_AHEAD_AT`` (local) tomorrow's.

The battery's own fast loop (a hybrid inverter's modes) carries each
state out in the step: ``charge`` takes the planned charge (or the solar
surplus, if larger) from the grid; ``sell`` covers the site's load (a
planned export as well); ``rest`` keeps the energy, taking a surplus only.
"""

from datetime import datetime, time, timedelta
import math
from typing import Protocol

from custom_components.energy_orchestrator.lib.control.battery_price_plan import (
    BatteryPricePlan,
    PricePlanError,
    PricePlanRequest,
    plan_battery,
)
from custom_components.energy_orchestrator.lib.control.battery_states import (
    BatteryState,
    BatteryStateMachine,
    StateLimits,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.tariff import (
    TariffError,
)
from custom_components.energy_orchestrator.lib.control.forecast import (
    SlotHistory,
    forecast,
)
from eo_lab.backtest.profile import Series
from eo_lab.backtest.site_config import Site


class ScoredDays(Protocol):
    """What the strategy reads of ``site._Scored`` (``site`` imports this module)."""

    @property
    def site(self) -> Site:
        """Return the site."""

    @property
    def series(self) -> Series:
        """Return the profile."""

    @property
    def first(self) -> int:
        """Return the first scored step."""

    def moment(self, index: int) -> datetime:
        """Return when step ``index`` begins."""


PLAN_SLOT = timedelta(minutes=15)
PLAN_EVERY = timedelta(minutes=15)
# When tomorrow's day-ahead prices are known (local time): Europe's are
# published a little before 13:00.
DAY_AHEAD_AT = time(13, 0)
# A cell voltage inside any chemistry's limits: the simulated battery has none.
MID_CELL_V = 3.3


class PricePlanStrategy:
    """``orchestrator`` on a battery-only site (see the module doc)."""

    def __init__(self, scored: ScoredDays) -> None:
        """Remember the history; start the state machine at rest."""
        self.scored = scored
        site = scored.site
        battery = site.battery
        assert battery is not None
        self.battery = battery
        self.cycle_cost = site.battery_cycle_cost_per_kwh
        self.tariff = site.tariff
        self.zone = site.timezone
        self.load_history = SlotHistory(PLAN_SLOT)
        self.pv_history = SlotHistory(PLAN_SLOT)
        for index in range(scored.first):
            self._remember(index)
        floor = 100 * battery.reserve_wh / battery.capacity_wh
        self.machine = BatteryStateMachine.starting(
            StateLimits(
                soc_floor=floor,
                soc_ceiling=100.0,
                cell_voltage_min=2.5,
                cell_voltage_max=3.65,
                min_rest=timedelta(0),
                charge_window=None,
                sell_window=None,
            ),
            scored.moment(scored.first),
        )
        self.plan: BatteryPricePlan | None = None
        self.planned_at: datetime | None = None
        self.plans = 0
        # The state of each step, for a look at what the plan did.
        self.states: list[tuple[datetime, BatteryState]] = []

    def _remember(self, index: int) -> None:
        """Add one step of the measured load and PV to the history."""
        series = self.scored.series
        moment = self.scored.moment(index)
        self.load_history.add(moment, series.load_w[index])
        self.pv_history.add(moment, series.pv_w[index])

    def observe(
        self, index: int, real: dict[str, float], battery_w: float, grid_w: float
    ) -> None:
        """Remember the step's load and PV."""
        self._remember(index)

    def _horizon_end(self, moment: datetime) -> datetime:
        """Return the end of the prices known at ``moment``: today's, or tomorrow's too."""
        local = moment.astimezone(self.zone)
        days = 2 if local.time() >= DAY_AHEAD_AT else 1
        return datetime.combine(local.date() + timedelta(days=days), time(0), self.zone)

    def _replan(self, moment: datetime, energy_wh: float) -> None:
        """Plan from ``moment`` to the end of the prices known."""
        start = moment.replace(second=0, microsecond=0)
        start -= timedelta(minutes=start.minute % 15)
        slots = math.ceil((self._horizon_end(moment) - start) / PLAN_SLOT)
        load = forecast(self.load_history, start, slots, upper_share=0.0)
        pv = forecast(self.pv_history, start, slots, upper_share=0.0)
        try:
            imports, exports = self.tariff.prices(start, PLAN_SLOT, slots)
        except TariffError:
            self.plan = None
            return
        base = None
        if load is not None:
            base = [a - b for a, b in zip(load, pv or [0.0] * slots, strict=True)]
        spec = self.battery
        try:
            self.plan = plan_battery(
                PricePlanRequest(
                    start=start,
                    import_prices=imports,
                    capacity_wh=spec.capacity_wh,
                    energy_wh=energy_wh,
                    floor_wh=spec.reserve_wh,
                    ceiling_wh=spec.capacity_wh,
                    charge_w=spec.power_w,
                    discharge_w=spec.power_w,
                    round_trip_efficiency=spec.efficiency**2,
                    cycle_cost_per_kwh=self.cycle_cost,
                    export_prices=exports if base is not None else None,
                    base_w=base,
                    slot=PLAN_SLOT,
                ),
                moment,
            )
        except PricePlanError:
            self.plan = None
        self.planned_at = moment
        self.plans += 1

    def step(
        self, index: int, tally: object, battery_wh: float | None
    ) -> tuple[dict[str, float], float]:
        """Plan when due, step the state machine, return the grid power to hold."""
        moment = self.scored.moment(index)
        energy = battery_wh or 0.0
        known = self._horizon_end(moment)
        if (
            self.planned_at is None
            or moment - self.planned_at >= PLAN_EVERY
            or (self.plan is not None and known > self.plan.end)
        ):
            self._replan(moment, energy)
        soc = 100 * energy / self.battery.capacity_wh
        directive = self.plan.directive(moment) if self.plan is not None else None
        self.machine.step(
            moment,
            moment.astimezone(self.zone).time(),
            soc,
            MID_CELL_V,
            plan=directive,
        )
        series = self.scored.series
        # The inverter's fast loop sees the step's own load and PV.
        net = series.load_w[index] - series.pv_w[index]
        slot = self.plan.slot_at(moment) if self.plan is not None else None
        state = self.machine.memory.state
        self.states.append((moment, state))
        if state is BatteryState.CHARGE:
            charge = slot.battery_w if slot is not None else self.battery.power_w
            return {}, net + max(charge, -net, 0.0)
        if state is BatteryState.SELL:
            # The load first; a planned export on top.
            planned = -slot.battery_w if slot is not None else 0.0
            return {}, net - max(planned, net, 0.0)
        return {}, max(net, 0.0)
