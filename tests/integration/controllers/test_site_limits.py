"""Peak shaving and the wallbox manager on one site: the car within the billed peak."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import DOMAIN
from custom_components.energy_orchestrator.controller.site_limits import (
    SiteHeadroom,
    TakenHeadroom,
    async_post_headroom,
    async_site_headroom,
    async_take_headroom,
)
from tests.integration.controllers.peak_and_car import (
    async_setup_setpoint,
    peak_shaving_entry,
    report_meters,
    wallbox_manager_entry,
)
from tests.integration.controllers.test_wallbox_manager import (
    CURRENT,
    ENABLE,
    PHASES,
    STATE,
    wallbox,
)

LIMIT_W = 9000.0
HOUSE_W = 4000.0
T0 = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)


@pytest.fixture
async def site_entries(
    hass: HomeAssistant, wallbox: None
) -> tuple[MockConfigEntry, MockConfigEntry]:
    """Peak shaving over an empty battery, and a wallbox manager, on one meter."""
    await async_setup_setpoint(hass)
    peak = peak_shaving_entry(LIMIT_W)
    car = wallbox_manager_entry()
    return peak, car


def measure(hass: HomeAssistant) -> float:
    """Set the meters from what the car takes now; return the grid import."""
    car = 0.0
    if hass.states.get(ENABLE).state == "on":
        car = (
            float(hass.states.get(CURRENT).state)
            * 230
            * int(hass.states.get(PHASES).state)
        )
    grid = HOUSE_W + car  # the battery is at its floor: it gives nothing
    report_meters(hass, grid, car)
    return grid


async def minute(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entries: tuple[MockConfigEntry, MockConfigEntry],
) -> float:
    """Let a minute pass; peak shaving steps, then the wallbox manager."""
    freezer.tick(timedelta(minutes=1))
    measure(hass)
    for entry in entries:
        await entry.runtime_data.coordinator.async_refresh()
        await hass.async_block_till_done()
    return measure(hass)


async def load_all(hass: HomeAssistant, entries: Iterable[MockConfigEntry]) -> None:
    """Add the entries and set each up, in their order."""
    for entry in entries:
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()


async def charge_fast(
    hass: HomeAssistant, car: MockConfigEntry, *, above_peak_limit: bool = False
) -> None:
    """Start a fast session, sent through the billed peak or not."""
    data: dict[str, Any] = {"config_entry_id": car.entry_id, "mode": "fast"}
    if above_peak_limit:
        data["above_peak_limit"] = True
    await hass.services.async_call(DOMAIN, "start_charging", data, blocking=True)


__all__ = ["wallbox"]  # the wallbox fixture, shared


async def test_a_fast_car_stays_under_the_billed_peak_unless_sent_through(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    site_entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    """The wallbox takes the room peak shaving leaves; a session may be sent through."""
    freezer.move_to(T0)
    measure(hass)
    peak, car = site_entries
    await load_all(hass, site_entries)
    await charge_fast(hass, car)
    imports = [await minute(hass, freezer, site_entries) for _ in range(6)]
    headroom = async_site_headroom(hass, freezer.time_to_freeze.replace(tzinfo=UTC))
    assert headroom is not None
    assert headroom.source == "Peak shaving"
    # 16 A on three phases would import 15 kW; the car takes 9 kW less the house.
    assert max(imports[1:]) <= LIMIT_W
    assert float(hass.states.get(CURRENT).state) == 7  # floor(5000 / 690)
    assert hass.states.get(STATE).attributes["reason"] == "peak_limit"

    await charge_fast(hass, car, above_peak_limit=True)
    await minute(hass, freezer, site_entries)
    assert float(hass.states.get(CURRENT).state) == 16
    assert hass.states.get(STATE).attributes["reason"] == "fast"

    # Peak shaving gone: nothing holds the car back, nor is anything posted.
    assert await hass.config_entries.async_unload(peak.entry_id)
    assert async_site_headroom(hass, freezer.time_to_freeze.replace(tzinfo=UTC)) is None


async def test_a_session_sent_through_the_peak_stays_under_the_connection(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    wallbox: None,
) -> None:
    """The grid connection's limit is safety: a session sent through the peak keeps it.

    Peak shaving bills 9 kW, the connection carries 12 kW and the house
    draws 4 kW over an empty battery: a fast car sent through the peak
    takes 8 kW (11 A on three phases), not the wallbox's 16 A.
    """
    await async_setup_setpoint(hass)
    entries = (
        peak_shaving_entry(LIMIT_W, connection_limit_w=12000),
        wallbox_manager_entry(),
    )
    freezer.move_to(T0)
    measure(hass)
    await load_all(hass, entries)
    await charge_fast(hass, entries[1], above_peak_limit=True)
    imports = [await minute(hass, freezer, entries) for _ in range(4)]
    assert max(imports) <= 12000
    assert float(hass.states.get(CURRENT).state) == 11  # floor(8000 / 690)
    assert hass.states.get(STATE).attributes["reason"] == "grid_limit"
    connection = hass.states.get("sensor.peak_shaving_connection_headroom")
    assert float(connection.state) == pytest.approx(12000 - 4000 - 11 * 690)
    site = async_site_headroom(hass, freezer.time_to_freeze.replace(tzinfo=UTC))
    assert site is not None
    assert site.connection_w == pytest.approx(12000 - 4000 - 11 * 690)


async def test_room_one_controller_took_is_not_given_to_another(
    hass: HomeAssistant,
) -> None:
    """The car and the loads share the room: each sees it less what the other took."""
    post = SiteHeadroom(at=T0, source="Peak shaving", grid_w=3000.0, phase_w=1500.0)
    async_post_headroom(hass, "peak", post)

    def room(seconds: float, taker: str) -> tuple[float | None, float | None]:
        headroom = async_site_headroom(hass, T0 + timedelta(seconds=seconds), taker)
        assert headroom is not None
        return headroom.grid_w, headroom.phase_w

    async_take_headroom(
        hass, TakenHeadroom(at=T0, taker="loads", grid_w=2000.0, phase_w=2000.0)
    )
    assert room(5, "car") == (1000.0, -500.0)
    # Its own take is in the meter's next reading already, as far as it knows.
    assert room(5, "loads") == (3000.0, 1500.0)
    # Taking the same room again at its next step counts it once.
    async_take_headroom(
        hass,
        TakenHeadroom(
            at=T0 + timedelta(seconds=10), taker="loads", grid_w=2000.0, phase_w=2000.0
        ),
    )
    assert room(12, "car") == (1000.0, -500.0)
    # Half a minute on, the meter and peak shaving's posts show the rise.
    async_post_headroom(
        hass, "peak", SiteHeadroom(at=T0 + timedelta(seconds=40), **_room(1000.0))
    )
    assert room(41, "car") == (1000.0, 1500.0)


def _room(grid_w: float) -> dict[str, Any]:
    """Return a peak shaver's post's fields but its time."""
    return {"source": "Peak shaving", "grid_w": grid_w, "phase_w": 1500.0}


async def test_the_car_gets_only_the_room_the_loads_left(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    site_entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    """A load that started between peak shaving's step and the car's keeps its room."""
    freezer.move_to(T0)
    measure(hass)
    peak, car = site_entries
    await load_all(hass, site_entries)
    await charge_fast(hass, car)
    for _ in range(3):
        await minute(hass, freezer, site_entries)
    assert float(hass.states.get(CURRENT).state) == 7  # floor(5000 / 690)
    freezer.tick(timedelta(minutes=1))
    measure(hass)
    await peak.runtime_data.coordinator.async_refresh()
    now = freezer.time_to_freeze.replace(tzinfo=UTC)
    # A 700 W load goes on: 7 A on three phases no longer fits, 6 A does.
    async_take_headroom(
        hass, TakenHeadroom(at=now, taker="loads", grid_w=700.0, phase_w=700.0)
    )
    await car.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert float(hass.states.get(CURRENT).state) == 6
    assert hass.states.get(STATE).attributes["reason"] == "peak_limit"
