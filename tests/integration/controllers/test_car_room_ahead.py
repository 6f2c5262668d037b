"""A deadline car under peak shaving: the room ahead, and the lift of the billed peak."""

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import RecorderInstanceContextManager

from custom_components.energy_orchestrator.const import (
    CONTROLLER_STEP,
    DOMAIN,
)
from custom_components.energy_orchestrator.controller.site_limits import (
    PeakLift,
    SiteHeadroom,
    async_controllable_load_w,
    async_peak_lifts,
    async_post_headroom,
    async_post_lift,
    async_site_headroom,
)
from custom_components.energy_orchestrator.lib.control.ev_deadline import RoomAhead
from tests.integration.controllers.peak_and_car import (
    async_setup_setpoint,
    peak_shaving_entry,
    report_meters,
    wallbox_manager_entry,
)
from tests.integration.controllers.test_flexible_loads import (
    HEATER,
    METER,
    PUMP,
    _entry as flexible_loads_entry,
)
from tests.integration.controllers.test_wallbox_manager import (
    CURRENT,
    ENABLE,
    PHASES,
    STATE,
    wallbox,
)

LIMIT = "sensor.peak_shaving_active_import_limit"
DEADLINE_STARTS = "sensor.wallbox_deadline_charging_starts"
# A winter Monday; the tests' time zone is UTC.
MONDAY = datetime(2026, 12, 7, tzinfo=UTC)


def house_w(moment: datetime) -> float:
    """The house: 4 kW in the evening, 300 W in the small hours, 1 kW else."""
    if 17 <= moment.hour < 22:
        return 4000.0
    if moment.hour < 5:
        return 300.0
    return 1000.0


@pytest.fixture
def mock_recorder_before_hass(
    async_test_recorder: RecorderInstanceContextManager,
) -> None:
    """Prepare the recorder before Home Assistant, for the test that needs it."""


@pytest.fixture
async def site_entries(
    hass: HomeAssistant, wallbox: None
) -> tuple[MockConfigEntry, MockConfigEntry]:
    """Peak shaving over a battery at its floor (its level is the evening's), and a car."""
    await hass.config.async_set_time_zone("UTC")
    await async_setup_setpoint(hass)
    peak = peak_shaving_entry(None)
    car = wallbox_manager_entry()
    return peak, car


def car_w(hass: HomeAssistant) -> float:
    """Return what the wallbox's commands make the car take."""
    if hass.states.get(ENABLE).state != "on":
        return 0.0
    return (
        float(hass.states.get(CURRENT).state) * 230 * int(hass.states.get(PHASES).state)
    )


def measure(hass: HomeAssistant, now: datetime) -> float:
    """Set the meters from the house and the car now; return the grid import."""
    car = car_w(hass)
    grid = house_w(now) + car  # the battery is at its floor: it gives nothing
    report_meters(hass, grid, car)
    return grid


async def step(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entries: tuple[MockConfigEntry, ...],
) -> float:
    """Let a step pass (15 s); peak shaving steps, then the wallbox manager.

    Returns the grid import.
    """
    freezer.tick(CONTROLLER_STEP)
    now = freezer.time_to_freeze.replace(tzinfo=UTC)
    measure(hass, now)
    for entry in entries:
        await entry.runtime_data.coordinator.async_refresh()
        await hass.async_block_till_done()
    return measure(hass, now)


async def start_site(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entries: tuple[MockConfigEntry, ...],
    at: datetime,
) -> None:
    """Load the entries at ``at``; give peak shaving two days of the house, and plan."""
    freezer.move_to(at)
    measure(hass, at)
    for entry in entries:
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    peak = entries[0]
    coordinator = peak.runtime_data.coordinator
    first = at.replace(hour=0, minute=0) - timedelta(days=2)
    for index in range(2 * 288):
        moment = first + index * timedelta(minutes=5)
        coordinator.shaver.observe(moment, house_w(moment), 0.0)
    await coordinator.async_replan()


async def charge_by(
    hass: HomeAssistant, car: MockConfigEntry, energy_kwh: float, deadline: datetime
) -> None:
    """Start a deadline session."""
    await hass.services.async_call(
        DOMAIN,
        "start_charging",
        {
            "config_entry_id": car.entry_id,
            "mode": "deadline",
            "target_energy": energy_kwh,
            "deadline": deadline.isoformat(),
        },
        blocking=True,
    )


__all__ = ["wallbox"]  # the wallbox fixture, shared


async def test_a_deadline_car_charges_in_the_planned_valley(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    site_entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    """Peak shaving's room ahead: the car waits for the small hours, then takes them."""
    _, car = site_entries
    evening = MONDAY.replace(hour=22)
    await start_site(hass, freezer, site_entries, evening)
    headroom = async_site_headroom(hass, evening)
    assert headroom is not None
    assert headroom.ahead is not None
    # The room ahead is the level less the house: most in the small hours.
    level = float(hass.states.get(LIMIT).state)
    ahead = headroom.ahead
    assert ahead.step == timedelta(minutes=15)
    at_one = int((MONDAY + timedelta(days=1, hours=1) - ahead.start) / ahead.step)
    assert ahead.peak_w[at_one] == pytest.approx(level - 300, abs=1)
    assert ahead.peak_w[at_one + 20] == pytest.approx(level - 1000, abs=1)

    await charge_by(hass, car, 6.0, MONDAY + timedelta(days=1, hours=7))
    for _ in range(3):
        await step(hass, freezer, site_entries)
    # 3 kW of room now holds the need as well, but the small hours hold it
    # with less of the peak: the car waits for them.
    assert hass.states.get(ENABLE).state == "off"
    assert hass.states.get(DEADLINE_STARTS).state == (
        (MONDAY + timedelta(days=1)).isoformat()
    )

    freezer.move_to(MONDAY + timedelta(days=1, minutes=30))
    for _ in range(3):
        await step(hass, freezer, site_entries)
    assert hass.states.get(ENABLE).state == "on"
    assert hass.states.get(STATE).attributes["reason"] == "deadline"
    # No lift: the room holds the need.
    assert async_peak_lifts(hass, freezer.time_to_freeze.replace(tzinfo=UTC)) == {}
    assert hass.states.get(LIMIT).attributes["lift"] == 0


async def test_without_peak_shaving_the_deadline_keeps_its_rule(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    site_entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    """No post: the car starts at the latest moment full power still makes it."""
    _, car = site_entries
    evening = MONDAY.replace(hour=22)
    freezer.move_to(evening)
    measure(hass, evening)
    car.add_to_hass(hass)
    assert await hass.config_entries.async_setup(car.entry_id)
    await hass.async_block_till_done()
    deadline = MONDAY + timedelta(days=1, hours=7)
    await charge_by(hass, car, 6.0, deadline)
    freezer.move_to(MONDAY + timedelta(days=1, minutes=30))
    await step(hass, freezer, (car,))
    assert async_site_headroom(hass, freezer.time_to_freeze.replace(tzinfo=UTC)) is None
    assert hass.states.get(ENABLE).state == "off"
    # 6 kWh on one phase at 16 A (one phase makes it), before the 15-minute margin.
    starts = datetime.fromisoformat(hass.states.get(DEADLINE_STARTS).state)
    expected = deadline - timedelta(minutes=15) - timedelta(hours=6 / 3.68)
    assert abs(starts - expected) < timedelta(seconds=1)


async def lifted_interval(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    site_entries: tuple[MockConfigEntry, MockConfigEntry],
) -> tuple[list[float], list[float]]:
    """Start a need the room cannot hold at 05:00; return an interval's cars and imports.

    The interval is the first one, 05:00-05:15: its last step is the last
    before the billed peak takes the lift in.
    """
    _, car = site_entries
    dawn = MONDAY.replace(hour=5)
    await start_site(hass, freezer, site_entries, dawn)
    await charge_by(hass, car, 8.0, MONDAY.replace(hour=7))
    cars, imports = [], []
    last = dawn.replace(minute=15) - CONTROLLER_STEP
    while freezer.time_to_freeze.replace(tzinfo=UTC) < last:
        imports.append(await step(hass, freezer, site_entries))
        cars.append(car_w(hass))
    return cars, imports


async def test_a_need_the_room_cannot_hold_lifts_the_level_for_the_session(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    site_entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    """The car's lift raises peak shaving's level across the interval, until it ends."""
    _, car = site_entries
    cars, imports = await lifted_interval(hass, freezer, site_entries)
    now = freezer.time_to_freeze.replace(tzinfo=UTC)
    lifts = async_peak_lifts(hass, now)
    assert list(lifts) == ["Wallbox"]
    lift = lifts["Wallbox"]
    limit = hass.states.get(LIMIT)
    assert limit.attributes["lift"] == pytest.approx(lift, abs=5)
    assert limit.attributes["lifted_by"] == ["Wallbox"]
    level = float(limit.state) - lift
    # The room under the level (1 kW of house) leaves the car less than its
    # minimum; the lift gives it what 8 kWh by 07:00 needs, all interval long.
    assert level - 1000 < 1380
    assert lift > 3000
    assert hass.states.get(STATE).attributes["reason"] == "deadline"
    # Whole amps on three phases: up to 690 W under the lifted room.
    assert min(cars) == max(cars) >= level - 1000 + lift - 3 * 230
    assert level + lift - 3 * 230 <= sum(imports) / len(imports) <= level + lift

    # What the car draws is posted: peak shaving learns the house without it.
    assert async_controllable_load_w(hass, now) == pytest.approx(cars[-1])
    # A wallbox manager that stopped stepping: its lift goes stale.
    assert async_peak_lifts(hass, now + timedelta(seconds=46)) == {}
    assert async_controllable_load_w(hass, now + timedelta(seconds=46)) == 0

    # The session ends: the lift with it, at the next steps.
    await hass.services.async_call(
        DOMAIN, "stop_charging", {"config_entry_id": car.entry_id}, blocking=True
    )
    await step(hass, freezer, site_entries)
    now = freezer.time_to_freeze.replace(tzinfo=UTC)
    assert async_peak_lifts(hass, now) == {}
    assert hass.states.get(LIMIT).attributes["lift"] == 0
    assert hass.states.get(LIMIT).attributes["lifted_by"] == []
    await step(hass, freezer, site_entries)
    now = freezer.time_to_freeze.replace(tzinfo=UTC)
    assert async_controllable_load_w(hass, now) == 0


async def test_a_lift_not_held_is_taken_back_within_the_interval(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    site_entries: tuple[MockConfigEntry, MockConfigEntry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: a peak shaver deaf to the lift takes it back with its interval's budget."""
    monkeypatch.setattr(
        "custom_components.energy_orchestrator.peak_shaving.coordinator.async_peak_lifts",
        lambda hass, now: {},
    )
    cars, imports = await lifted_interval(hass, freezer, site_entries)
    level = float(hass.states.get(LIMIT).state)
    assert hass.states.get(LIMIT).attributes["lift"] == 0
    # The car began with the lift, and the budget took it back: the car
    # stopped, and the interval averaged the level.
    assert max(cars) > level - 1000 + 3000
    assert min(cars) == 0
    assert sum(imports) / len(imports) < level + 100


async def test_two_peak_shavers_leave_the_car_the_tighter_room_ahead(
    hass: HomeAssistant,
) -> None:
    """Two connections' peak shavers: the least room step by step; lifts add up."""
    start = MONDAY.replace(hour=22)
    quarter = timedelta(minutes=15)

    def post(entry_id: str, rooms: tuple[float, ...], at: datetime = start) -> None:
        async_post_headroom(
            hass,
            entry_id,
            SiteHeadroom(
                at=at,
                source=entry_id,
                grid_w=1000.0,
                phase_w=None,
                ahead=RoomAhead(at, quarter, rooms),
                lifts_level=True,
            ),
        )

    post("north", (1000.0, 3000.0, 2000.0))
    post("south", (2000.0, 1000.0))
    headroom = async_site_headroom(hass, start)
    assert headroom is not None
    assert headroom.ahead == RoomAhead(start, quarter, (1000.0, 1000.0))
    assert headroom.lifts_level
    # Plans on other steps give the car no forecast it could trust.
    post("south", (2000.0, 1000.0), start + timedelta(seconds=5))
    headroom = async_site_headroom(hass, start + timedelta(seconds=5))
    assert headroom is not None
    assert headroom.ahead is None

    for entry_id, lift in (("car 1", 500.0), ("car 2", 700.0), ("car 3", 0.0)):
        async_post_lift(
            hass, entry_id, PeakLift(at=start, source="Wallbox", lift_w=lift)
        )
    assert async_peak_lifts(hass, start + timedelta(seconds=45)) == {"Wallbox": 1200.0}
    async_post_lift(hass, "car 2", None)
    assert async_peak_lifts(hass, start) == {"Wallbox": 500.0}
    assert async_peak_lifts(hass, start + timedelta(seconds=46)) == {}


async def test_the_week_read_from_the_recorder_leaves_the_car_out(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    site_entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    """Two nights the car charged 3 kW: peak shaving starts knowing the house's 1 kW.

    Its first week is read from the recorder (the meters' history, no
    step of its own); the wallbox manager's car power is in that history.
    The flexible loads' forecast of the site starts from the house alone too.
    """
    peak, car = site_entries
    loads = flexible_loads_entry()
    loads.add_to_hass(hass)
    await _record_two_nights(hass, freezer, car_w=3000.0)
    # 01:00: the house alone, not the house and the car.
    assert await _forecast_at_one(hass, car, peak) == pytest.approx(1000.0, abs=50)
    assert _loads_forecast_at_one(loads) == pytest.approx(1000.0, abs=50)


async def test_the_week_read_from_the_recorder_leaves_the_flexible_loads_out(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    site_entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    """Two nights the water heater (2 kW, a switch) ran: the house is still 1 kW.

    The heater has no power sensor: its switch's history and its power
    say what it drew. The pool pump stayed off. Peak shaving and the
    loads' own forecast both start from the house alone.
    """
    peak, _ = site_entries
    loads = flexible_loads_entry()
    await _record_two_nights(hass, freezer, heater_w=2000.0)
    assert await _forecast_at_one(hass, loads, peak) == pytest.approx(1000.0, abs=50)
    assert _loads_forecast_at_one(loads) == pytest.approx(1000.0, abs=50)


async def _record_two_nights(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    *,
    car_w: float = 0.0,
    heater_w: float = 0.0,
) -> None:
    """Record the two days before Monday, quarter by quarter.

    A 1 kW house; at night (until 03:00) the car's ``car_w`` and the water
    heater's ``heater_w`` (its switch on) too, on both grid meters.
    """
    first = MONDAY - timedelta(days=2)
    for quarter in range(2 * 96):
        moment = first + quarter * timedelta(minutes=15)
        freezer.move_to(moment)
        night = moment.hour < 3
        grid = 1000.0 + (car_w + heater_w) * night
        report_meters(hass, grid, car_w * night)
        hass.states.async_set(METER, str(grid), {"unit_of_measurement": "W"})
        hass.states.async_set(HEATER, "on" if night and heater_w else "off")
        hass.states.async_set(PUMP, "off")
        await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    freezer.move_to(MONDAY)


async def _forecast_at_one(
    hass: HomeAssistant, other: MockConfigEntry, peak: MockConfigEntry
) -> float:
    """Add the entries, peak shaving last; return its forecast for 01:00 Monday."""
    for entry in (other, peak):
        entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(peak.entry_id)
    await hass.async_block_till_done()
    plan = peak.runtime_data.coordinator.shaver.replan(MONDAY, 5000.0)
    assert plan is not None
    return plan.net_w[4]


def _loads_forecast_at_one(loads: MockConfigEntry) -> float:
    """Return the flexible loads' forecast of the site for 01:00 Monday.

    The entry was loaded with peak shaving (the integration's first entry
    sets up all).
    """
    base = loads.runtime_data.coordinator._forecast(MONDAY, 96)
    assert base is not None
    return base[4]
