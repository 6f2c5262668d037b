"""The forecast's caution, learned from how well each caution planned past days."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.energy_orchestrator.lib.control.billing import BillingPeriod
from custom_components.energy_orchestrator.lib.control.energy_planner import (
    BatteryLimits,
)
from custom_components.energy_orchestrator.lib.control.forecast import SlotHistory
from custom_components.energy_orchestrator.lib.control.forecast_caution import (
    CAUTIONS,
    MIN_DAYS,
    ForecastCaution,
)
from custom_components.energy_orchestrator.lib.control.peak_shaving import (
    PeakShaver,
    PeakShavingSettings,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)
Q = timedelta(minutes=15)
BATTERY = BatteryLimits(5000, 3000, 3000, charge_efficiency=1, discharge_efficiency=1)


def regular(moment: datetime) -> float:
    """1 kW, and 3 kW from 18:00 to 21:00, every day alike."""
    return 3000.0 if 18 <= moment.hour < 21 else 1000.0


def heating_every_third_night(moment: datetime) -> float:
    """The regular day; every third night 3 kW from midnight to 06:00 too.

    Six hours 2 kW above the base need 12 kWh: the 5 kWh battery holds
    that night only at a far higher peak than a regular day needs. The
    past week's mean halves the heavy nights, its maximum keeps them.
    """
    day = (moment - T0).days
    if day % 3 == 0 and moment.hour < 6:
        return 3000.0
    return regular(moment)


def learner_after(
    days: int, load: Callable[[datetime], float]
) -> tuple[ForecastCaution, SlotHistory, SlotHistory]:
    """Feed ``days`` days of a load and let the learner replay each day."""
    load_history, pv_history = SlotHistory(Q), SlotHistory(Q)
    caution = ForecastCaution()
    for index in range(days * 96):
        moment = T0 + index * Q
        if moment.hour == 0 and moment.minute == 0:
            caution.learn(moment, load_history, pv_history, BATTERY)
        load_history.add(moment, load(moment))
        pv_history.add(moment, 0.0)
    return caution, load_history, pv_history


def test_days_that_repeat_are_planned_from_their_mean() -> None:
    # Day 1 is the first with a day before it to forecast from; it is
    # replayed at the midnight after it, as the planner saw it then.
    caution, _, _ = learner_after(MIN_DAYS + 2, regular)
    assert len(caution.covered) == MIN_DAYS
    assert all(all(day) for day in caution.covered)
    assert caution.caution == 0.0


def test_heavy_nights_the_mean_misses_keep_the_caution_up() -> None:
    caution, _, _ = learner_after(20, heating_every_third_night)
    assert len(caution.covered) == 18
    # Every caution short of the maximum covers the regular days only, two
    # in three (12 of 18): not the four in five asked for.
    covered = [sum(day[index] for day in caution.covered) for index in range(5)]
    assert covered == [12, 12, 12, 12, 18]
    assert caution.caution == 1.0


def test_the_maximum_until_enough_days_are_replayed() -> None:
    caution, _, _ = learner_after(MIN_DAYS + 1, regular)
    assert len(caution.covered) == MIN_DAYS - 1
    assert caution.caution == CAUTIONS[-1]


def test_a_day_not_fully_seen_is_not_replayed() -> None:
    caution, load_history, pv_history = learner_after(MIN_DAYS + 2, regular)
    before = list(caution.covered)
    # Yesterday loses a quarter hour: nothing is learned of it.
    gap = T0 + timedelta(days=MIN_DAYS + 2)
    fresh = SlotHistory(Q)
    for index in range((MIN_DAYS + 3) * 96):
        moment = T0 + index * Q
        if not gap + timedelta(hours=5) <= moment < gap + timedelta(hours=5) + Q:
            fresh.add(moment, regular(moment))
    caution.learn(gap + timedelta(days=1), fresh, pv_history, BATTERY)
    assert caution.covered == before
    # Once a day only: the same day again replays nothing either.
    caution.learn(gap + timedelta(days=1, hours=3), load_history, pv_history, BATTERY)
    assert caution.covered == before


def test_the_caution_survives_a_restart_and_a_damaged_record_is_refused() -> None:
    settings = PeakShavingSettings(billing_period=BillingPeriod.NONE)
    peak_shaver = PeakShaver(settings, BATTERY, now=T0)
    for index in range((MIN_DAYS + 2) * 96):
        moment = T0 + index * Q
        peak_shaver.observe(moment, regular(moment), 0.0)
        if moment.hour == 0 and moment.minute == 0:
            peak_shaver.replan(moment, BATTERY.energy_max_wh)
    assert peak_shaver.forecaster.caution.caution == 0.0
    saved = peak_shaver.snapshot()
    later = T0 + timedelta(days=30)
    restored = PeakShaver(settings, BATTERY, now=later, saved=saved)
    assert restored.forecaster.caution.caution == 0.0
    assert restored.forecaster.caution.covered == peak_shaver.forecaster.caution.covered
    # The status shows it (the learned caution, not the plan, survives).
    status = restored.update(
        later, grid_w=1000, battery_power_w=0, energy_wh=5000, step=Q
    )
    assert status.forecast_caution == 0.0
    # A snapshot from before the caution was learned starts at the maximum.
    older = {key: value for key, value in saved.items() if key != "forecast_caution"}
    assert (
        PeakShaver(settings, BATTERY, now=later, saved=older).forecaster.caution.caution
        == 1
    )
    # A record for other candidate cautions means nothing now: dropped.
    other = {**saved["forecast_caution"], "cautions": [0.0, 1.0]}
    dropped = PeakShaver(
        settings, BATTERY, now=later, saved={**saved, "forecast_caution": other}
    )
    assert dropped.forecaster.caution.covered == []
    damaged = {**saved["forecast_caution"], "covered": [[True, "yes"]]}
    with pytest.raises(ValueError, match="coverage record"):
        PeakShaver(
            settings, BATTERY, now=later, saved={**saved, "forecast_caution": damaged}
        )
    with pytest.raises(ValueError, match="coverage record"):
        PeakShaver(settings, BATTERY, now=later, saved={**saved, "forecast_caution": 3})


def test_the_plan_uses_the_learned_caution() -> None:
    """Mornings heavy one day, evenings the next: the maximum has both at once.

    Each day has 4 kWh above its 1 kW base. The past days' maximum puts 3 kW
    in the morning and the evening of every day, 8 kWh above the base; their
    mean 2 kW in both, 4 kWh. A site whose record says the mean covers its
    days plans from the mean, a lower peak over the 48 hours.
    """

    def alternating(moment: datetime) -> float:
        day = (moment - T0).days
        heavy = range(7, 9) if day % 2 else range(18, 20)
        return 3000.0 if moment.hour in heavy else 1000.0

    settings = PeakShavingSettings(billing_period=BillingPeriod.NONE)
    now = T0 + timedelta(days=8)
    learned = {
        "version": 1,
        "billed_peak_w": 0.0,
        "started": True,
        "forecast_caution": {
            "cautions": list(CAUTIONS),
            "covered": [[True] * len(CAUTIONS)] * MIN_DAYS,
            "last_day": int(now.timestamp() // 86400),
        },
    }
    peaks = {}
    for name, saved in (("maximum", None), ("mean", learned)):
        peak_shaver = PeakShaver(settings, BATTERY, now=now, saved=saved)
        for index in range(8 * 96):
            moment = T0 + index * Q
            peak_shaver.observe(moment, alternating(moment), 0.0)
        plan = peak_shaver.replan(now, BATTERY.energy_max_wh)
        assert plan is not None
        peaks[name] = plan.peak_w
    # The planner's answers: 1297 W from the maximum, 1116 W from the mean.
    assert peaks["mean"] < 1150
    assert peaks["maximum"] > peaks["mean"] + 150
