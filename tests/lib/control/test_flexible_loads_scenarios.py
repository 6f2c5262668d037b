"""The flexible loads' plan over scenarios of the net load (issue 23, the battery set)."""

from datetime import UTC, datetime

from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    BatteryNow,
    BatterySpec,
    FixedPrice,
    FlexibleLoad,
    FlexibleLoadsController,
    LoadNow,
    Measurement,
    PlanRequest,
    Tariff,
    plan,
    time_of_use,
)

START = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
STEPS = 96
# Night 0.13 until 08:00, day 0.20, evening 0.28 from 18:00 (UTC here).
TARIFF = Tariff(
    time_of_use([("00:00", 0.13), ("08:00", 0.20), ("18:00", 0.28)]),
    FixedPrice(0.06),
    60,
)
BATTERY = BatteryNow(10000.0, 5000.0, 1000.0, reserve_wh=1000.0)


def _day(midday_w: float) -> list[float]:
    """Return a day's net load: 200 W, ``midday_w`` 10:00-14:00, 2 kW 18:00-22:00."""
    values = [200.0] * STEPS
    for index in range(40, 56):
        values[index] = midday_w
    for index in range(72, 88):
        values[index] = 2000.0
    return values


CLOUDY = _day(200.0)
SUNNY = _day(-5000.0)
MEAN = [(a + b) / 2 for a, b in zip(CLOUDY, SUNNY, strict=True)]


def _night_charge_wh(result_battery_w: list[float]) -> float:
    """Return the energy the plan charges before 08:00 (Wh, before losses)."""
    return sum(max(power, 0.0) for power in result_battery_w[:32]) / 4


def test_the_scenario_plan_buys_at_night_for_the_evening_a_cloudy_day_has() -> None:
    """Half the past days had no sun: the night's 0.13 beats a 0.28 evening then.

    On their mean the midday surplus fills the battery, so the plan on the
    mean buys nothing at night; over the two days it buys the evening's
    energy: what that loses on a sunny day (the surplus exported at 0.06)
    is less than what it saves on a cloudy one.
    """
    on_mean = plan(PlanRequest(START, MEAN, TARIFF, [], BATTERY))
    over_days = plan(
        PlanRequest(START, MEAN, TARIFF, [], BATTERY, scenarios=[CLOUDY, SUNNY])
    )

    assert _night_charge_wh(on_mean.battery_w) < 500
    assert _night_charge_wh(over_days.battery_w) > 6000
    assert over_days.optimal


def test_the_battery_does_the_same_in_every_scenario_until_the_price_changes() -> None:
    """Nothing tells the days apart at night: the night's charge is one for all.

    The plan reports the scenarios' mean; where the battery is shared, that
    mean is each scenario's own power, and the plan charges in the night
    what it needs (not put off step by step to a later re-plan).
    """
    result = plan(
        PlanRequest(START, MEAN, TARIFF, [], BATTERY, scenarios=[CLOUDY, SUNNY])
    )

    assert len(result.battery_w) == STEPS
    assert len(result.stored_value) == STEPS
    # The period nets are the scenarios' mean (the grid target the battery holds).
    night = sum((MEAN[index] + result.battery_w[index]) / 4 for index in range(32))
    assert abs(sum(result.period_net_wh[:8]) - night) < 1


def test_scenarios_change_nothing_without_a_battery_or_with_one_day() -> None:
    """Without a battery there is nothing to weigh; one day is the forecast itself."""
    heater = FlexibleLoad("water_heater", 2000, 4000)
    alone = plan(PlanRequest(START, MEAN, TARIFF, [LoadNow(heater)]))
    no_battery = plan(
        PlanRequest(START, MEAN, TARIFF, [LoadNow(heater)], scenarios=[CLOUDY, SUNNY])
    )
    one_day = plan(PlanRequest(START, MEAN, TARIFF, [], BATTERY, scenarios=[SUNNY]))
    on_mean = plan(PlanRequest(START, MEAN, TARIFF, [], BATTERY))

    assert no_battery.loads["water_heater"].power_w == (
        alone.loads["water_heater"].power_w
    )
    assert no_battery.cost == alone.cost
    assert one_day.battery_w == on_mean.battery_w
    assert one_day.cost == on_mean.cost


def test_the_stored_value_is_the_expected_one_over_the_days() -> None:
    """At night a stored kWh is worth the valley's price through the charge loss.

    The plan buys at night in both days' plans; one more kWh stored saves
    that purchase in each.
    """
    result = plan(
        PlanRequest(START, MEAN, TARIFF, [], BATTERY, scenarios=[CLOUDY, SUNNY])
    )

    assert abs(result.stored_value[0] - 0.13 / 0.95) < 0.01


def test_the_controller_plans_over_the_scenarios_it_is_given() -> None:
    """Given the past days, the controller's plan buys the night's energy.

    Without them it plans on its forecast (the mean) and buys none; the
    days are asked for only where there is a battery to weigh them for.
    """
    asked: list[datetime] = []

    def days(start: datetime, steps: int) -> list[list[float]]:
        asked.append(start)
        return [CLOUDY[:steps], SUNNY[:steps]]

    def mean(start: datetime, steps: int) -> list[float]:
        return MEAN[:steps]

    spec = BatterySpec(10000.0, 5000.0, reserve_wh=1000.0)
    measured = Measurement(0.0, {}, 0.0, battery_energy_wh=1000.0)
    plain = FlexibleLoadsController(TARIFF, [], mean, spec)
    weighed = FlexibleLoadsController(TARIFF, [], mean, spec, scenarios=days)
    no_battery = FlexibleLoadsController(TARIFF, [], mean, scenarios=days)
    plain.run(START, measured)
    weighed.run(START, measured)
    no_battery.run(START, measured)

    assert plain.plan is not None
    assert weighed.plan is not None
    assert _night_charge_wh(plain.plan.battery_w) < 500
    assert _night_charge_wh(weighed.plan.battery_w) > 6000
    assert asked == [START]
