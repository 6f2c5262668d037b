"""A deadline session within the site's limits: planned on the room they leave."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.energy_orchestrator.lib.control.ev_charging import (
    ChargeMode,
    ChargingReason,
    EvChargingManager,
    EvInputs,
    WallboxLimits,
    site_caps,
)
from custom_components.energy_orchestrator.lib.control.ev_deadline import (
    Room,
    RoomAhead,
    fill_lift,
    plan_stretch,
)

T0 = datetime(2026, 12, 7, 17, tzinfo=UTC)
DEADLINE = datetime(2026, 12, 8, 7, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
QUARTER = timedelta(minutes=15)
LEVEL_W = 4000.0  # the billed peak peak shaving holds
LIMIT_W = 12000.0  # the grid connection's import limit
VOLTS = 230.0


def evening(moment: datetime) -> float:
    """Return the house: 3 kW from 17:00 to 22:00, 500 W at night, 2.5 kW from 06:00."""
    hour = moment.hour
    if 17 <= hour < 22:
        return 3000.0
    if 6 <= hour < 8:
        return 2500.0
    return 500.0


def forecast(
    house: Callable[[datetime], float], start: datetime, level_w: float
) -> RoomAhead:
    """Return a site plan's room ahead: the level less the house, per quarter."""
    steps = [start + number * QUARTER for number in range(64)]
    return RoomAhead(
        start,
        QUARTER,
        tuple(level_w - house(moment) for moment in steps),
        tuple(LIMIT_W - house(moment) for moment in steps),
    )


def charge(
    house: Callable[[datetime], float],
    need_wh: float,
    *,
    ahead: bool,
    level_w: float = LEVEL_W,
) -> tuple[EvChargingManager, list[float], list[ChargingReason]]:
    """Run a deadline session minute by minute under peak shaving's caps.

    The caps are what peak shaving would post: its room under ``level_w``
    and the grid's limit less the house, plus what the car takes
    (``site_caps``). Returns the manager, the imports and the reasons.
    """
    manager = EvChargingManager(WallboxLimits(), now=T0)
    manager.start(T0, ChargeMode.DEADLINE, need_wh, DEADLINE)
    car_w = 0.0
    imports: list[float] = []
    reasons: list[ChargingReason] = []
    now = T0
    while now < DEADLINE:
        base = house(now)
        peak_cap, _ = site_caps(
            ev_power_w=car_w,
            phases=manager.memory.phases,
            voltage_v=VOLTS,
            grid_headroom_w=level_w - base - car_w,
            phase_headroom_w=None,
        )
        status = manager.update(
            now,
            EvInputs(
                grid_power_w=base + car_w,
                ev_power_w=car_w,
                peak_cap_w=peak_cap,
                grid_cap_w=LIMIT_W - base,
                room_ahead=forecast(house, T0, level_w) if ahead else None,
            ),
        )
        command = status.command
        car_w = command.current_a * VOLTS * command.phases if command.enable else 0.0
        imports.append(base + car_w)
        reasons.append(status.reason)
        now += MINUTE
    # Book the last minute.
    manager.update(now, EvInputs(grid_power_w=0.0, ev_power_w=car_w))
    return manager, imports, reasons


def test_the_car_meets_its_need_under_the_billed_peak() -> None:
    """10 kWh over a night whose room holds it: met, the import never above the peak."""
    manager, imports, reasons = charge(evening, 10_000, ahead=True)
    assert manager.memory.session_wh >= 10_000
    assert max(imports) <= LEVEL_W + 1
    assert ChargingReason.DEADLINE in reasons


def test_without_a_forecast_the_morning_lifts_the_peak_by_the_least() -> None:
    """The room now taken to last: the morning's rise is a surprise, met by a small lift."""
    manager, imports, _ = charge(evening, 10_000, ahead=False)
    assert manager.memory.session_wh >= 10_000
    # Full power (11 kW) on the morning's 2.5 kW would be 13.5 kW.
    assert max(imports) < LEVEL_W + 2500


def test_with_a_forecast_the_car_takes_the_night_not_the_evening() -> None:
    """The evening leaves 1 kW, below the car's minimum; the night 3.5 kW: it charges there."""
    _, imports, _ = charge(evening, 10_000, ahead=True)
    evening_minutes = imports[: 5 * 60]
    assert evening_minutes == [3000.0] * len(evening_minutes)
    # Nothing charged into the morning's rise either.
    assert max(imports[-90:]) == 2500.0


def test_a_need_the_room_cannot_hold_lifts_the_peak_by_the_least() -> None:
    """30 kWh where the room under a 2 kW peak holds about 20: the peak rises, not to full power."""
    manager, imports, _ = charge(evening, 30_000, ahead=True, level_w=2000.0)
    assert manager.memory.session_wh >= 30_000
    # Full power on three phases (11 kW) over the night's 500 W would be 11.5 kW.
    assert 2000.0 < max(imports) < 6500.0
    assert max(imports) <= LIMIT_W


def test_without_a_forecast_the_stretch_begins_on_the_room() -> None:
    """The night's 3.5 kW of room, not full power, sets the stretch's start."""
    _, imports, _ = charge(evening, 10_000, ahead=False)
    full_power_start = DEADLINE - timedelta(minutes=15) - timedelta(hours=10 / 11.04)
    started = T0 + MINUTE * next(
        index
        for index, value in enumerate(imports)
        if value > evening(T0 + index * MINUTE)
    )
    assert started < full_power_start - timedelta(hours=1)


def test_the_grid_limit_holds_when_the_deadline_lifts_the_peak() -> None:
    """A need that lifts the peak still never goes through the grid's limit (safety)."""

    def heavy(moment: datetime) -> float:
        """Return a house at 10 kW all night."""
        return 10_000.0

    manager, imports, reasons = charge(heavy, 8000, ahead=False, level_w=10_000.0)
    assert max(imports) <= LIMIT_W
    assert manager.memory.session_wh >= 8000
    assert ChargingReason.GRID_LIMIT in reasons or max(imports) < LIMIT_W


def test_fill_lift_is_below_zero_when_the_room_is_ample() -> None:
    """Ample room: the car takes only the deepest valley; short room: the peak lifts."""
    rooms = [
        Room(T0, 1.0, 2000.0, 9000.0),
        Room(T0 + timedelta(hours=1), 1.0, 6000.0, 9000.0),
    ]
    lift = fill_lift(rooms, 4000.0, min_w=1380.0, max_w=11040.0)
    assert lift < 0
    assert 6000.0 + lift == pytest.approx(4000.0, abs=2.0)
    lift = fill_lift(rooms, 12_000.0, min_w=1380.0, max_w=11040.0)
    assert lift > 0
    assert (2000.0 + lift) + (6000.0 + lift) == pytest.approx(12_000.0, abs=4.0)


def test_plan_stretch_begins_at_the_latest_moment_the_room_allows() -> None:
    """Three hours of 2 kW room before a deadline: 4 kWh begin two hours before it."""
    rooms = [Room(T0 + timedelta(hours=hour), 1.0, 2000.0, 9000.0) for hour in range(3)]
    stretch = plan_stretch(T0, rooms, 4000.0, min_w=1380.0, max_w=11040.0)
    assert stretch.start == T0 + timedelta(hours=1)
    assert stretch.raise_w == 0.0
    # Not holding 9 kWh, the room usable now: lift the peak now by the least.
    stretch = plan_stretch(T0, rooms, 9000.0, min_w=1380.0, max_w=11040.0)
    assert stretch.start == T0
    assert stretch.raise_w == pytest.approx(1000.0, abs=1.0)


def test_a_room_below_the_minimum_waits_for_more_until_the_grid_alone_allows() -> None:
    """1 kW of room (below the car's 1.4 kW): wait until 9 kW of grid room is needed."""
    rooms = [Room(T0 + timedelta(hours=hour), 1.0, 1000.0, 9000.0) for hour in range(3)]
    stretch = plan_stretch(T0, rooms, 9000.0, min_w=1380.0, max_w=11040.0)
    assert stretch.start == T0 + timedelta(hours=2)
    assert stretch.raise_w == 0.0
    stretch = plan_stretch(T0, rooms, 9000.0, min_w=1380.0, max_w=11040.0, begun=True)
    assert stretch.start == T0
    assert stretch.raise_w == pytest.approx(2000.0, abs=1.0)


def test_a_lift_the_peak_limit_holds_is_not_taken_from_the_plan_s_room() -> None:
    """Peak shaving raises its level by the lift: the car lifts from the room now.

    The room now (200 W: this interval's budget is half spent) is below
    the plan's (1 kW). Where nothing raises the level (the lab) the car
    lifts from the plan's room, so the budget does not take the lift back;
    where peak shaving holds it, from the room now. Either way the lift it
    reports is what its command takes above the room now.
    """
    start = T0.replace(hour=5)
    deadline = T0.replace(hour=7)
    ahead = RoomAhead(start, QUARTER, (1000.0,) * 8)

    def step(held: bool) -> tuple[float, float]:
        manager = EvChargingManager(WallboxLimits(), now=start)
        manager.start(start, ChargeMode.DEADLINE, 8000.0, deadline)
        status = manager.update(
            start,
            EvInputs(
                grid_power_w=3000.0,
                ev_power_w=0.0,
                peak_cap_w=200.0,
                room_ahead=ahead,
                peak_lift_held=held,
            ),
        )
        command = status.command
        assert command.enable
        return command.current_a * command.phases * VOLTS, status.peak_lift_w

    held_w, held_lift = step(held=True)
    lab_w, lab_lift = step(held=False)
    assert lab_w - held_w == pytest.approx(800.0, abs=3 * VOLTS)
    assert held_lift == pytest.approx(held_w - 200.0)
    assert lab_lift == pytest.approx(lab_w - 200.0)
