"""The forecasts peak shaving plans on, and what the planner asks of them.

``Forecaster`` is what the planner asks: the net load ahead, the past days
as scenarios, and a heavy stretch going on. ``HistoryForecaster`` answers
from the site's own past days (``forecast``), as cautious as the site's
record says it must be (``forecast_caution``). A backtest hands the shaver
another forecaster, one that knows the future.
"""

from datetime import datetime, timedelta
from typing import Protocol

from ..energy_planner import BatteryLimits
from ..forecast import (
    SlotHistory,
    day_scenarios,
    heavy_stretch,
    measured_share,
    net_forecast,
    pv_override,
)
from ..forecast_caution import ForecastCaution

# Days of history kept: yesterday and the seven days before it, for the
# forecasts and for learning their caution, and today.
HISTORY_DAYS = 9
# A day running lighter than its forecast scales the rest of it down: the
# last hours' load against what the forecast said, never below the floor
# (one quiet stretch is no proof) nor above one (a heavy stretch re-plans
# instead). Only once the caution is learned: before, there is no record.
LOAD_SCALE_WINDOW = timedelta(hours=6)
LOAD_SCALE_FLOOR = 0.9
# From a day ahead on the forecast takes this share of the caution: a second
# day with every past day's peaks at once is less likely still, and the
# robust peak plans for a heavy second day anyway.
LATER_DAY_CAUTION_SHARE = 0.75


class Forecaster(Protocol):
    """What the planner asks of the forecasts."""

    # How cautious the forecast is, as learned (a restart keeps it).
    caution: ForecastCaution
    # The scale of the last forecast's load: the day so far against it.
    load_scale: float
    # A PV forecast, (start, W) per period; empty: PV from its history.
    pv_forecast: list[tuple[datetime, float]]

    def observe(self, now: datetime, load_w: float | None, pv_w: float | None) -> None:
        """Add a sample of load and PV."""

    def forecast(
        self, now: datetime, start: datetime, steps: int
    ) -> list[float] | None:
        """Return the net load (load - PV) per step from ``start``, None without history."""

    def scenarios(self, start: datetime, steps: int) -> list[list[float]]:
        """Return each past day's net load, repeated over the steps from ``start``."""

    def heavy_stretch(self, start: datetime, steps: int) -> tuple[int, float] | None:
        """Return how long (steps) the load has run above its forecast, and its mean net load.

        Looks back at most ``steps`` from ``start``; None when the load is
        not above its forecast.
        """

    def forget(self, now: datetime) -> None:
        """Forget the history no forecast needs any more."""


class HistoryForecaster:
    """The forecasts from the site's own past days, learning their caution."""

    def __init__(self, step: timedelta, battery: BatteryLimits) -> None:
        """Start without history, at the caution's maximum."""
        self.step = step
        self.battery = battery
        self.load_history = SlotHistory(step)
        self.pv_history = SlotHistory(step)
        self.pv_forecast: list[tuple[datetime, float]] = []
        self.caution = ForecastCaution()
        self.load_scale = 1.0

    def observe(self, now: datetime, load_w: float | None, pv_w: float | None) -> None:
        """Add a sample of load and PV to the history."""
        self.load_history.add(now, load_w)
        self.pv_history.add(now, pv_w)

    def forecast(
        self, now: datetime, start: datetime, steps: int
    ) -> list[float] | None:
        """Return the net load per step, None without history.

        Learns the caution from the days replayed so far, and the load scale
        from the last hours, first.
        """
        self.caution.learn(now, self.load_history, self.pv_history, self.battery)
        self.load_scale = self.load_scale_at(start)
        caution = self.caution.caution
        return net_forecast(
            self.load_history,
            self.pv_history,
            start,
            steps,
            caution=caution,
            later_caution=LATER_DAY_CAUTION_SHARE * caution,
            load_scale=self.load_scale,
            pv_override=pv_override(start, self.step, self.pv_forecast)
            if self.pv_forecast
            else None,
        )

    def load_scale_at(self, start: datetime) -> float:
        """Return the scale of the load forecast: how the last hours ran against it."""
        if not self.caution.learned:
            return 1.0
        steps = int(LOAD_SCALE_WINDOW / self.step)
        share = measured_share(
            self.load_history, start, steps, upper_share=self.caution.caution
        )
        if share is None:
            return 1.0
        return min(max(share, LOAD_SCALE_FLOOR), 1.0)

    def scenarios(self, start: datetime, steps: int) -> list[list[float]]:
        """Return each past day's net load over the horizon, at the last load scale.

        PV comes from its past days too, unless there is a PV forecast: then
        the scenarios are load alone.
        """
        load = day_scenarios(self.load_history, start, steps)
        pv = (
            day_scenarios(self.pv_history, start, steps) if not self.pv_forecast else []
        )
        scale = self.load_scale
        nets: list[list[float]] = []
        for index, scenario in enumerate(load):
            supply = pv[index] if index < len(pv) else [0.0] * steps
            nets.append(
                [
                    scale * demand - power
                    for demand, power in zip(scenario, supply, strict=True)
                ]
            )
        return nets

    def heavy_stretch(self, start: datetime, steps: int) -> tuple[int, float] | None:
        """Return the stretch before ``start`` the load ran above its forecast."""
        return heavy_stretch(
            self.load_history,
            self.pv_history,
            start,
            steps,
            upper_share=self.caution.caution,
            load_scale=self.load_scale,
        )

    def forget(self, now: datetime) -> None:
        """Forget what is older than ``HISTORY_DAYS``."""
        oldest = self.load_history.slot_of(now - timedelta(days=HISTORY_DAYS))
        self.load_history.forget_before(oldest)
        self.pv_history.forget_before(oldest)
