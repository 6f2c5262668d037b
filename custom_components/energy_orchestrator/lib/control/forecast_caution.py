"""How cautious the load forecast must be, learned from the site's own days.

The planner forecasts each slot from the same slot on the past seven days,
``caution`` of the way from their mean to their maximum (``forecast``'s
``upper_share``). No one caution fits every site: a regular household's
days repeat, and the mean plans its peaks well, while a house whose heating
runs for hours on some nights needs the maximum or its battery runs empty.
Too little caution empties the battery before a heavy evening; too much
raises the billed peak for an evening that never comes.

So the site's history decides. Each day the learner replays yesterday:
for every candidate caution it plans yesterday from the seven days before
it, as the planner would have, and checks whether the planned peak covered
the peak yesterday really needed (the lowest peak a full battery could
have held, knowing the day). The forecast then uses the lowest caution that
covered the need on at least ``COVERAGE`` of the last ``DAYS`` days, and
the maximum until ``MIN_DAYS`` days have been replayed.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import math
from typing import Any

from .energy_planner import BatteryLimits, plan_peak
from .forecast import SlotHistory, net_forecast

# The cautions tried, from the past days' mean (0) to their maximum (1).
CAUTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
# Days of replayed coverage kept, and the share of them a caution must cover.
DAYS = 21
COVERAGE = 0.8
# Replayed days needed before the learned caution is used.
MIN_DAYS = 5
# A planned peak this close under the real need still covers it.
TOLERANCE_W = 10.0
DAY = timedelta(days=1)


@dataclass
class ForecastCaution:
    """The coverage of every candidate caution on the last days, and the choice."""

    # Per replayed day, whether each caution in CAUTIONS covered its need.
    covered: list[tuple[bool, ...]] = field(default_factory=list)
    # The UTC day (days since the epoch) last replayed.
    last_day: int | None = None

    @property
    def learned(self) -> bool:
        """Return whether enough days were replayed to go by their record."""
        return len(self.covered) >= MIN_DAYS

    @property
    def caution(self) -> float:
        """Return the lowest caution that covered enough of the recent days."""
        if not self.learned:
            return CAUTIONS[-1]
        for index, caution in enumerate(CAUTIONS):
            if sum(day[index] for day in self.covered) >= COVERAGE * len(self.covered):
                return caution
        return CAUTIONS[-1]

    def learn(
        self,
        now: datetime,
        load: SlotHistory,
        pv: SlotHistory,
        battery: BatteryLimits,
    ) -> None:
        """Replay yesterday, once a day; a day not fully seen is skipped."""
        today = math.floor(now.timestamp() / DAY.total_seconds())
        if self.last_day == today:
            return
        self.last_day = today
        start = datetime.fromtimestamp((today - 1) * DAY.total_seconds(), UTC)
        step = timedelta(seconds=load.step_s)
        steps = round(DAY / step)
        first = load.slot_of(start)
        actual: list[float] = []
        for slot in range(first, first + steps):
            demand = load.mean(slot)
            if demand is None:
                return
            actual.append(demand - (pv.mean(slot) or 0.0))
        need = plan_peak(
            start, step, actual, battery, battery.energy_max_wh, tolerance_w=5.0
        ).peak_w
        row: list[bool] = []
        for caution in CAUTIONS:
            net = net_forecast(load, pv, start, steps, caution=caution)
            if net is None:
                return
            planned = plan_peak(
                start, step, net, battery, battery.energy_max_wh, tolerance_w=5.0
            ).peak_w
            row.append(planned >= need - TOLERANCE_W)
        self.covered = [*self.covered, tuple(row)][-DAYS:]

    def snapshot(self) -> dict[str, Any]:
        """Return the coverage record, for a restart."""
        return {
            "cautions": list(CAUTIONS),
            "covered": [list(day) for day in self.covered],
            "last_day": self.last_day,
        }

    @classmethod
    def restore(cls, saved: Mapping[str, Any]) -> ForecastCaution:
        """Take a snapshot back; raise ValueError if it is not one.

        A record made for other candidate cautions is dropped: its columns
        would mean other cautions now.
        """
        if list(saved.get("cautions", ())) != list(CAUTIONS):
            return cls()
        covered = saved.get("covered")
        if not isinstance(covered, Sequence) or not all(
            isinstance(day, Sequence)
            and len(day) == len(CAUTIONS)
            and all(isinstance(value, bool) for value in day)
            for day in covered
        ):
            raise ValueError("saved forecast caution is not a coverage record")
        last_day = saved.get("last_day")
        if last_day is not None and not isinstance(last_day, int):
            raise ValueError("saved forecast caution has no day")
        return cls([tuple(day) for day in covered][-DAYS:], last_day)
