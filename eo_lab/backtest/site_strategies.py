"""The replayed strategies of ``eo backtest-site`` (see ``eo_lab.backtest.site``)."""

from datetime import datetime, timedelta
import math

from custom_components.energy_orchestrator.lib.control.ev_charging import site_caps
from custom_components.energy_orchestrator.lib.control.ev_deadline import RoomAhead
from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    BatteryOrder,
    FlexibleLoad,
    FlexibleLoadsController,
    LoadControl,
    Measurement,
    Session,
)
from custom_components.energy_orchestrator.lib.control.forecast import (
    SlotHistory,
    day_scenarios,
    forecast,
)
from eo_lab.backtest.site_car import (
    CAR,
    VOLTAGE_V,
    CarSeen,
    DeadlineCharger,
    SiteRoom,
)
from eo_lab.backtest.site_replay import (
    PLAN_STEP,
    Scored,
    Tally,
)


class Timer:
    """``none``: each load from its window's start until its need is met."""

    def __init__(self, scored: Scored) -> None:
        """Keep the scored days."""
        self.scored = scored

    def observe(
        self, index: int, real: dict[str, float], battery_w: float, grid_w: float
    ) -> None:
        """Need nothing: a timer does not look."""

    def step(
        self, index: int, tally: Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float]:
        """Run every load whose window still needs energy."""
        moment = self.scored.moment(index)
        return {
            load.name: load.power_w if tally.remaining_wh(load, moment) > 0 else 0.0
            for load in self.scored.site.all_loads
        }, 0.0


class Instant:
    """``instant``: seed 003's rule (see the module doc)."""

    def __init__(self, scored: Scored) -> None:
        """Start with every load off."""
        self.scored = scored
        self.power: dict[str, float] = {load.name: 0.0 for load in scored.site.loads}
        self.switched: dict[str, datetime | None] = dict.fromkeys(self.power)
        self.grid_w = 0.0

    def observe(
        self, index: int, real: dict[str, float], battery_w: float, grid_w: float
    ) -> None:
        """Read the meter and the loads."""
        self.grid_w = grid_w
        self.power = dict(real)

    def step(
        self, index: int, tally: Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float]:
        """Switch on export, off on import, and run late what is left."""
        moment, step = self.scored.moment(index), self.scored.series.step
        grid = self.grid_w
        loads = sorted(self.scored.site.loads, key=lambda load: -load.priority)
        wanted: dict[str, float] = {}
        for load in loads:
            was = self.power[load.name]
            power = self._decide(load, moment, step, tally, grid=grid, was=was)
            grid += power - was
            if (power > 0) != (was > 0):
                self.switched[load.name] = moment
            wanted[load.name] = power
        car = self.scored.site.car
        if car is not None:
            # The real-time layer does not know the car: it charges as plugged in.
            wanted[CAR] = car.max_power_w
        return wanted, 0.0

    def _decide(
        self,
        load: FlexibleLoad,
        moment: datetime,
        step: timedelta,
        tally: Tally,
        *,
        grid: float,
        was: float,
    ) -> float:
        """Return one load's power for the step."""
        window = tally.window(load, moment)
        remaining = tally.remaining_wh(load, moment)
        if window is None or remaining <= 0:
            return 0.0
        # Switched off now, it could not start again before its minimum off time.
        lost = step + (load.min_off if was > 0 else timedelta(0))
        left_h = (window.closes - moment - lost) / timedelta(hours=1)
        if remaining >= load.power_w * max(left_h, 0.0):
            return load.power_w
        if was > 0 and not load.interruptible:
            return was
        switched = self.switched[load.name]
        held = load.min_on if was > 0 else load.min_off
        if switched is not None and moment - switched < held:
            return was
        if load.control is LoadControl.ADJUSTABLE:
            return min(max(was - grid, 0.0), load.power_w)
        if was > 0:
            return 0.0 if grid > 0 else was
        return load.power_w if -grid > load.power_w else 0.0


class Orchestrator:
    """``orchestrator``: the controller Home Assistant runs, on forecasts of the past."""

    def __init__(self, scored: Scored) -> None:
        """Give the controller the history (the warm-up day and what it saw)."""
        self.scored = scored
        series = scored.series
        self.load_history = SlotHistory(PLAN_STEP)
        self.pv_history = SlotHistory(PLAN_STEP)
        for index in range(scored.first):
            self._remember(index)
        site = scored.site
        self.controller = FlexibleLoadsController(
            site.tariff,
            site.loads,
            self._forecast,
            site.battery,
            site.timezone,
            tick=series.step,
        )
        self.last: Measurement | None = None
        self.car_w = 0.0
        self.charger = (
            None
            if site.car is None
            else DeadlineCharger(site.car, scored.moment(scored.first))
        )

    def _remember(self, index: int) -> None:
        """Add one step of the measured load and PV to the history."""
        moment = self.scored.moment(index)
        self.load_history.add(moment, self.scored.series.load_w[index])
        self.pv_history.add(moment, self.scored.series.pv_w[index])

    def _forecast(self, start: datetime, steps: int) -> list[float] | None:
        """Return load minus PV per plan step: the past days' means."""
        load = forecast(self.load_history, start, steps, upper_share=0.0)
        pv = forecast(self.pv_history, start, steps, upper_share=0.0)
        if load is None:
            return None
        return [a - b for a, b in zip(load, pv or [0.0] * steps, strict=True)]

    def observe(
        self, index: int, real: dict[str, float], battery_w: float, grid_w: float
    ) -> None:
        """Remember the step's base load and PV and what the meter said."""
        self._remember(index)
        loads = {name: power for name, power in real.items() if name != CAR}
        self.last = Measurement(grid_w, loads, battery_w)
        self.car_w = real.get(CAR, 0.0)

    def step(
        self, index: int, tally: Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float | BatteryOrder]:
        """Run the controller's tick, the car's session given to its plan, then the car's."""
        moment = self.scored.moment(index)
        last = self.last or Measurement(0.0, {}, 0.0)
        measured = Measurement(last.grid_w, last.load_w, last.battery_w, battery_wh)
        seen = None
        sessions: list[Session] = []
        if self.charger is not None:
            seen = car_seen(tally, moment, last, self.car_w)
            if seen.departs is not None and seen.remaining_wh > 0:
                sessions.append(
                    Session(
                        CAR,
                        seen.remaining_wh,
                        seen.departs,
                        self.charger.car.max_power_w,
                        self.car_w,
                    )
                )
        result = self.controller.run(moment, measured, sessions=sessions)
        target = result.grid_target_w
        powers = {d.name: d.power_w for d in result.decisions}
        if self.charger is not None and seen is not None:
            powers[CAR] = self.charger.decide(seen, self._site_room(moment, last))
        if result.battery is not None:
            return powers, result.battery
        return powers, (0.0 if target is None else target)

    def _site_room(self, moment: datetime, last: Measurement) -> SiteRoom:
        """Return the caps peak shaving would post for the car, and the plan's room ahead.

        Under the billed peak: the room the loads' plan leaves
        (``FlexibleLoadsController.peak_room``, which the Home Assistant
        entry posts where no peak shaver does), plus what the car takes
        (``site_caps``). Under the grid's limit: the limit less
        the import.
        Ahead, per plan step: the level less the plan's import before the
        battery, the limit less its import, both without the car (the plan
        places the car's session to plan the battery and the level with it;
        the car's room is what the plan leaves it).
        """
        plan = self.controller.plan
        limit = self.scored.site.grid
        # The loads' plan's room under its billed peak: what the Home
        # Assistant entry posts where no peak shaver does.
        room_now, peak_ahead = self.controller.peak_room(moment, last)
        peak_cap, _ = site_caps(
            ev_power_w=self.car_w,
            phases=1,
            voltage_v=VOLTAGE_V,
            grid_headroom_w=room_now,
            phase_headroom_w=None,
        )
        grid_cap = (
            None
            if limit is None
            else max(self.car_w, 0.0) + limit.import_limit_w - last.grid_w
        )
        ahead = None
        if plan is not None and (peak_ahead is not None or limit is not None):
            # The plan's import before the battery and without the car it
            # places: the car's room is all the plan leaves the two.
            car = plan.sessions.get(CAR, [0.0] * len(plan.grid_w))
            nets = [
                g - b - c
                for g, b, c in zip(plan.grid_w, plan.battery_w, car, strict=True)
            ]
            ahead = RoomAhead(
                plan.start,
                plan.step,
                peak_ahead.peak_w
                if peak_ahead is not None
                else tuple(math.inf for _ in nets),
                None
                if limit is None
                else tuple(
                    limit.import_limit_w - max(g - c, n)
                    for g, c, n in zip(plan.grid_w, car, nets, strict=True)
                ),
            )
        if ahead is not None and plan is not None:
            # The replay's step stands for the manager's 15 s ones, which
            # see the house rise as it comes: a step takes the room under
            # the grid's limit of the plan step its end reaches too.
            last_slot = plan.at(moment + self.scored.series.step)
            if last_slot is not None and grid_cap is not None and ahead.grid_w:
                grid_cap = min(grid_cap, ahead.grid_w[last_slot])
        return SiteRoom(peak_cap, grid_cap, ahead)


def car_seen(
    tally: Tally, moment: datetime, last: Measurement, car_w: float
) -> CarSeen:
    """Return what a car's charger sees at ``moment``."""
    car = tally.scored.site.car_load
    window = None if car is None else tally.window(car, moment)
    return CarSeen(
        moment,
        None if window is None else window.closes,
        0.0 if window is None else max(window.need_wh - window.delivered_wh, 0.0),
        last.grid_w,
        car_w,
        last.battery_w,
    )


class Independent(Instant):
    """``independent``: today's controllers side by side, uncoordinated.

    The loads by the instant real-time layer (``instant``'s rule), the
    battery in self-consumption (holding 0 W at the meter, as the battery
    manager does), the car by the wallbox manager in ``deadline`` mode with
    no site caps (``DeadlineCharger`` given no ``SiteRoom``).
    """

    def __init__(self, scored: Scored) -> None:
        """Start the loads off and make the wallbox manager."""
        super().__init__(scored)
        car = scored.site.car
        self.charger = (
            None if car is None else DeadlineCharger(car, scored.moment(scored.first))
        )
        self.last = Measurement(0.0, {}, 0.0)
        self.car_w = 0.0

    def observe(
        self, index: int, real: dict[str, float], battery_w: float, grid_w: float
    ) -> None:
        """Read the meter, the loads, the car and the battery."""
        super().observe(index, real, battery_w, grid_w)
        self.last = Measurement(grid_w, {}, battery_w)
        self.car_w = real.get(CAR, 0.0)

    def step(
        self, index: int, tally: Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float]:
        """Run the loads' layer and the wallbox manager, each on its own."""
        powers, _ = super().step(index, tally, battery_wh)
        if self.charger is not None:
            moment = self.scored.moment(index)
            powers[CAR] = self.charger.decide(
                car_seen(tally, moment, self.last, self.car_w)
            )
        return powers, 0.0


class Foresight(Orchestrator):
    """``foresight``: the orchestrator given the real future as its forecast.

    Not a controller anyone can run: it says what the orchestrator's plan
    and real-time layer reach where the forecast is not what is missing.
    Past the profile's end the last day repeats.
    """

    def _forecast(self, start: datetime, steps: int) -> list[float] | None:
        """Return the measured load minus PV per plan step (the mean of its steps)."""
        series = self.scored.series
        per = max(round(PLAN_STEP / series.step), 1)
        day = round(timedelta(days=1) / series.step)
        values: list[float] = []
        for number in range(steps):
            first = round((start + number * PLAN_STEP - series.start) / series.step)
            total = 0.0
            for index in range(first, first + per):
                at = index
                while at >= len(series.load_w):
                    at -= day
                total += series.load_w[at] - series.pv_w[at]
            values.append(total / per)
        return values


class ScenarioOrchestrator(Orchestrator):
    """``scenarios``: the orchestrator planning over the past days as scenarios.

    Each past day's load minus PV is a scenario of the net load; the plan
    minimises their mean cost (``PlanRequest.scenarios``). Not among the
    strategies ``eo backtest-site`` prints: measured, it was no better than
    the plan on the mean (docs/decisions/flexible-loads.md).
    """

    def __init__(self, scored: Scored) -> None:
        """Make the orchestrator and give its controller the past days."""
        super().__init__(scored)
        self.controller.scenarios = self._scenarios

    def _scenarios(self, start: datetime, steps: int) -> list[list[float]]:
        """Return each past day's load minus PV per plan step (the day's own pair)."""
        load = day_scenarios(self.load_history, start, steps)
        pv = day_scenarios(self.pv_history, start, steps)
        if len(pv) != len(load):
            # A day seen for one and not the other: the pairs would not match.
            return []
        return [
            [a - b for a, b in zip(demand, supply, strict=True)]
            for demand, supply in zip(load, pv, strict=True)
        ]
