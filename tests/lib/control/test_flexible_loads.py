"""The flexible loads' tariff, planner and real-time layer, HA-free."""

from datetime import UTC, datetime, timedelta
import math
from zoneinfo import ZoneInfo

import pytest

from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    BatteryNow,
    FixedPrice,
    FlexibleLoad,
    FlexibleLoadsController,
    LoadControl,
    LoadError,
    LoadNow,
    LoadReason,
    Measurement,
    PlanRequest,
    PriceSeries,
    Tariff,
    TariffError,
    plan,
    time_of_use,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.netting import (
    LoadLive,
    decide,
    project,
)

MADRID = ZoneInfo("Europe/Madrid")
START = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
FLAT = Tariff(FixedPrice(0.20), FixedPrice(0.05), 60)


def _sunny_day(steps: int = 96, surplus_w: float = 3000.0) -> list[float]:
    """Return a base net per 15 minutes: 400 W of load, a surplus 10:00-16:00 UTC."""
    return [-surplus_w if 40 <= index % 96 < 64 else 400.0 for index in range(steps)]


def _heater(**changes: object) -> FlexibleLoad:
    """Return a 2 kW water heater needing 4 kWh a day."""
    values: dict[str, object] = {
        "name": "water_heater",
        "power_w": 2000.0,
        "energy_wh_per_day": 4000.0,
        "min_on": timedelta(minutes=10),
        "min_off": timedelta(minutes=10),
    }
    values.update(changes)
    return FlexibleLoad(**values)  # type: ignore[arg-type]  # test factory


def test_time_of_use_follows_the_local_clock_and_wraps_past_midnight() -> None:
    """A schedule's prices hold from their local time of day until the next."""
    schedule = time_of_use([("08:00", 0.15), ("22:00", 0.10)], MADRID)
    # 05:00 UTC is 07:00 in Madrid in summer: still the night price.
    assert schedule.at(datetime(2025, 6, 1, 5, tzinfo=UTC)) == 0.10
    assert schedule.at(datetime(2025, 6, 1, 6, tzinfo=UTC)) == 0.15
    assert schedule.at(datetime(2025, 6, 1, 20, tzinfo=UTC)) == 0.10


def test_a_price_series_carries_its_last_price_and_export_never_beats_import() -> None:
    """Past a forecast's end its last price goes on; export is capped at import."""
    series = PriceSeries((START, START + HOUR), (0.30, 0.10))
    tariff = Tariff(series, FixedPrice(0.20), 60)
    imports, exports = tariff.prices(START, timedelta(minutes=30), 6)
    assert imports == [0.30, 0.30, 0.10, 0.10, 0.10, 0.10]
    assert exports == [0.20, 0.20, 0.10, 0.10, 0.10, 0.10]
    with pytest.raises(TariffError):
        Tariff(series, series, 30)


def test_netting_periods_are_aligned_to_the_clock() -> None:
    """A 60-minute period starts on the hour; without netting a moment is its own."""
    moment = datetime(2025, 6, 1, 10, 40, tzinfo=UTC)
    assert FLAT.period_start(moment) == datetime(2025, 6, 1, 10, tzinfo=UTC)
    assert Tariff(FixedPrice(1), FixedPrice(0), 0).period_start(moment) == moment


def test_windows_are_local_and_a_need_must_fit_its_window() -> None:
    """A window is opened in the site's time zone; a need it cannot hold is refused."""
    pump = FlexibleLoad(
        "pool_pump", 1000, 6000, window_start_min=8 * 60, window_end_min=20 * 60
    )
    windows = pump.windows(START, START + timedelta(days=1), MADRID)
    assert windows == [
        (datetime(2025, 6, 1, 6, tzinfo=UTC), datetime(2025, 6, 1, 18, tzinfo=UTC))
    ]
    night = FlexibleLoad("heater", 1000, 1000, 22 * 60, 6 * 60)
    assert night.window_length == timedelta(hours=8)
    with pytest.raises(LoadError):
        FlexibleLoad("pump", 1000, 13000, 8 * 60, 20 * 60)


def test_the_plan_puts_the_need_into_the_surplus() -> None:
    """With export paying less than import, a need runs on the day's surplus."""
    result = plan(PlanRequest(START, _sunny_day(), FLAT, [LoadNow(_heater())]))
    power = result.loads["water_heater"].power_w
    assert sum(power) / 4 == pytest.approx(4000)
    assert all(40 <= index < 64 for index, value in enumerate(power) if value > 0)
    assert result.loads["water_heater"].shortfall_wh == pytest.approx(0)
    assert result.optimal


def test_the_plan_uses_cheap_hours_when_there_is_no_surplus() -> None:
    """Under time of use and no PV, the need runs in the cheapest hours."""
    tariff = Tariff(
        time_of_use([("00:00", 0.10), ("08:00", 0.25), ("22:00", 0.15)]),
        FixedPrice(0.0),
        60,
    )
    result = plan(PlanRequest(START, [400.0] * 96, tariff, [LoadNow(_heater())]))
    power = result.loads["water_heater"].power_w
    assert all(index < 32 for index, value in enumerate(power) if value > 0)
    # 4 kWh at 0.10 and the base load at each hour's price.
    base = 0.4 * (8 * 0.10 + 14 * 0.25 + 2 * 0.15)
    assert result.cost == pytest.approx(base + 0.4, abs=1e-6)


def test_hourly_netting_lets_an_export_pay_for_an_import_in_the_same_hour() -> None:
    """Within a netting period, a surplus early in the hour pays for a load late in it."""
    base = [400.0] * 96
    base[40], base[41] = -2400.0, -2400.0  # 10:00-10:30: 1.2 kWh exported
    load = _heater(energy_wh_per_day=1000.0, min_on=timedelta(0), min_off=timedelta(0))
    netted = plan(PlanRequest(START, base, FLAT, [LoadNow(load)]))
    power = netted.loads["water_heater"].power_w
    # The load runs in the hour of the surplus, and the hour nets out.
    assert all(40 <= index < 44 for index, value in enumerate(power) if value > 0)
    assert netted.period_net_wh[10] == pytest.approx(0.0, abs=1e-6)


def test_minimum_times_and_an_uninterrupted_run_hold_in_the_plan() -> None:
    """Pieces are at least the minimum on time; a dishwasher runs once, whole."""
    # Surpluses of unequal depth: equal ones make many plans of one cost,
    # which HiGHS takes seconds to tell apart.
    base = [(-1000.0 - 10 * index if index % 8 < 2 else 300.0) for index in range(96)]
    pump = FlexibleLoad(
        "pool_pump",
        1000,
        3000,
        min_on=timedelta(minutes=45),
        min_off=timedelta(minutes=30),
    )
    dishwasher = FlexibleLoad(
        "dishwasher", 1800, 1800, 9 * 60, 21 * 60, interruptible=False
    )
    result = plan(PlanRequest(START, base, FLAT, [LoadNow(pump), LoadNow(dishwasher)]))
    for name, shortest in (("pool_pump", 3), ("dishwasher", 4)):
        runs = _runs(result.loads[name].power_w)
        assert runs
        assert min(length for _, length in runs) >= shortest
    assert len(_runs(result.loads["dishwasher"].power_w)) == 1


def test_an_uninterrupted_run_carried_in_finishes_and_is_not_run_again() -> None:
    """A dishwasher 15 minutes into its hour runs 45 more minutes, then no more."""
    # 10:00 UTC, in the window; a surplus later in it would tempt a second run.
    start = START + 10 * HOUR
    base = [-3000.0 if 8 <= index < 24 else 300.0 for index in range(160)]
    dishwasher = FlexibleLoad(
        "dishwasher", 1800, 1800, 9 * 60, 21 * 60, interruptible=False
    )
    now = LoadNow(dishwasher, 450.0, is_on=True, in_state_for=timedelta(minutes=15))
    result = plan(PlanRequest(start, base, FLAT, [now]))
    power = result.loads["dishwasher"].power_w
    # Today's window: the three owed steps only; tomorrow's run lies in tomorrow's.
    assert _runs(power[:44]) == [(0, 3)]
    tomorrow = _runs(power[44:])
    assert len(tomorrow) == 1
    assert tomorrow[0][1] == 4


def test_a_plan_started_from_the_previous_one_costs_the_same() -> None:
    """The warm start changes how fast HiGHS proves the plan, not the plan's cost."""
    base = _sunny_day(192)
    loads = [
        LoadNow(_heater()),
        LoadNow(
            FlexibleLoad("dishwasher", 1800, 1800, 9 * 60, 21 * 60, interruptible=False)
        ),
    ]
    battery = BatteryNow(10000, 5000, 5000, reserve_wh=1000)
    cold = plan(PlanRequest(START, base, FLAT, loads, battery))
    warm = plan(PlanRequest(START, base, FLAT, loads, battery, previous=cold))
    assert warm.optimal
    assert cold.optimal
    assert warm.cost == pytest.approx(cold.cost, abs=2e-3)


def _runs(power: list[float]) -> list[tuple[int, int]]:
    """Return (start, length) of each run of steps with power."""
    runs: list[tuple[int, int]] = []
    for index, value in enumerate(power):
        if value > 0:
            if runs and runs[-1][0] + runs[-1][1] == index:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((index, 1))
    return runs


def test_the_demand_charge_spreads_a_need_below_the_billed_peak() -> None:
    """2 kWh in two hours on 1 kW of base: 1 kW more each step, 2 kW billed."""
    tariff = Tariff(FixedPrice(0.20), FixedPrice(0.05), 60, demand_charge_per_kw=10)
    router = FlexibleLoad(
        "router", 2000, 2000, 0, 120, control=LoadControl.ADJUSTABLE
    )  # 00:00-02:00
    base = [1000.0] * 8
    fresh = plan(PlanRequest(START, base, tariff, [LoadNow(router)]))
    assert fresh.loads["router"].power_w == pytest.approx([1000.0] * 8, abs=1e-3)
    assert fresh.billed_peak_w == pytest.approx(2000.0, abs=1e-3)
    # 4 kWh at 0.20, and 10 per kW of a 2 kW peak.
    assert fresh.energy_cost == pytest.approx(0.80, abs=1e-3)
    assert fresh.demand_cost == pytest.approx(20.0, abs=1e-3)
    assert fresh.cost == pytest.approx(20.80, abs=1e-3)
    # A month that already billed 2.5 kW: up to it costs nothing more.
    billed = plan(
        PlanRequest(START, base, tariff, [LoadNow(router)], billed_peak_w=2500.0)
    )
    assert billed.demand_cost == pytest.approx(0.0, abs=1e-6)
    assert billed.cost == pytest.approx(0.80, abs=1e-3)
    assert max(billed.grid_w) <= 2500.0 + 1e-3
    # What the running interval imported before the start counts in it:
    # 500 Wh of its 15 minutes are gone, so the first step stays at the base.
    started = plan(
        PlanRequest(
            START,
            base,
            tariff,
            [LoadNow(router)],
            billed_peak_w=2000.0,
            interval_import_so_far_wh=500.0,
        )
    )
    assert started.loads["router"].power_w[0] == pytest.approx(0.0, abs=1e-3)


def test_a_tariff_refuses_a_billing_interval_that_does_not_divide_a_day() -> None:
    """Billing intervals divide a day; a demand charge is never negative."""
    with pytest.raises(TariffError, match="billing interval"):
        Tariff(FixedPrice(0.2), FixedPrice(0.05), 60, billing_minutes=7)
    with pytest.raises(TariffError, match="demand charge"):
        Tariff(FixedPrice(0.2), FixedPrice(0.05), 60, demand_charge_per_kw=-1)
    assert Tariff(
        FixedPrice(0.2), FixedPrice(0.05), demand_charge_per_kw=8
    ).demand_cost(2500.0) == pytest.approx(20.0)


def test_the_controller_keeps_the_months_billed_peak() -> None:
    """Its interval meter bills 3 kW after a quarter-hour at 3 kW, and a new month none."""
    tariff = Tariff(FixedPrice(0.20), FixedPrice(0.05), 60, demand_charge_per_kw=10)
    controller = FlexibleLoadsController(
        tariff, [_heater()], lambda start, steps: [400.0] * steps
    )
    moment = datetime(2025, 6, 30, 23, 0, tzinfo=UTC)
    for minute in range(0, 31):
        controller.run(moment + timedelta(minutes=minute), Measurement(3000.0, {}))
    assert controller.billed_peak_w(moment + timedelta(minutes=30)) == pytest.approx(
        3000.0
    )
    assert controller.billed_peak_w(datetime(2025, 7, 1, 0, 1, tzinfo=UTC)) == 0.0


def test_a_need_that_cannot_be_met_says_by_how_much() -> None:
    """A window that is nearly closed leaves a shortfall, not a failed plan."""
    load = FlexibleLoad("heater", 1000, 2000, 0, 120)  # 00:00-02:00
    result = plan(PlanRequest(START + HOUR, [0.0] * 8, FLAT, [LoadNow(load)]))
    assert result.loads["heater"].shortfall_wh == pytest.approx(1000.0)


def test_the_battery_carries_the_surplus_into_the_evening() -> None:
    """Stored surplus is worth more than exported: the battery fills and empties."""
    result = plan(
        PlanRequest(
            START,
            _sunny_day(),
            FLAT,
            [LoadNow(_heater())],
            BatteryNow(10000.0, 3000.0, 1000.0, reserve_wh=1000.0),
        )
    )
    assert max(result.battery_w) > 0
    assert min(result.battery_w) < 0
    # The evening after the sun imports less than the base load.
    assert sum(result.grid_w[64:96]) < sum(_sunny_day()[64:96])


def test_an_adjustable_load_takes_exactly_the_surplus() -> None:
    """A power router soaks a surplus smaller than its power, hour by hour."""
    base = [-700.0 if 40 <= index < 48 else 300.0 for index in range(96)]
    router = FlexibleLoad("router", 3000, 1400, control=LoadControl.ADJUSTABLE)
    result = plan(PlanRequest(START, base, FLAT, [LoadNow(router)]))
    power = result.loads["router"].power_w
    # Within an hour (the netting period) when it runs does not matter.
    assert sum(power[40:44]) / 4 == pytest.approx(700.0)
    assert sum(power[44:48]) / 4 == pytest.approx(700.0)


def _live(load: FlexibleLoad, power: float, **changes: object) -> LoadLive:
    """Return a load with its window open for hours and need left."""
    values: dict[str, object] = {
        "switched_at": None,
        "remaining_wh": 3000.0,
        "window_closes": START + 10 * HOUR,
    }
    values.update(changes)
    return LoadLive(load, power, **values)  # type: ignore[arg-type]  # test factory


def test_a_load_goes_on_when_the_projected_export_covers_it() -> None:
    """Half an hour in, 1.1 kWh exported and 1 kW exporting: a 2 kW load fits."""
    now = START + timedelta(minutes=30)
    projection = project(now, START + HOUR, -1100.0, -1000.0)
    assert projection.projected_wh == pytest.approx(-1600.0)
    [decision] = decide(
        now, projection, [_live(_heater(), 0.0)], None, timedelta(minutes=1)
    )
    assert decision.power_w == 2000.0
    assert decision.reason is LoadReason.SOAKING_SURPLUS
    # A 4 kW load would end the period importing: it waits.
    big = _heater(power_w=4000.0)
    [decision] = decide(now, projection, [_live(big, 0.0)], None, timedelta(minutes=1))
    assert decision.reason is LoadReason.WAITING


def test_a_load_goes_off_when_the_period_would_end_importing() -> None:
    """The lowest priority goes first, and only as many as it takes."""
    now = START + timedelta(minutes=50)
    low = _heater(name="low", priority=0, power_w=1000.0)
    high = _heater(name="high", priority=5, power_w=1000.0)
    projection = project(now, START + HOUR, 50.0, 500.0)  # +133 Wh at the end
    decisions = decide(
        now,
        projection,
        [_live(low, 1000.0), _live(high, 1000.0)],
        None,
        timedelta(minutes=1),
    )
    assert [(d.name, d.reason) for d in decisions] == [
        ("low", LoadReason.AVOIDING_IMPORT),
        ("high", LoadReason.SOAKING_SURPLUS),
    ]


def test_minimum_times_and_deadlines_override_the_period() -> None:
    """Minimum off blocks a start; a need that cannot wait runs; a met need stops."""
    now = START + timedelta(minutes=30)
    export = project(now, START + HOUR, -3000.0, -3000.0)
    tick = timedelta(minutes=1)
    blocked = _live(_heater(), 0.0, switched_at=now - timedelta(minutes=5))
    assert (
        decide(now, export, [blocked], None, tick)[0].reason is LoadReason.MIN_OFF_TIME
    )
    importing = project(now, START + HOUR, 500.0, 1000.0)
    late = _live(_heater(), 0.0, remaining_wh=2000.0, window_closes=now + HOUR)
    decision = decide(now, importing, [late], None, tick)[0]
    assert (decision.power_w, decision.reason) == (2000.0, LoadReason.MEETING_NEED)
    met = _live(_heater(), 2000.0, remaining_wh=0.0)
    assert decide(now, export, [met], None, tick)[0].reason is LoadReason.NEED_MET


def test_an_adjustable_load_brings_the_projection_to_zero() -> None:
    """A power router takes what the period would export, and no more."""
    now = START + timedelta(minutes=30)
    router = FlexibleLoad("router", 3000, 3000, control=LoadControl.ADJUSTABLE)
    projection = project(now, START + HOUR, -400.0, -200.0)  # -500 Wh at the end
    [decision] = decide(
        now, projection, [_live(router, 0.0)], None, timedelta(minutes=1)
    )
    assert decision.power_w == pytest.approx(1000.0)


def _controller_day(
    controller: FlexibleLoadsController, surplus_w: float
) -> list[float]:
    """Run a day minute by minute on a steady surplus 10:00-16:00; return hourly nets."""
    grid_w, powers = 0.0, {load.name: 0.0 for load in controller.loads}
    hourly = [0.0] * 24
    switches = 0
    for minute in range(24 * 60):
        now = START + timedelta(minutes=minute)
        base = -surplus_w if 600 <= minute < 960 else 400.0
        result = controller.run(now, Measurement(grid_w, dict(powers)))
        new = {d.name: d.power_w for d in result.decisions}
        switches += sum(1 for name in new if (new[name] > 0) != (powers[name] > 0))
        powers = new
        grid_w = base + sum(powers.values())
        hourly[minute // 60] += grid_w / 60
    controller.switches = switches  # type: ignore[attr-defined]  # the test's tally
    return hourly


def test_the_controller_meets_the_need_and_ends_the_sunny_hours_near_zero() -> None:
    """On a steady 1.5 kW surplus, a 2 kW heater alternates so each hour nets out."""
    controller = FlexibleLoadsController(
        FLAT,
        [_heater(energy_wh_per_day=9000.0)],
        lambda start, steps: [
            -1500.0
            if 40 <= (start.hour * 4 + start.minute // 15 + i) % 96 < 64
            else 400.0
            for i in range(steps)
        ],
    )
    hourly = _controller_day(controller, 1500.0)
    delivered = controller.books["water_heater"].delivered_wh
    assert delivered == pytest.approx(9000.0, abs=40)
    # The sunny hours end within a few dozen Wh of zero.
    assert all(abs(net) < 60 for net in hourly[10:16])
    # No flicker: a handful of switches per sunny hour at most.
    assert controller.switches <= 6 * 4  # type: ignore[attr-defined]
    assert math.isclose(sum(hourly[10:16]), 0.0, abs_tol=300)


def test_a_load_is_not_switched_off_when_its_minimum_off_time_would_miss_the_need() -> (
    None
):
    """An hour left, 900 Wh to go at 1 kW, 30 minutes off: it stays on."""
    now = START + timedelta(minutes=50)
    pump = FlexibleLoad("pool_pump", 1000, 6000, min_off=timedelta(minutes=30))
    importing = project(now, START + HOUR, 300.0, 1500.0)
    live = _live(pump, 1000.0, remaining_wh=900.0, window_closes=now + HOUR)
    decision = decide(now, importing, [live], None, timedelta(minutes=1))[0]
    assert (decision.power_w, decision.reason) == (1000.0, LoadReason.MEETING_NEED)
    # With the whole evening left it goes off to avoid the import.
    early = _live(pump, 1000.0, remaining_wh=900.0, window_closes=now + 5 * HOUR)
    decision = decide(now, importing, [early], None, timedelta(minutes=1))[0]
    assert decision.reason is LoadReason.AVOIDING_IMPORT


def test_needs_and_soaking_wait_under_the_peak_limit_boosts_do_not() -> None:
    """A need that would import waits for room under the billed peak; the
    higher priority is served first; a boost goes through; soaking up a
    projected export needs room too (a cloud may take the export away)."""
    now = START + timedelta(minutes=30)
    importing = project(now, START + HOUR, 500.0, 1000.0)
    tick = timedelta(minutes=1)
    late = {"remaining_wh": 2000.0, "window_closes": now + HOUR}
    low = _live(_heater(name="low", priority=0), 0.0, **late)
    high = _live(_heater(name="high", priority=5), 0.0, **late)
    # Room for one 2 kW heater: the higher priority takes it.
    decisions = decide(now, importing, [low, high], None, tick, headroom_w=2500.0)
    assert [(d.name, d.power_w, d.reason) for d in decisions] == [
        ("low", 0.0, LoadReason.PEAK_LIMIT),
        ("high", 2000.0, LoadReason.MEETING_NEED),
    ]
    # No room: both wait; without a limit known, both run.
    held = decide(now, importing, [low, high], None, tick, headroom_w=-300.0)
    assert {d.reason for d in held} == {LoadReason.PEAK_LIMIT}
    free = decide(now, importing, [low, high], None, tick)
    assert {d.reason for d in free} == {LoadReason.MEETING_NEED}
    # The user's boost goes through the peak limit.
    boosted = _live(_heater(), 0.0, boost=True)
    [decision] = decide(now, importing, [boosted], None, tick, headroom_w=0.0)
    assert decision.reason is LoadReason.BOOST
    # Soaking up an export: within the room it starts, past it it waits.
    export = project(now, START + HOUR, -3000.0, -3000.0)
    [decision] = decide(
        now, export, [_live(_heater(), 0.0)], None, tick, headroom_w=2500.0
    )
    assert decision.reason is LoadReason.SOAKING_SURPLUS
    [decision] = decide(
        now, export, [_live(_heater(), 0.0)], None, tick, headroom_w=1000.0
    )
    assert decision.reason is LoadReason.PEAK_LIMIT


def test_an_adjustable_load_takes_what_room_there_is() -> None:
    """A router with a need that cannot wait rises only by the room left."""
    now = START + timedelta(minutes=30)
    importing = project(now, START + HOUR, 500.0, 1000.0)
    router = FlexibleLoad("router", 3000, 2000, control=LoadControl.ADJUSTABLE)
    live = _live(router, 500.0, remaining_wh=3000.0, window_closes=now + HOUR)
    [decision] = decide(
        now, importing, [live], None, timedelta(minutes=1), headroom_w=800.0
    )
    assert (decision.power_w, decision.reason) == (1300.0, LoadReason.PEAK_LIMIT)
