"""The fuses and the grid connection over the flexible loads: nothing passes them."""

from datetime import UTC, datetime, timedelta

from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    FixedPrice,
    FlexibleLoad,
    FlexibleLoadsController,
    LoadControl,
    Measurement,
    Tariff,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.netting import (
    LoadDecision,
    LoadLive,
    LoadReason,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.safety import (
    hold_within_safety,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CLOSES = NOW + timedelta(hours=6)
HEATER = FlexibleLoad("heater", 3000, 6000, priority=2)
PUMP = FlexibleLoad("pump", 1000, 4000, priority=1)
ROUTER = FlexibleLoad("router", 3000, 5000, control=LoadControl.ADJUSTABLE)
DISHWASHER = FlexibleLoad("dishwasher", 1800, 1800, interruptible=False)


def live(load: FlexibleLoad, power_w: float) -> LoadLive:
    """Return the load drawing ``power_w``, its window open, its need left."""
    return LoadLive(load, power_w, None, load.energy_wh_per_day, CLOSES)


def wish(load: FlexibleLoad, power_w: float, reason: LoadReason) -> LoadDecision:
    """Return what the layer (or the user) asks of the load."""
    return LoadDecision(load.name, power_w, reason)


def test_a_boost_waits_where_the_fuse_has_no_room_and_the_higher_priority_first() -> (
    None
):
    """2.5 kW under the busiest fuse: the pump (1 kW) fits, the boosted heater waits."""
    held = hold_within_safety(
        [
            wish(HEATER, 3000, LoadReason.BOOST),
            wish(PUMP, 1000, LoadReason.MEETING_NEED),
        ],
        [live(HEATER, 0), live(PUMP, 0)],
        2500,
    )
    assert [(d.power_w, d.reason) for d in held] == [
        (0.0, LoadReason.GRID_LIMIT),
        (1000, LoadReason.MEETING_NEED),
    ]
    # With room for both, the heater (priority 2) is served and nothing changes.
    wishes = [
        wish(HEATER, 3000, LoadReason.BOOST),
        wish(PUMP, 1000, LoadReason.CHEAP_HOUR),
    ]
    assert hold_within_safety(wishes, [live(HEATER, 0), live(PUMP, 0)], 4000) == wishes


def test_an_adjustable_load_takes_what_fits_and_a_load_on_keeps_its_power() -> None:
    """A router already at 1 kW may rise by the 1.2 kW left, not to its 3 kW."""
    [router] = hold_within_safety(
        [wish(ROUTER, 3000, LoadReason.SOAKING_SURPLUS)], [live(ROUTER, 1000)], 1200
    )
    assert (router.power_w, router.reason) == (2200, LoadReason.GRID_LIMIT)


def test_past_a_limit_loads_are_shed_lowest_priority_first_but_a_run_finishes() -> None:
    """The house alone is 1.5 kW past the fuse: the pump and the heater go off.

    The dishwasher's uninterrupted run goes on: stopped, it would start over.
    """
    loads = [live(HEATER, 3000), live(PUMP, 1000), live(DISHWASHER, 1800)]
    held = hold_within_safety(
        [
            wish(HEATER, 3000, LoadReason.MIN_ON_TIME),
            wish(PUMP, 1000, LoadReason.SOAKING_SURPLUS),
            wish(DISHWASHER, 1800, LoadReason.UNINTERRUPTED_RUN),
        ],
        loads,
        -1500,
    )
    assert [(d.power_w, d.reason) for d in held] == [
        (0.0, LoadReason.GRID_LIMIT),
        (0.0, LoadReason.GRID_LIMIT),
        (1800, LoadReason.UNINTERRUPTED_RUN),
    ]
    # 0.5 kW past it: the pump alone is enough.
    held = hold_within_safety(
        [
            wish(HEATER, 3000, LoadReason.MIN_ON_TIME),
            wish(PUMP, 1000, LoadReason.CHEAP_HOUR),
        ],
        loads[:2],
        -500,
    )
    assert [d.power_w for d in held] == [3000, 0.0]


def test_the_controller_holds_a_boost_under_the_safety_room_and_books_it_off() -> None:
    """The user's boost is a request: the fuse's room comes before it."""
    controller = FlexibleLoadsController(
        Tariff(FixedPrice(0.20), FixedPrice(0.05), 60),
        [HEATER],
        forecast=lambda start, steps: None,
    )
    controller.books["heater"].boost = True  # the boost_load action sets it
    result = controller.run(NOW, Measurement(1000, {"heater": 0.0}), safety_w=2000)
    [decision] = result.decisions
    assert (decision.power_w, decision.reason) == (0.0, LoadReason.GRID_LIMIT)
    assert controller.books["heater"].starts == 0
    result = controller.run(
        NOW + timedelta(minutes=1), Measurement(1000, {"heater": 0.0}), safety_w=3500
    )
    assert result.decisions[0].reason is LoadReason.BOOST
